#pragma once
// The gateway's side of one backend session at a time (PROTOCOL.md §3): sends the
// signed hello, verifies every backend frame (proto::verify, then the nonce check
// through the "replay" capability, or a local bounded nonce memory without one),
// acks and hands commands to the executor, and streams the spool (results and
// telemetry, oldest first, at most `send_window` unacked per session) once
// welcomed. Acks drop items from the spool. Nothing is sent before `welcome`.
//
// Threading: handler callbacks run on the connection's strand; spool_changed() and
// close() may be called from any thread. One mutex guards the session state.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include <agenthost/sdk.hpp>

#include "kernel/crypto/keyring.hpp"
#include "kernel/gateway/store.hpp"
#include "kernel/net/connection.hpp"
#include "kernel/proto/codec.hpp"

namespace agenthost::gateway {

struct UplinkOptions {
    std::string agent_id;
    std::string kid;
    std::string key;  // the derived per-agent key, raw bytes
    std::string agent_version;
    std::string hostname;
    std::string platform;
    std::size_t max_frame_bytes = 1 << 20;
    std::int64_t max_skew_ms = 30'000;
    std::int64_t replay_window_ms = 60'000;
    std::size_t max_batch_points = 1000;  // until the welcome says otherwise
    std::size_t send_window = 128;        // spool items sent and not yet acked
    std::size_t nonce_capacity = 65'536;  // local nonce memory (no replay plugin)
};

struct UplinkDeps {
    sdk::Scheduler& scheduler;
    sdk::BlockingPool& blocking;
    sdk::Clock& clock;
    sdk::Logger& logger;
    sdk::Metrics& metrics;
    GatewayStore& store;
    sdk::ReplayCache* replay = nullptr;  // the "replay" capability, when configured
    sdk::AuditSink* audit = nullptr;     // security decisions (rejected backend frames)
};

class Uplink {
public:
    using CommandSink = std::function<void(sdk::CommandRequest)>;
    using Closed = std::function<void(std::uint16_t code)>;
    using Welcomed = std::function<void()>;

    Uplink(UplinkDeps deps, UplinkOptions options, std::vector<std::string> capabilities,
           CommandSink on_command);
    ~Uplink();
    Uplink(const Uplink&) = delete;
    Uplink& operator=(const Uplink&) = delete;

    // The handler for one connection attempt. `on_closed` runs once when that session
    // ends (not if the attempt never opened); `on_welcome` after a valid welcome.
    std::unique_ptr<net::ConnectionHandler> make_handler(Closed on_closed, Welcomed on_welcome);

    // New items are in the spool: send them if a session is welcomed.
    void spool_changed();
    // Closes the live session, if any (shutdown: 1000/1001).
    void close(std::uint16_t code, const std::string& reason);

    bool connected() const;
    bool welcomed() const;
    std::size_t max_batch_points() const;

private:
    class Handler;
    struct Session;

    // Handler entry points (strand of the session's connection).
    void opened(std::uint64_t gen, std::shared_ptr<net::Connection> conn);
    void received(std::uint64_t gen, std::string text);
    void closed(std::uint64_t gen, std::uint16_t code);

    void drain(std::uint64_t gen);
    // Returns false when processing went asynchronous (replay check) or stopped.
    bool process(std::uint64_t gen, const std::string& text);
    void after_replay(std::uint64_t gen, proto::Envelope env, sdk::ReplayVerdict verdict);
    void dispatch(std::uint64_t gen, const proto::Envelope& env);
    std::optional<sdk::ReplayVerdict> local_nonce_check(const proto::Envelope& env);

    void fail(std::uint64_t gen, std::uint16_t code, const std::string& reason);
    bool send(std::uint64_t gen, std::string_view type, const sdk::json::object& body);
    void pump(std::uint64_t gen);
    void on_pending(std::uint64_t gen, std::vector<SpoolItem> items);
    void acked(std::uint64_t gen, SpoolKind kind, std::string key);
    sdk::Task guarded(std::function<void()> fn);

    UplinkDeps d_;
    UplinkOptions options_;
    std::vector<std::string> capabilities_;
    CommandSink on_command_;
    crypto::Keyring keyring_;
    const std::int64_t started_ms_;
    sdk::Gauge& connected_gauge_;

    struct Life {
        std::shared_mutex mu;
        bool alive = true;
    };
    std::shared_ptr<Life> life_ = std::make_shared<Life>();

    mutable std::mutex mu_;
    std::uint64_t gen_ = 0;             // connection generation; stale callbacks compare
    std::unique_ptr<Session> session_;  // the live session, if any
    std::size_t max_batch_points_;
    std::map<std::string, std::int64_t> nonces_;  // local replay memory: nonce → expiry
};

}  // namespace agenthost::gateway
