// Session lifecycle: hello timeout, the receive pipeline (verify → replay → dispatch),
// the hello/lease exchange and the one failure policy. Acks, results and telemetry
// are in session_traffic.cpp.
#include "kernel/backend/agent_session.hpp"

#include <array>
#include <type_traits>
#include <utility>
#include <variant>

#include "kernel/backend/session_core.hpp"
#include "kernel/proto/messages.hpp"
#include "kernel/util/ids.hpp"

namespace agenthost::backend {

namespace json = sdk::json;
namespace cc = net::close_code;

namespace {

// The thin handler net/ owns; the state lives in SessionCore so that completions
// arriving after net/ destroyed the handler still find valid memory.
class AgentSessionHandler final : public net::ConnectionHandler {
public:
    explicit AgentSessionHandler(std::shared_ptr<SessionCore> core) : core_(std::move(core)) {}
    void on_open(std::shared_ptr<net::Connection> connection) override {
        core_->open(std::move(connection));
    }
    void on_message(std::string text) override { core_->message(std::move(text)); }
    void on_activity() override { core_->activity(); }
    void on_close(std::uint16_t code) override { core_->closed(code); }

private:
    std::shared_ptr<SessionCore> core_;
};

// Bounded label values: the type string comes from the peer. Index into
// SessionCore::frames_in_ and the label itself.
constexpr std::array<const char*, 5> kTypeLabels = {"hello", "ack", "result", "telemetry",
                                                    "other"};
std::size_t type_label(const std::string& type) {
    for (std::size_t i = 0; i + 1 < kTypeLabels.size(); ++i) {
        if (type == kTypeLabels[i]) {
            return i;
        }
    }
    return kTypeLabels.size() - 1;
}

bool error_frame_allowed(std::uint16_t code) {
    // PROTOCOL.md §8: never before 1001, 1003, 1009 or 1013; only before 44xx closes.
    return code >= 4000;
}

}  // namespace

std::unique_ptr<net::ConnectionHandler> make_agent_session(std::shared_ptr<const SessionEnv> env,
                                                           const net::PeerInfo& peer) {
    return std::make_unique<AgentSessionHandler>(
        std::make_shared<SessionCore>(std::move(env), peer));
}

net::HandlerFactory agent_session_factory(std::shared_ptr<const SessionEnv> env) {
    return
        [env = std::move(env)](const net::PeerInfo& peer) { return make_agent_session(env, peer); };
}

SessionCore::SessionCore(std::shared_ptr<const SessionEnv> env, net::PeerInfo peer)
    : env_(std::move(env)), cfg_(env_->config), peer_(std::move(peer)) {}

void SessionCore::open(std::shared_ptr<net::Connection> connection) {
    conn_ = std::move(connection);
    count("agenthost_agent_sessions_started_total", "Agent WebSocket sessions started");
    // The hello timeout counts from the 101 (PROTOCOL.md §3.1).
    std::weak_ptr<SessionCore> weak = weak_from_this();
    hello_timer_ = env_->scheduler->schedule(
        std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.hello_timeout), [weak] {
            if (auto self = weak.lock()) {
                self->post([self] { self->on_hello_timeout(); });
            }
        });
}

// Callable from any thread: conn_ is written once in open(), before any completion
// can exist, and never reset; after on_close nothing more is posted.
void SessionCore::post(std::function<void()> fn) {
    if (conn_ && !closed_atomic_.load(std::memory_order_acquire)) {
        conn_->post(std::move(fn));
    }
}

void SessionCore::on_hello_timeout() {
    hello_timer_.reset();
    // A hello already being checked (replay verdict pending) made it in time; one whose
    // lease is being taken has moved on to Phase::opening.
    if (phase_ == Phase::awaiting_hello && checking_.empty()) {
        fail(cc::hello_timeout, "no hello in time", std::nullopt);
    }
}

void SessionCore::message(std::string text) {
    if (phase_ == Phase::closing || phase_ == Phase::closed) {
        return;
    }
    if (inbox_.size() + checking_.size() >= cfg_.max_pending_frames) {
        fail(cc::try_again_later, "too many frames pending", std::nullopt);
        return;
    }
    inbox_.push_back(std::move(text));
    pump();
}

