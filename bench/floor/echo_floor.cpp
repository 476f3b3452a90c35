// echo_floor: the transport floor under the message_round_trips benchmark. A minimal
// echo over plain TCP or mutual TLS 1.3 (OpenSSL) on edge-triggered epoll, with no
// WebSocket framing, no JSON and no HMAC, so bench/perf can show what the sockets and
// the TLS records alone cost beside agenthost and Node.js (docs/PERFORMANCE.md).
//
// The client keeps one message in flight per connection: send `--payload` bytes, wait
// until all of them came back (and match), count a round trip, send again. It prints
// one JSON object with the rate over the measured window. Exit status: 0 after a
// completed run (the server: after SIGINT/SIGTERM), 1 when the run failed, 2 on a
// usage error.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/floor/conn.hpp"
#include "bench/floor/loop.hpp"
#include "bench/floor/options.hpp"

namespace echo_floor {
namespace {

sockaddr_in ipv4(const std::string& host, unsigned port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
        throw UsageError("--host " + host + " is not an IPv4 address");
    }
    return a;
}

struct Threads {
    std::vector<std::unique_ptr<Loop>> loops;
    std::vector<std::thread> threads;
    int stop_fd = -1;

    Threads(const Options& o, const std::string& payload)
        : stop_fd(::eventfd(0, EFD_CLOEXEC)) {
        if (stop_fd < 0) {
            throw std::runtime_error(errno_text("eventfd"));
        }
        for (unsigned i = 0; i < o.threads; ++i) {
            loops.push_back(std::make_unique<Loop>(o, payload, stop_fd));
        }
    }
    void start() {
        for (auto& l : loops) {
            threads.emplace_back([loop = l.get()] { loop->run(); });
        }
    }
    ~Threads() {
        std::uint64_t one = 1;
        if (::write(stop_fd, &one, sizeof one) != sizeof one) {
            std::perror("echo_floor: stop");
        }
        for (auto& t : threads) {
            t.join();
        }
        loops.clear();
        ::close(stop_fd);
    }
};

int run_server(const Options& o) {
    SslCtx ctx(nullptr, &SSL_CTX_free);
    if (o.tls()) {
        ctx = make_tls_context(o);
    }
    // SIGINT/SIGTERM arrive on a signalfd; the loop threads inherit the blocked mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    int sig_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sig_fd < 0 || lfd < 0) {
        throw std::runtime_error(errno_text("socket/signalfd"));
    }
    int one = 1;
    sockaddr_in addr = ipv4(o.host, o.port);
    socklen_t len = sizeof addr;
    if (::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(lfd, 4096) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error(errno_text("listen on port " + std::to_string(o.port)));
    }
    Threads pool(o, std::string());
    pool.start();
    std::printf("listening %u\n", static_cast<unsigned>(ntohs(addr.sin_port)));
    std::fflush(stdout);
    // This thread accepts and runs each handshake (blocking), then hands the connection
    // to the loops round robin. Set-up is not measured; the echo is.
    std::size_t next = 0;
    pollfd fds[2] = {{lfd, POLLIN, 0}, {sig_fd, POLLIN, 0}};
    while (::poll(fds, 2, -1) >= 0 || errno == EINTR) {
        if (fds[1].revents != 0) {
            break;
        }
        if (fds[0].revents == 0) {
            continue;
        }
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR) {
                std::fprintf(stderr, "echo_floor: accept: %s\n", std::strerror(errno));
            }
            continue;
        }
        auto c = std::make_unique<Conn>(fd);
        try {
            set_socket_options(fd);
            if (ctx) {
                tls_handshake(ctx.get(), *c, o);
            }
            set_nonblocking(fd);
        } catch (const std::runtime_error& e) {
            std::fprintf(stderr, "echo_floor: dropping a client: %s\n", e.what());
            continue;
        }
        pool.loops[next++ % pool.loops.size()]->adopt(std::move(c));
    }
    ::close(lfd);
    ::close(sig_fd);
    return 0;
}

void write_status(const std::string& path, double elapsed_s, std::uint64_t round_trips) {
    std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
        throw std::runtime_error(errno_text("cannot write " + tmp));
    }
    std::fprintf(f, "{\"elapsed_s\": %.3f, \"round_trips\": %llu}\n", elapsed_s,
                 static_cast<unsigned long long>(round_trips));
    bool ok = std::fclose(f) == 0;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        throw std::runtime_error(errno_text("cannot write " + path));
    }
}

int run_client(const Options& o) {
    SslCtx ctx(nullptr, &SSL_CTX_free);
    if (o.tls()) {
        ctx = make_tls_context(o);
    }
    std::string payload(o.payload, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<char>('a' + i % 26);
    }
    const sockaddr_in addr = ipv4(o.host, o.port);
    Threads pool(o, payload);
    for (unsigned i = 0; i < o.connections; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw std::runtime_error(errno_text("socket"));
        }
        auto c = std::make_unique<Conn>(fd);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error(
                errno_text("connect to " + o.host + ":" + std::to_string(o.port)));
        }
        set_socket_options(fd);
        if (ctx) {
            tls_handshake(ctx.get(), *c, o);
        }
        set_nonblocking(fd);
        pool.loops[i % pool.loops.size()]->adopt(std::move(c));
    }

    using Clock = std::chrono::steady_clock;
    auto total = [&] {
        std::uint64_t n = 0;
        for (auto& l : pool.loops) {
            n += l->round_trips();
        }
        return n;
    };
    const auto t0 = Clock::now();
    auto at = [&](double s) {
        return t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };
    pool.start();
    // Wakes every second for the status file, and exactly at the window's two edges.
    std::uint64_t start_count = 0;
    Clock::time_point start_time;
    bool measuring = false;
    for (double tick = 0;;) {
        double edge = measuring ? o.warmup_s + o.duration_s : o.warmup_s;
        double wake = std::min(tick + 1.0, edge);
        std::this_thread::sleep_until(at(wake));
        for (auto& l : pool.loops) {
            if (l->failed()) {
                throw std::runtime_error(l->failure());
            }
        }
        const std::uint64_t now = total();
        const auto now_time = Clock::now();
        if (!o.status_file.empty()) {
            write_status(o.status_file, std::chrono::duration<double>(now_time - t0).count(),
                         now);
        }
        tick = wake;
        if (wake < edge) {
            continue;
        }
        if (measuring) {
            const double seconds = std::chrono::duration<double>(now_time - start_time).count();
            const std::uint64_t n = now - start_count;
            std::printf("{\"mode\": \"%s\", \"connections\": %u, \"threads\": %u, "
                        "\"payload_bytes\": %zu, \"warmup_s\": %.3f, \"seconds\": %.3f, "
                        "\"round_trips\": %llu, \"rate\": %.1f}\n",
                        o.tls() ? "mtls" : "tcp", o.connections, o.threads, o.payload,
                        o.warmup_s, seconds, static_cast<unsigned long long>(n),
                        static_cast<double>(n) / seconds);
            std::fflush(stdout);
            return 0;
        }
        start_count = now;
        start_time = now_time;
        measuring = true;
    }
}

}  // namespace
}  // namespace echo_floor

int main(int argc, char** argv) {
    using namespace echo_floor;
    Options o;
    try {
        o = parse_options(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "echo_floor: %s\n\n%s", e.what(), usage_text);
        return 2;
    }
    try {
        return o.server ? run_server(o) : run_client(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_floor: %s\n", e.what());
        return 1;
    }
}
