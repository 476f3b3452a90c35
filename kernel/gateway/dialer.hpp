#pragma once
// Keeps one backend session up: dial (net::WsClient), and after a failed attempt or
// a closed session wait a full-jitter backoff and dial again, logging the reason
// (e.g. "backend key pin mismatch ..."). Backoff restarts after a welcome.
// Threading: callbacks on loop threads; start/stop from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <agenthost/sdk.hpp>

#include "kernel/gateway/backoff.hpp"
#include "kernel/gateway/uplink.hpp"
#include "kernel/net/connection.hpp"

namespace agenthost::runtime {
class Runtime;
}
namespace agenthost::net {
class TlsContext;
}

namespace agenthost::gateway {

struct DialerOptions {
    std::string url;
    std::shared_ptr<net::TlsContext> tls;
    net::SessionLimits limits;
    std::chrono::milliseconds initial{500};
    std::chrono::milliseconds max{30'000};
};

class Dialer {
public:
    Dialer(runtime::Runtime& rt, Uplink& uplink, DialerOptions options, sdk::Logger& logger);
    ~Dialer();

    void start();
    // No more attempts; closes the live session with `code` (1000 or 1001).
    void stop(std::uint16_t code);
    // True once stopped and no session is open.
    bool finished() const;
    // Config reload (pins, CA, client certificate): the next dial uses `tls`; a live
    // session keeps the context it was established with.
    void set_tls(std::shared_ptr<net::TlsContext> tls);

private:
    void attempt();
    void retry(const std::string& why);

    runtime::Runtime& rt_;
    Uplink& uplink_;
    DialerOptions options_;
    sdk::Logger& logger_;
    sdk::Counter& reconnects_;
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace agenthost::gateway