// Frames are dispatched strictly in arrival order. Until the session is open, one at a
// time: the hello is checked, then its lease taken, before anything behind it. Once
// open, every frame is verified and its replay check started as it arrives, so a
// backlog (telemetry spooled while offline, an ack and a result in one read) costs
// one round trip to a shared replay store instead of one per frame; each waits in
// `checking_` for its verdict and for the frames before it.
void SessionCore::pump() {
    for (;;) {
        if (phase_ == Phase::closing || phase_ == Phase::closed) {
            return;
        }
        if (!checking_.empty() && checking_.front().decided()) {
            Checked c = std::move(checking_.front());
            checking_.pop_front();
            if (!c.env) {
                fail(c.rejection.close_code, c.rejection.reason, c.rejection.ref);
                return;
            }
            on_replay_verdict(std::move(*c.env), std::move(*c.verdict));
            continue;
        }
        // Nothing is checked behind a rejection (always the last entry: it stops this).
        const bool rejection_queued = !checking_.empty() && !checking_.back().env;
        const bool may_start = phase_ == Phase::open
                                   ? !rejection_queued
                                   : phase_ == Phase::awaiting_hello && checking_.empty();
        if (!may_start || inbox_.empty()) {
            return;
        }
        std::string text = std::move(inbox_.front());
        inbox_.pop_front();
        start_check(text);
    }
}

void SessionCore::start_check(const std::string& text) {
    proto::VerifyOptions opts;
    opts.max_frame_bytes = cfg_.max_frame_bytes;
    opts.max_skew_ms = cfg_.max_skew_ms;
    opts.now_ms = env_->clock->now_unix_ms();
    opts.expected_agent = peer_.identity;
    opts.required_kid = kid_;
    opts.session_key = key_;  // derived for (kid_, identity) at the hello
    proto::Verified verified = proto::verify(text, *env_->keys, opts);
    Checked& c = checking_.emplace_back();
    c.seq = next_seq_++;
    if (!verified.ok()) {
        c.rejection = std::move(verified.rejection);
        return;
    }
    proto::Envelope& env = c.env.emplace(std::move(*verified.envelope));
    const std::size_t label = type_label(env.type);
    count_cached(frames_in_[label], "agenthost_frames_in_total",
                 "Verified frames received from agents", "type", kTypeLabels[label]);
    if (phase_ == Phase::awaiting_hello && env.type == "hello" && key_.empty()) {
        // The MAC proved the kid: from now on the session can sign error frames.
        if (auto key = env_->keys->agent_key(env.kid, peer_.identity)) {
            kid_ = env.kid;
            key_ = std::move(*key);
        }
    }
    auto& replay = *env_->replay;
    if (auto verdict = replay.check_now(peer_.identity, env.nonce, env.ts, cfg_.replay_window_ms)) {
        c.verdict.emplace(*verdict);
        return;
    }
    auto self = shared_from_this();
    replay.check(peer_.identity, env.nonce, env.ts, cfg_.replay_window_ms,
                 [self, seq = c.seq](sdk::Result<sdk::ReplayVerdict> verdict) mutable {
                     self->post([self, seq, verdict = std::move(verdict)]() mutable {
                         self->on_checked(seq, std::move(verdict));
                     });
                 });
}

void SessionCore::on_checked(std::uint64_t seq, sdk::Result<sdk::ReplayVerdict> verdict) {
    if (phase_ == Phase::closing || phase_ == Phase::closed || checking_.empty() ||
        seq < checking_.front().seq) {
        return;  // the session ended (and its queue was cleared) meanwhile
    }
    const std::uint64_t index = seq - checking_.front().seq;
    if (index < checking_.size()) {
        checking_[index].verdict.emplace(std::move(verdict));
        pump();
    }
}

void SessionCore::on_replay_verdict(proto::Envelope env, sdk::Result<sdk::ReplayVerdict> verdict) {
    if (!verdict.ok()) {
        // The replay store is down: refuse rather than accept unchecked frames.
        env_->logger->warn("replay check failed",
                           {{"agent", peer_.identity}, {"error", verdict.status().message()}});
        fail(cc::try_again_later, "replay check unavailable", env.id);
        return;
    }
    switch (*verdict) {
        case sdk::ReplayVerdict::fresh:
            dispatch(std::move(env));
            return;
        case sdk::ReplayVerdict::replayed:
            fail(cc::replayed, "replayed message", env.id);
            return;
        case sdk::ReplayVerdict::stale:
            fail(cc::replayed, "stale message", env.id);
            return;
        case sdk::ReplayVerdict::full:
            fail(cc::try_again_later, "replay cache full", env.id);
            return;
    }
}

