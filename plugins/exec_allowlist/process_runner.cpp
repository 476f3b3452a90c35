#include "process_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace agenthost::plugins::exec_allowlist {

using sdk::CommandState;
using sdk::ExecResult;
using Steady = std::chrono::steady_clock;

namespace {

// How long the pipe may stay open after the leader exited (an escaped process
// holding it, e.g. one that called setsid) before we stop reading.
constexpr std::chrono::milliseconds kPipeGrace{2000};
// Poll period for children without a pidfd (old kernels).
constexpr int kFallbackPollMs = 50;

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    return -1;
#endif
}

void close_fd(int& fd) noexcept {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

}  // namespace

enum class KillReason { none, timeout, cancel };

struct ProcessRunner::Child {
    SpawnRequest req;
    pid_t pid = -1;
    int pidfd = -1;
    int out = -1;
    std::string output;
    bool truncated = false;
    bool exited = false;
    int wait_status = 0;
    KillReason killed = KillReason::none;
    Steady::time_point deadline;
    Steady::time_point pipe_deadline;
    std::int64_t started_ms = 0;
};

ProcessRunner::ProcessRunner(const sdk::Clock& clock) : clock_(clock) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
        wake_rd_ = fds[0];
        wake_wr_ = fds[1];
    }
    thread_ = std::thread([this] { loop(); });
}

ProcessRunner::~ProcessRunner() {
    stop();
    close_fd(wake_rd_);
    close_fd(wake_wr_);
}

void ProcessRunner::wake() noexcept {
    const char b = 1;
    [[maybe_unused]] auto n = ::write(wake_wr_, &b, 1);  // full pipe: a wake is pending anyway
}

void ProcessRunner::run(SpawnRequest request) {
    {
        std::lock_guard lk(mu_);
        if (stopping_) {
            return;
        }
        ++active_;
        spawns_.push_back(std::move(request));
    }
    wake();
}

void ProcessRunner::cancel(std::string_view id) {
    {
        std::lock_guard lk(mu_);
        cancels_.emplace_back(id);
    }
    wake();
}

std::size_t ProcessRunner::active() const {
    std::lock_guard lk(mu_);
    return active_;
}

void ProcessRunner::stop() noexcept {
    {
        std::lock_guard lk(mu_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    wake();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void ProcessRunner::spawn(SpawnRequest& request) {
    auto child = std::make_unique<Child>();
    child->started_ms = clock_.now_unix_ms();
    child->deadline = Steady::now() + request.timeout;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        ExecResult r;
        r.status = CommandState::failed;
        r.output = std::string("pipe: ") + std::strerror(errno);
        r.started_ms = r.finished_ms = child->started_ms;
        request.done(std::move(r));
        std::lock_guard lk(mu_);
        --active_;
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addchdir_np(&fa, "/");
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // New process group (pgid = pid) so a kill reaches everything the command starts;
    // an empty mask and default dispositions because the gateway blocks/ignores some.
    sigset_t empty;
    sigemptyset(&empty);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
        sigaddset(&defaults, s);
    }
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);

    std::vector<char*> argv;
    for (auto& a : request.argv) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : request.env) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        ExecResult r;
        r.status = CommandState::failed;
        r.output = "spawn " + request.argv[0] + ": " + std::strerror(rc);
        r.started_ms = child->started_ms;
        r.finished_ms = clock_.now_unix_ms();
        request.done(std::move(r));
        std::lock_guard lk(mu_);
        --active_;
        return;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    child->pid = pid;
    child->out = fds[0];
    child->pidfd = open_pidfd(pid);
    child->req = std::move(request);
    const std::string id = child->req.id;
    children_[id] = std::move(child);
}

void ProcessRunner::drain_inbox() {
    std::deque<SpawnRequest> spawns;
    std::vector<std::string> cancels;
    {
        std::lock_guard lk(mu_);
        spawns.swap(spawns_);
        cancels.swap(cancels_);
    }
    char buf[64];
    while (::read(wake_rd_, buf, sizeof buf) > 0) {
    }
    for (auto& s : spawns) {
        spawn(s);
    }
    for (const auto& id : cancels) {
        auto it = children_.find(id);
        if (it != children_.end() && !it->second->exited &&
            it->second->killed == KillReason::none) {
            it->second->killed = KillReason::cancel;
            ::kill(-it->second->pid, SIGKILL);
        }
    }
}

