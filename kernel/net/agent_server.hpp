#pragma once
// The backend's agent listener (PROTOCOL.md §1): TCP accept → mutual TLS → HTTP
// upgrade checks (path 404, subprotocol 400, certificate identity 403) → WebSocket
// session handed to a ConnectionHandler from the factory. Owns admission control
// (connection cap) and graceful drain (close 1001).
//
// Threading: every method may be called from any thread. The server's internals are
// shared with its sessions, so destroying the AgentServer stops accepting and drops
// the remaining sessions without waiting (call drain() first for a graceful stop).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <agenthost/status.hpp>

#include "kernel/net/connection.hpp"
#include "kernel/net/endpoint.hpp"
#include "kernel/net/tls.hpp"

namespace agenthost::runtime {
class Runtime;
}

namespace agenthost::net {

// Admission control applied at accept, before any TLS work (DESIGN.md: reconnect
// storms), except the memory watermark, which answers with a WebSocket close 1013 and
// so needs the upgrade. Each refusal is counted in
// agenthost_connections_rejected_total{reason}.
struct AdmissionLimits {
    std::size_t max_per_ip = 1000;      // connections at once from one address
    double handshake_rate = 100;        // accepted connections per second; 0: off
    double handshake_burst = 200;       // token bucket size
    std::uint64_t memory_watermark = 0;  // RSS bytes above which sessions get 1013; 0: off
};

// A mutual-TLS handshake the listener refused (docs/audit.md, tls.refused). Reported
// before any identity exists, so everything here comes from an unauthenticated peer.
struct TlsRefusal {
    std::string remote_ip;  // without the port
    // no_client_certificate: the peer sent none; certificate_rejected: it sent one that
    // failed verification; handshake_timeout; protocol_error: anything else (not TLS,
    // version or cipher mismatch, an alert, a connection closed mid-handshake).
    const char* reason = "";
    // certificate_rejected: OpenSSL's verify error ("certificate has expired");
    // protocol_error: the TLS error text; otherwise empty. Peer-influenced: whoever
    // records it bounds it (TlsRefusalAudit keeps 160 bytes).
    std::string detail;
};
// Runs on a loop thread, once per refused handshake: it must not block.
using TlsRefusalHook = std::function<void(const TlsRefusal&)>;

class AgentServer {
public:
    // `tls` must be a server context with a client CA (mutual TLS). `identity_binding`
    // is "cn" or "uri_san". New connections beyond `max_connections` (pending
    // handshakes included) are closed right after accept and counted.
    AgentServer(runtime::Runtime& runtime, Endpoint endpoint, std::shared_ptr<TlsContext> tls,
                SessionLimits limits, std::string identity_binding, HandlerFactory factory,
                std::size_t max_connections = 10000);
    ~AgentServer();
    AgentServer(const AgentServer&) = delete;
    AgentServer& operator=(const AgentServer&) = delete;

    // Binds and starts accepting. Fails (Errc::unavailable) if the address cannot be
    // bound.
    sdk::Status start();
    // The bound port (useful with port 0); 0 before start().
    std::uint16_t port() const;
    // Certificate reload: new handshakes use `tls`; live sessions keep theirs.
    void set_tls(std::shared_ptr<TlsContext> tls);
    // Config reload: new connections get `limits`; live sessions keep theirs. The cap
    // applies to the next accept.
    void set_limits(SessionLimits limits, std::size_t max_connections);
    // Stops accepting, closes every session with 1001 (after its queued writes) and
    // aborts pending handshakes; `done` runs once all sessions have ended or after
    // `timeout`, whichever comes first (then the rest are dropped). Runs `done` on a
    // loop thread.
    void drain(std::function<void()> done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Admission limits for the next accepts (default: AdmissionLimits{}).
    void set_admission(AdmissionLimits admission);
    // Called for each TLS handshake that fails (not for those aborted by drain or
    // teardown); none by default. Set it before start() (it is read without a lock
    // afterwards); it is not replaced on reload.
    void set_tls_refusal_hook(TlsRefusalHook hook);
    // Established WebSocket sessions right now.
    std::size_t session_count() const;
    // Pending handshakes + sessions (what max_connections caps).
    std::size_t active_count() const;
    // The context new handshakes use (certificate expiry checks).
    std::shared_ptr<TlsContext> tls() const;
    // Connections refused by the cap since start.
    std::uint64_t refused_count() const;

    struct State;  // internal, shared with the sessions

private:
    std::shared_ptr<State> state_;
};

}  // namespace agenthost::net