// The nonce is consumed from here on, whatever the remaining checks decide.
void SessionCore::dispatch(proto::Envelope env) {
    const bool is_hello = env.type == proto::type::hello;
    if (phase_ == Phase::awaiting_hello && !is_hello) {
        fail(cc::malformed, "first message must be hello", env.id);
        return;
    }
    if (phase_ != Phase::awaiting_hello && is_hello) {
        fail(cc::malformed, "second hello", env.id);
        return;
    }
    auto body = proto::parse_agent_body(env.type, env.body, cfg_.max_batch_points);
    if (!body.ok()) {
        fail(cc::malformed, body.status().message(), env.id);
        return;
    }
    std::visit(
        [this, &env](auto& b) {
            using T = std::decay_t<decltype(b)>;
            if constexpr (std::is_same_v<T, proto::HelloBody>) {
                on_hello(std::move(env), std::move(b));
            } else if constexpr (std::is_same_v<T, proto::AckBody>) {
                on_ack(std::move(env), std::move(b));
            } else if constexpr (std::is_same_v<T, proto::ResultBody>) {
                on_result(std::move(env), std::move(b));
            } else {
                on_telemetry(std::move(env), std::move(b));
            }
        },
        *body);
}

void SessionCore::on_hello(proto::Envelope env, proto::HelloBody hello) {
    (void)env;
    if (hello_timer_) {
        env_->scheduler->cancel(*hello_timer_);
        hello_timer_.reset();
    }
    if (env_->can_audit && !env_->can_audit("session.open")) {
        // audit.fail_closed: a session that cannot be audited is not opened.
        fail(cc::try_again_later, "audit unavailable", std::nullopt, "session.refused");
        return;
    }
    phase_ = Phase::opening;
    session_id_ = util::uuid_v4();
    sdk::AgentHello h;
    h.agent_id = peer_.identity;
    h.cert_fingerprint = peer_.cert_fingerprint;
    h.host_id = cfg_.host_id;
    h.session_id = session_id_;
    h.agent_version = std::move(hello.agent_version);
    h.hostname = std::move(hello.hostname);
    h.platform = std::move(hello.platform);
    h.capabilities = std::move(hello.capabilities);
    h.remote_address = peer_.remote_address;
    auto self = shared_from_this();
    env_->identity->open_session(
        std::move(h), cfg_.lease,
        [self](sdk::Result<sdk::OpenSessionResult> r) { self->on_open_completion(std::move(r)); });
}

void SessionCore::on_open_completion(sdk::Result<sdk::OpenSessionResult> result) {
    bool handed_off = false;
    {
        std::lock_guard lock(open_mu_);
        if (!closed_flag_) {
            open_pending_.emplace(std::move(result));
            handed_off = true;
        }
    }
    if (!handed_off) {  // the connection closed while the lease was being taken
        release_if_opened(result);
        return;
    }
    auto self = shared_from_this();
    post([self] { self->take_open_result(); });
}

void SessionCore::take_open_result() {
    std::optional<sdk::Result<sdk::OpenSessionResult>> r;
    {
        std::lock_guard lock(open_mu_);
        r.swap(open_pending_);
    }
    if (r) {
        on_opened(std::move(*r));
    }
}

void SessionCore::release_if_opened(const sdk::Result<sdk::OpenSessionResult>& result) {
    if (result.ok() && result->outcome == sdk::OpenOutcome::opened) {
        env_->identity->close_session(peer_.identity, session_id_, [](sdk::Status) {});
    }
}

