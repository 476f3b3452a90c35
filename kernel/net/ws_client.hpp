#pragma once
// The gateway's side of the agent protocol transport (PROTOCOL.md §1): resolve, TCP
// connect, TLS with SNI + hostname verification + SPKI pin check, WebSocket upgrade
// requiring the agenthost.v1 subprotocol, then the same Connection semantics as
// the server's sessions (read loop, bounded write queue, pings, idle drop).

#include <functional>
#include <memory>
#include <string>

#include <agenthost/status.hpp>

#include "kernel/net/connection.hpp"
#include "kernel/net/tls.hpp"

namespace agenthost::runtime {
class Runtime;
}

namespace agenthost::net {

class WsClient {
public:
    // Starts one connection attempt and returns at once. Exactly one of these happens:
    // `handler->on_open` (then on_close later), or `on_connect_failed` with a Status
    // whose message says what failed (e.g. "backend key pin mismatch: presented
    // sha256/... not in pin set", "upgrade refused: HTTP 404"). The whole attempt is
    // bounded by limits.handshake_timeout. `tls` must be a client context
    // (TlsContext::make_client). Callbacks run on a loop thread; the caller
    // reconnects (with backoff) from on_close / on_connect_failed.
    static void connect(runtime::Runtime& runtime, std::string url, std::shared_ptr<TlsContext> tls,
                        SessionLimits limits, std::unique_ptr<ConnectionHandler> handler,
                        std::function<void(sdk::Status)> on_connect_failed);

    struct Url {
        std::string host;  // without brackets for IPv6
        std::string port;
        std::string target;  // path + query
    };
    // wss://host[:port]/path; nullopt-like error for anything else.
    static sdk::Result<Url> parse_url(const std::string& url);
};

}  // namespace agenthost::net
