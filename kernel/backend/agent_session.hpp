#pragma once
// The backend side of one agent session (PROTOCOL.md §2-§5): hello timeout, frame
// verification, the replay check, the session lease, and routing of acks, results and
// telemetry to the capability plugins. net/ owns the socket; this owns the protocol.
//
// Threading: net/ calls the handler on the connection's strand. Plugin completions
// arrive on any thread and hop back onto that strand through Connection::post(), so
// the session state needs no lock (except the open/close hand-off, see the .cpp).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <agenthost/audit.hpp>
#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/queue.hpp>
#include <agenthost/capabilities/replay.hpp>
#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/logger.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/scheduler.hpp>

#include "kernel/backend/renewal_ticker.hpp"
#include "kernel/backend/session_registry.hpp"
#include "kernel/crypto/keyring.hpp"
#include "kernel/net/connection.hpp"

namespace agenthost::backend {

struct SessionConfig {
    std::string host_id;
    std::size_t max_frame_bytes = 1 << 20;
    std::int64_t max_skew_ms = 30'000;
    std::int64_t replay_window_ms = 60'000;
    std::size_t max_batch_points = 1000;
    std::int64_t heartbeat_s = 30;
    std::chrono::milliseconds hello_timeout{10'000};
    std::chrono::milliseconds lease{90'000};
    // Frames received but not yet through the replay check; more → close 1013.
    std::size_t max_pending_frames = 256;
    // Commands out on this session without a result (InflightGate); more wait.
    std::size_t max_in_flight = 32;
};

// How long after a lease renewal a session renews again (on its next activity): half
// a heartbeat, so every heartbeat renews the lease (PROTOCOL.md §3).
std::chrono::milliseconds renew_interval(std::int64_t heartbeat_s);

// Everything a session uses. Owned by the backend app (or a test); must outlive
// every session and every pending plugin completion.
struct SessionEnv {
    SessionConfig config;
    const crypto::Keyring* keys = nullptr;
    sdk::IdentityStore* identity = nullptr;
    sdk::ReplayCache* replay = nullptr;
    sdk::CommandQueue* queue = nullptr;
    sdk::TelemetryStore* telemetry = nullptr;
    sdk::AuditSink* audit = nullptr;
    sdk::Scheduler* scheduler = nullptr;
    sdk::Clock* clock = nullptr;
    sdk::Logger* logger = nullptr;
    sdk::Metrics* metrics = nullptr;  // optional
    SessionRegistry* registry = nullptr;
    // Optional: due lease renewals go out together once per tick; null → each goes to
    // the identity store as soon as it is due.
    RenewalTicker* renewals = nullptr;
    // Fail-closed auditing: asked before a session opens and before a command is
    // dispatched; false → the hello is refused (1013) / the delivery is declined.
    // Empty: always true.
    std::function<bool(std::string_view action)> can_audit;
};

// Creates the handler for one agent connection.
std::unique_ptr<net::ConnectionHandler> make_agent_session(std::shared_ptr<const SessionEnv> env,
                                                           const net::PeerInfo& peer);

// The factory handed to net::AgentServer.
net::HandlerFactory agent_session_factory(std::shared_ptr<const SessionEnv> env);

}  // namespace agenthost::backend