void SessionCore::on_opened(sdk::Result<sdk::OpenSessionResult> result) {
    if (phase_ != Phase::opening) {
        release_if_opened(result);
        return;
    }
    if (!result.ok()) {
        env_->logger->error("open_session failed",
                            {{"agent", peer_.identity}, {"error", result.status().message()}});
        fail(result.status().code() == sdk::Errc::unavailable ? cc::try_again_later
                                                              : cc::internal_error,
             "identity store unavailable", std::nullopt);
        return;
    }
    const auto& r = *result;
    if (r.outcome == sdk::OpenOutcome::revoked) {
        audit("session.denied", "denied",
              json::object{{"reason", "revoked"},
                           {"code", static_cast<int>(cc::forbidden)},
                           {"fingerprint", peer_.cert_fingerprint},
                           {"remote_address", peer_.remote_address}});
        fail(cc::forbidden, "agent revoked", std::nullopt, "session.denied", false);
        return;
    }
    if (r.outcome == sdk::OpenOutcome::duplicate) {
        // A security event: both certificates go into the trail (DESIGN.md).
        audit("session.duplicate", "denied",
              json::object{{"reason", "duplicate session"},
                           {"code", static_cast<int>(cc::duplicate_session)},
                           {"fingerprint", peer_.cert_fingerprint},
                           {"existing_fingerprint", r.existing_fingerprint},
                           {"existing_session_id", r.existing_session_id},
                           {"existing_host_id", r.existing_host_id},
                           {"remote_address", peer_.remote_address}});
        count("agenthost_duplicate_sessions_total", "Hellos refused for a duplicate agent_id");
        fail(cc::duplicate_session, "duplicate session", std::nullopt, "session.duplicate", false);
        return;
    }
    phase_ = Phase::open;
    opened_ = true;
    last_renew_ = env_->clock->steady_now();
    env_->registry->add(peer_.identity, session_id_, weak_from_this());
    proto::WelcomeBody welcome;
    welcome.session_id = session_id_;
    welcome.host_id = cfg_.host_id;
    welcome.server_time = env_->clock->now_unix_ms();
    welcome.heartbeat_s = cfg_.heartbeat_s;
    welcome.max_frame_bytes = static_cast<std::int64_t>(cfg_.max_frame_bytes);
    welcome.max_batch_points = static_cast<std::int64_t>(cfg_.max_batch_points);
    send_frame(proto::type::welcome, welcome.to_json());
    audit("session.open", "success",
          json::object{{"session_id", session_id_},
                       {"fingerprint", peer_.cert_fingerprint},
                       {"remote_address", peer_.remote_address}});
    count("agenthost_agent_sessions_opened_total", "Agent sessions that completed the hello");
    sdk::Gauge* in_flight_gauge =
        env_->metrics ? &env_->metrics->gauge("agenthost_commands_in_flight",
                                              "Commands out on agent sessions without a result")
                      : nullptr;
    inflight_ = std::make_shared<InflightGate>(cfg_.max_in_flight, in_flight_gauge);
    env_->queue->attach(peer_.identity, session_id_, make_deliver());
    pump();
}

std::chrono::milliseconds renew_interval(std::int64_t heartbeat_s) {
    // PROTOCOL.md §3: heartbeats renew the lease. A live peer shows activity at least
    // every heartbeat (its pong), so the first activity half a heartbeat after the last
    // renewal renews again: once per heartbeat, and a revocation made on another host
    // reaches this session at its next heartbeat (+ the renewal tick).
    return std::chrono::milliseconds(heartbeat_s * 1000) / 2;
}

void SessionCore::activity() {
    if (phase_ != Phase::open || renew_in_flight_) {
        return;
    }
    const auto now = env_->clock->steady_now();
    if (now - last_renew_ < renew_interval(cfg_.heartbeat_s)) {
        return;
    }
    renew_in_flight_ = true;
    if (env_->renewals == nullptr) {
        renew();
        return;
    }
    // Held weakly: a session that ends before the tick is not kept alive for it, and
    // its renewal is skipped (the close released the lease).
    const bool queued = env_->renewals->add([weak = weak_from_this()] {
        if (auto self = weak.lock(); self && !self->closed_atomic_.load()) {
            self->renew();
        }
    });
    if (!queued) {
        renew_in_flight_ = false;  // shutting down; the next activity tries again
    }
}

// Any thread: touches only what is fixed once the session is open.
void SessionCore::renew() {
    auto self = shared_from_this();
    env_->identity->renew_session(peer_.identity, session_id_, cfg_.lease, [self](sdk::Status s) {
        self->post([self, s = std::move(s)] { self->on_renewed(s); });
    });
}

