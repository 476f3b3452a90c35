#pragma once
// Internal to kernel/backend: the state of one agent session, shared between the
// handler net/ owns and the plugin completions that may outlive it. Split across
// agent_session.cpp (lifecycle, verification, hello) and session_traffic.cpp
// (acks, results, telemetry, command delivery).

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/container/devector.hpp>

#include <agenthost/json.hpp>

#include "kernel/backend/agent_session.hpp"
#include "kernel/backend/inflight_gate.hpp"
#include "kernel/proto/codec.hpp"
#include "kernel/proto/messages.hpp"

namespace agenthost::backend {

class SessionCore final : public LiveSession, public std::enable_shared_from_this<SessionCore> {
public:
    SessionCore(std::shared_ptr<const SessionEnv> env, net::PeerInfo peer);

    void open(std::shared_ptr<net::Connection> connection);
    void message(std::string text);
    void activity();
    void closed(std::uint16_t code);
    void terminate(std::uint16_t code, std::string reason) override;

private:
    enum class Phase { awaiting_hello, opening, open, closing, closed };

    // agent_session.cpp
    void post(std::function<void()> fn);
    void pump();
    void start_check(const std::string& text);
    void on_checked(std::uint64_t seq, sdk::Result<sdk::ReplayVerdict> verdict);
    void on_replay_verdict(proto::Envelope env, sdk::Result<sdk::ReplayVerdict> verdict);
    void dispatch(proto::Envelope env);
    void on_hello(proto::Envelope env, proto::HelloBody hello);
    void on_open_completion(sdk::Result<sdk::OpenSessionResult> result);
    void take_open_result();
    void on_opened(sdk::Result<sdk::OpenSessionResult> result);
    void release_if_opened(const sdk::Result<sdk::OpenSessionResult>& result);
    void on_hello_timeout();
    void renew();
    void on_renewed(sdk::Status status);
    // Rejects and closes: audit, metric, fatal `error` frame when allowed, close.
    void fail(std::uint16_t code, const std::string& reason, std::optional<std::string> ref,
              const char* action = "frame.rejected", bool audit = true);
    bool send_frame(std::string_view type, const sdk::json::object& body);
    void send_error(std::uint16_t code, const std::string& message,
                    const std::optional<std::string>& ref, bool fatal);
    void audit(const char* action, const char* outcome, sdk::json::object details);
    void count(std::string_view name, std::string_view help, const sdk::Labels& labels = {},
               std::uint64_t n = 1);
    // As count(), through a handle resolved on first use and kept in `slot`: the
    // registry lookup (its mutex, a copy and sort of the labels) is too dear for
    // every frame, and handles stay valid for the registry's lifetime.
    void count_cached(sdk::Counter*& slot, std::string_view name, std::string_view help,
                      std::string_view label, std::string_view value, std::uint64_t n = 1);

    // session_traffic.cpp
    void on_ack(proto::Envelope env, proto::AckBody ack);
    void on_result(proto::Envelope env, proto::ResultBody result);
    void on_telemetry(proto::Envelope env, proto::TelemetryBody batch);
    void store_result(std::string ref, proto::ResultBody result);
    void close_for_backpressure(const sdk::Status& st);
    void on_result_completed(const std::string& ref, const std::string& command_id,
                             sdk::CommandState status, bool fresh, const sdk::Status& s);
    sdk::DeliverFn make_deliver();
    // Commands the in-flight gate let out: sent now, after checking with the queue
    // that they still wait (a long-parked one may have been timed out meanwhile).
    void release(std::vector<sdk::CommandRecord> ready);

    std::shared_ptr<const SessionEnv> env_;
    const SessionConfig& cfg_;
    net::PeerInfo peer_;
    std::shared_ptr<net::Connection> conn_;
    std::shared_ptr<InflightGate> inflight_;  // set at the welcome, before attach

    // A frame past verification, waiting for its replay verdict and for every frame
    // before it; or a verification failure, waiting for the frames before it.
    struct Checked {
        std::uint64_t seq = 0;
        std::optional<proto::Envelope> env;  // empty: `rejection`
        proto::Rejection rejection;
        std::optional<sdk::Result<sdk::ReplayVerdict>> verdict;
        bool decided() const { return !env || verdict.has_value(); }
    };

    Phase phase_ = Phase::awaiting_hello;
    // Devectors allocate nothing until used (a deque allocates ~600 bytes up front, per
    // idle session).
    boost::container::devector<std::string> inbox_;  // received, not verified yet
    boost::container::devector<Checked> checking_;   // verified, in arrival order
    std::uint64_t next_seq_ = 0;
    std::optional<sdk::TimerId> hello_timer_;
    std::string kid_;  // fixed by the first verified hello
    std::string key_;  // per-agent key for kid_; non-empty = error frames allowed
    std::string session_id_;
    bool opened_ = false;  // this session holds the lease
    bool renew_in_flight_ = false;
    std::chrono::steady_clock::time_point last_renew_{};

    // Per-frame counter handles (count_cached): frames in by type label, points.
    std::array<sdk::Counter*, 5> frames_in_{};
    sdk::Counter* points_accepted_ = nullptr;
    sdk::Counter* points_duplicate_ = nullptr;

    // Hand-off between the open_session completion (any thread) and on_close: whoever
    // comes second releases a lease taken for a session that is already gone.
    std::mutex open_mu_;
    std::atomic<bool> closed_atomic_{false};
    bool closed_flag_ = false;
    std::optional<sdk::Result<sdk::OpenSessionResult>> open_pending_;
};

}  // namespace agenthost::backend
