#pragma once
// systemd service notification (sd_notify(3)) without libsystemd: one datagram per
// state change to the AF_UNIX socket named by $NOTIFY_SOCKET ("@name" = abstract
// namespace). Without $NOTIFY_SOCKET (not started by systemd) every call is a no-op.
//
//   READY=1 / STATUS=...         once every listener serves
//   RELOADING=1 + MONOTONIC_USEC  on SIGHUP, then READY=1 when the reload finished
//   STOPPING=1                    when the drain begins
//   WATCHDOG=1                    every WATCHDOG_USEC/2, sent *from the event loop*:
//                                 a stuck loop stops the pings and systemd restarts us
//
// Threading: send() may be called from any thread (one sendto per message).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <agenthost/scheduler.hpp>

namespace agenthost::runtime {

class SdNotifier {
public:
    // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID once.
    SdNotifier();
    ~SdNotifier();
    SdNotifier(const SdNotifier&) = delete;
    SdNotifier& operator=(const SdNotifier&) = delete;

    bool enabled() const noexcept { return !socket_path_.empty(); }
    // The watchdog period systemd expects (WATCHDOG_USEC), when it applies to us.
    std::optional<std::chrono::microseconds> watchdog_period() const noexcept;

    // Sends `state` ("KEY=VALUE\n..."); false when not enabled or the send failed.
    bool send(std::string_view state) const;
    bool ready(std::string_view status);
    bool reloading();  // RELOADING=1 with MONOTONIC_USEC (systemd >= 253 wants both)
    bool stopping(std::string_view status);
    bool status(std::string_view status);

    // Starts WATCHDOG=1 pings at half the period on `scheduler`'s loop threads; a
    // no-op without WATCHDOG_USEC. stop_watchdog() (or the destructor) ends them.
    void start_watchdog(sdk::Scheduler& scheduler);
    void stop_watchdog();

private:
    struct Pinger;
    std::string socket_path_;  // as in the environment ("@..." for abstract)
    std::optional<std::chrono::microseconds> watchdog_;
    std::shared_ptr<Pinger> pinger_;
};

}  // namespace agenthost::runtime
