// sd_notify(3) over the NOTIFY_SOCKET datagram protocol (no libsystemd needed) and
// the loop-driven watchdog ping.
#include "kernel/runtime/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>

namespace agenthost::runtime {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string();
}

std::uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

struct SdNotifier::Pinger {
    std::mutex mu;
    sdk::Scheduler* scheduler = nullptr;
    sdk::TimerId timer = 0;
    bool stopped = false;
};

SdNotifier::SdNotifier() {
    socket_path_ = env("NOTIFY_SOCKET");
    // Only "/path" and "@abstract" are unix sockets; anything else (vsock) is not ours.
    if (!socket_path_.empty() && socket_path_[0] != '/' && socket_path_[0] != '@') {
        socket_path_.clear();
    }
    const std::string usec = env("WATCHDOG_USEC");
    const std::string pid = env("WATCHDOG_PID");
    // WATCHDOG_PID set to another process means the watchdog is not meant for us.
    const bool for_us = pid.empty() || std::strtoll(pid.c_str(), nullptr, 10) == getpid();
    if (!usec.empty() && for_us) {
        char* end = nullptr;
        const long long v = std::strtoll(usec.c_str(), &end, 10);
        if (end != nullptr && *end == '\0' && v > 0) {
            watchdog_ = std::chrono::microseconds(v);
        }
    }
}

SdNotifier::~SdNotifier() {
    stop_watchdog();
}

std::optional<std::chrono::microseconds> SdNotifier::watchdog_period() const noexcept {
    return watchdog_;
}

bool SdNotifier::send(std::string_view state) const {
    if (socket_path_.empty()) {
        return false;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path_.size() >= sizeof(addr.sun_path)) {
        return false;
    }
    std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
    if (socket_path_[0] == '@') {
        addr.sun_path[0] = '\0';  // abstract namespace: no trailing NUL counted
    } else {
        len += 1;
    }
    // Non-blocking: a reader that falls behind (its queue is full) costs a dropped
    // message, never a blocked event loop.
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return false;
    }
    ssize_t n = 0;
    do {
        n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                     reinterpret_cast<const sockaddr*>(&addr), len);
    } while (n < 0 && errno == EINTR);
    ::close(fd);
    return n == static_cast<ssize_t>(state.size());
}

bool SdNotifier::ready(std::string_view status) {
    return send("READY=1\nSTATUS=" + std::string(status));
}

bool SdNotifier::reloading() {
    return send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()) +
                "\nSTATUS=reloading configuration");
}

bool SdNotifier::stopping(std::string_view status) {
    return send("STOPPING=1\nSTATUS=" + std::string(status));
}

bool SdNotifier::status(std::string_view status) {
    return send("STATUS=" + std::string(status));
}

void SdNotifier::start_watchdog(sdk::Scheduler& scheduler) {
    if (!enabled() || !watchdog_ || pinger_) {
        return;
    }
    pinger_ = std::make_shared<Pinger>();
    pinger_->scheduler = &scheduler;
    const auto half =
        std::max(std::chrono::milliseconds(1),
                 std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog_ / 2));
    // Each ping runs on a loop thread and schedules the next one, so the pings stop
    // exactly when the loop stops turning.
    auto tick = std::make_shared<std::function<void()>>();
    std::weak_ptr<std::function<void()>> weak_tick = tick;
    *tick = [this, p = pinger_, half, weak_tick] {
        std::lock_guard lock(p->mu);
        if (p->stopped) {
            return;
        }
        send("WATCHDOG=1");
        if (auto t = weak_tick.lock()) {
            p->timer = p->scheduler->schedule(half, [t] { (*t)(); });
        }
    };
    std::lock_guard lock(pinger_->mu);
    pinger_->timer = scheduler.schedule(std::chrono::milliseconds(0), [tick] { (*tick)(); });
}

void SdNotifier::stop_watchdog() {
    if (!pinger_) {
        return;
    }
    std::lock_guard lock(pinger_->mu);
    pinger_->stopped = true;
    if (pinger_->timer != 0) {
        pinger_->scheduler->cancel(pinger_->timer);
        pinger_->timer = 0;
    }
}

}  // namespace agenthost::runtime