void ProcessRunner::pump(Child& c, bool pid_ready) {
    if (c.out >= 0) {
        char buf[16384];
        for (;;) {
            const ssize_t n = ::read(c.out, buf, sizeof buf);
            if (n > 0) {
                const std::size_t room =
                    c.output.size() < c.req.output_cap ? c.req.output_cap - c.output.size() : 0;
                c.output.append(buf, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
                if (static_cast<std::size_t>(n) > room) {
                    c.truncated = true;  // keep draining so the child never blocks on write
                }
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                close_fd(c.out);
            }
            break;
        }
    }
    if (!c.exited && (pid_ready || c.pidfd < 0)) {
        siginfo_t info{};
        // WNOWAIT leaves the leader a zombie, so its pgid cannot be reused while we
        // kill what it left in its group.
        if (waitid(P_PID, static_cast<id_t>(c.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            info.si_pid == c.pid) {
            ::kill(-c.pid, SIGKILL);
            waitpid(c.pid, &c.wait_status, 0);
            c.exited = true;
            c.pipe_deadline = Steady::now() + kPipeGrace;
            close_fd(c.pidfd);
        }
    }
    const auto now = Steady::now();
    if (!c.exited && c.killed == KillReason::none && now >= c.deadline) {
        c.killed = KillReason::timeout;
        ::kill(-c.pid, SIGKILL);
    }
    if (c.exited && c.out >= 0 && now >= c.pipe_deadline) {
        close_fd(c.out);
    }
}

void ProcessRunner::complete(Child& c) {
    ExecResult r;
    r.started_ms = c.started_ms;
    r.finished_ms = clock_.now_unix_ms();
    r.output = std::move(c.output);
    r.truncated = c.truncated;
    if (c.killed == KillReason::timeout) {
        r.status = CommandState::timed_out;
    } else if (c.killed == KillReason::cancel) {
        r.status = CommandState::failed;
    } else if (WIFEXITED(c.wait_status)) {
        r.exit_code = WEXITSTATUS(c.wait_status);
        r.status = *r.exit_code == 0 ? CommandState::succeeded : CommandState::failed;
    } else {
        r.status = CommandState::failed;  // killed by a signal: exit_code stays null
    }
    auto done = std::move(c.req.done);
    done(std::move(r));
}

void ProcessRunner::loop() {
    for (;;) {
        drain_inbox();
        bool stopping = false;
        {
            std::lock_guard lk(mu_);
            stopping = stopping_;
        }
        if (stopping) {
            for (auto& [id, c] : children_) {
                if (!c->exited) {
                    ::kill(-c->pid, SIGKILL);
                    waitpid(c->pid, nullptr, 0);
                }
                close_fd(c->out);
                close_fd(c->pidfd);
            }
            children_.clear();
            return;
        }
        std::vector<pollfd> fds{{wake_rd_, POLLIN, 0}};
        int timeout_ms = -1;
        const auto now = Steady::now();
        auto bound = [&](Steady::time_point t) {
            const auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();
            const int v = static_cast<int>(std::max<std::int64_t>(0, ms));
            timeout_ms = timeout_ms < 0 ? v : std::min(timeout_ms, v);
        };
        for (auto& [id, c] : children_) {
            if (c->out >= 0) {
                fds.push_back({c->out, POLLIN, 0});
            }
            if (!c->exited && c->pidfd >= 0) {
                fds.push_back({c->pidfd, POLLIN, 0});
            }
            if (!c->exited && c->pidfd < 0) {
                bound(now + std::chrono::milliseconds(kFallbackPollMs));
            }
            bound(c->exited ? c->pipe_deadline : c->deadline);
        }
        ::poll(fds.data(), fds.size(), timeout_ms);
        for (auto it = children_.begin(); it != children_.end();) {
            Child& c = *it->second;
            bool pid_ready = false;
            for (const auto& p : fds) {
                if (p.fd == c.pidfd && p.fd >= 0 && p.revents != 0) {
                    pid_ready = true;
                }
            }
            pump(c, pid_ready);
            if (c.exited && c.out < 0) {
                {
                    // Before the completion: whoever it wakes sees the count settled.
                    std::lock_guard lk(mu_);
                    --active_;
                }
                complete(c);
                it = children_.erase(it);
            } else {
                ++it;
            }
        }
    }
}

}  // namespace agenthost::plugins::exec_allowlist