void SessionCore::on_renewed(sdk::Status status) {
    renew_in_flight_ = false;
    if (phase_ != Phase::open) {
        return;
    }
    if (status.ok()) {
        last_renew_ = env_->clock->steady_now();
    } else if (status.code() == sdk::Errc::not_found) {
        fail(cc::duplicate_session, "released", std::nullopt, "session.released");
    } else if (status.code() == sdk::Errc::conflict) {
        fail(cc::forbidden, "revoked", std::nullopt, "session.revoked");
    } else {
        // Retried on the next activity; the lease outlives several heartbeats.
        env_->logger->warn("lease renewal failed",
                           {{"agent", peer_.identity}, {"error", status.message()}});
    }
}

void SessionCore::terminate(std::uint16_t code, std::string reason) {
    auto self = shared_from_this();
    post([self, code, reason = std::move(reason)] {
        self->fail(code, reason, std::nullopt, "session.terminated");
    });
}

void SessionCore::closed(std::uint16_t code) {
    std::optional<sdk::Result<sdk::OpenSessionResult>> pending;
    {
        std::lock_guard lock(open_mu_);
        closed_flag_ = true;
        pending.swap(open_pending_);
    }
    if (pending) {
        release_if_opened(*pending);
    }
    if (hello_timer_) {
        env_->scheduler->cancel(*hello_timer_);
        hello_timer_.reset();
    }
    closed_atomic_.store(true, std::memory_order_release);
    phase_ = Phase::closed;
    inbox_.clear();
    checking_.clear();
    if (opened_) {
        opened_ = false;
        env_->queue->detach(peer_.identity, session_id_);
        // Released at once so that a clean reconnect never meets 4409 (§3.3).
        env_->identity->close_session(peer_.identity, session_id_, [](sdk::Status) {});
        env_->registry->remove(peer_.identity, session_id_);
        audit("session.close", "success",
              json::object{{"session_id", session_id_}, {"code", static_cast<int>(code)}});
    }
}

void SessionCore::fail(std::uint16_t code, const std::string& reason,
                       std::optional<std::string> ref, const char* action, bool audit_it) {
    if (phase_ == Phase::closing || phase_ == Phase::closed) {
        return;
    }
    phase_ = Phase::closing;
    inbox_.clear();
    checking_.clear();
    if (audit_it) {
        json::object details{{"reason", reason}, {"code", static_cast<int>(code)}};
        details["ref"] = ref ? json::value(*ref) : json::value(nullptr);
        audit(action, "denied", std::move(details));
    }
    count("agenthost_frame_rejections_total", "Sessions closed by a protocol rejection",
          {{"code", std::to_string(code)}});
    env_->logger->info(
        "closing agent session",
        {{"agent", peer_.identity}, {"code", std::to_string(code)}, {"reason", reason}});
    if (!key_.empty() && error_frame_allowed(code)) {
        send_error(code, reason, ref, true);
    }
    if (conn_ && phase_ != Phase::closed) {
        // A close frame carries at most 123 bytes of reason (RFC 6455 §5.5).
        conn_->close(code, reason.substr(0, 120));
    }
}

bool SessionCore::send_frame(std::string_view type, const json::object& body) {
    if (!conn_ || key_.empty()) {
        return false;
    }
    return conn_->send(
        proto::encode(type, peer_.identity, body, kid_, key_, env_->clock->now_unix_ms()));
}

void SessionCore::send_error(std::uint16_t code, const std::string& message,
                             const std::optional<std::string>& ref, bool fatal) {
    proto::ErrorBody body;
    body.code = code;
    body.message = message;
    body.ref = ref;
    body.fatal = fatal;
    send_frame(proto::type::error, body.to_json());
}

void SessionCore::audit(const char* action, const char* outcome, json::object details) {
    sdk::AuditEvent ev;
    ev.actor = "agent:" + peer_.identity;
    ev.action = action;
    ev.target = peer_.identity;
    ev.outcome = outcome;
    ev.details = std::move(details);
    env_->audit->record(std::move(ev));
}

void SessionCore::count(std::string_view name, std::string_view help, const sdk::Labels& labels,
                        std::uint64_t n) {
    if (env_->metrics) {
        env_->metrics->counter(name, help, labels).inc(n);
    }
}

void SessionCore::count_cached(sdk::Counter*& slot, std::string_view name, std::string_view help,
                               std::string_view label, std::string_view value, std::uint64_t n) {
    if (slot == nullptr) {
        if (!env_->metrics) {
            return;
        }
        slot = &env_->metrics->counter(name, help,
                                       {{std::string(label), std::string(value)}});
    }
    slot->inc(n);
}

}  // namespace agenthost::backend
