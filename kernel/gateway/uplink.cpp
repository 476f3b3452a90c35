#include "kernel/gateway/uplink.hpp"

#include <boost/json/parse.hpp>

#include "kernel/proto/messages.hpp"

namespace agenthost::gateway {

namespace json = sdk::json;
using net::close_code::malformed;

struct Uplink::Session {
    std::uint64_t gen = 0;
    std::shared_ptr<net::Connection> conn;
    Closed on_closed;
    Welcomed on_welcome;
    bool welcomed = false;
    std::deque<std::string> inbox;  // frames waiting behind an asynchronous replay check
    bool processing = false;
    std::set<std::string> inflight;  // "kind:key" sent this session, not yet acked
    std::int64_t cursor = 0;         // highest spool seq sent this session
    bool pumping = false;
    bool pump_again = false;
};

class Uplink::Handler final : public net::ConnectionHandler {
public:
    Handler(Uplink& up, std::shared_ptr<Life> life, std::uint64_t gen)
        : up_(up), life_(std::move(life)), gen_(gen) {}
    void on_open(std::shared_ptr<net::Connection> connection) override {
        std::shared_lock lk(life_->mu);
        if (life_->alive) {
            up_.opened(gen_, std::move(connection));
        }
    }
    void on_message(std::string text) override {
        std::shared_lock lk(life_->mu);
        if (life_->alive) {
            up_.received(gen_, std::move(text));
        }
    }
    void on_close(std::uint16_t code) override {
        std::shared_lock lk(life_->mu);
        if (life_->alive) {
            up_.closed(gen_, code);
        }
    }

private:
    Uplink& up_;
    std::shared_ptr<Life> life_;
    std::uint64_t gen_;
};

namespace {
std::string kind_key(SpoolKind k, const std::string& key) {
    return (k == SpoolKind::result ? "result:" : "telemetry:") + key;
}
}  // namespace

Uplink::Uplink(UplinkDeps deps, UplinkOptions options, std::vector<std::string> capabilities,
               CommandSink on_command)
    : d_(deps),
      options_(std::move(options)),
      capabilities_(std::move(capabilities)),
      on_command_(std::move(on_command)),
      keyring_(crypto::Keyring::from_agent_key(options_.kid, options_.agent_id, options_.key)),
      started_ms_(deps.clock.now_unix_ms()),
      connected_gauge_(deps.metrics.gauge("agenthost_gateway_connected",
                                          "1 while a welcomed backend session is live")),
      max_batch_points_(options_.max_batch_points) {}

Uplink::~Uplink() {
    std::unique_lock lk(life_->mu);
    life_->alive = false;
}

sdk::Task Uplink::guarded(std::function<void()> fn) {
    return [life = life_, fn = std::move(fn)] {
        std::shared_lock lk(life->mu);
        if (life->alive) {
            fn();
        }
    };
}

std::unique_ptr<net::ConnectionHandler> Uplink::make_handler(Closed on_closed,
                                                             Welcomed on_welcome) {
    std::lock_guard lk(mu_);
    const std::uint64_t gen = ++gen_;
    // The session object exists from the attempt on, so close() and callbacks agree on
    // which generation is current; `conn` is set when it opens.
    session_ = std::make_unique<Session>();
    session_->gen = gen;
    session_->on_closed = std::move(on_closed);
    session_->on_welcome = std::move(on_welcome);
    return std::make_unique<Handler>(*this, life_, gen);
}

bool Uplink::connected() const {
    std::lock_guard lk(mu_);
    return session_ && session_->conn;
}

bool Uplink::welcomed() const {
    std::lock_guard lk(mu_);
    return session_ && session_->welcomed;
}

std::size_t Uplink::max_batch_points() const {
    std::lock_guard lk(mu_);
    return max_batch_points_;
}

void Uplink::close(std::uint16_t code, const std::string& reason) {
    std::shared_ptr<net::Connection> conn;
    {
        std::lock_guard lk(mu_);
        if (session_) {
            conn = session_->conn;
        }
    }
    if (conn) {
        conn->close(code, reason);
    }
}

bool Uplink::send(std::uint64_t gen, std::string_view type, const json::object& body) {
    std::shared_ptr<net::Connection> conn;
    {
        std::lock_guard lk(mu_);
        if (!session_ || session_->gen != gen || !session_->conn) {
            return false;
        }
        conn = session_->conn;
    }
    return conn->send(proto::encode(type, options_.agent_id, body, options_.kid, options_.key,
                                    d_.clock.now_unix_ms()));
}

void Uplink::fail(std::uint64_t gen, std::uint16_t code, const std::string& reason) {
    d_.logger.warn("closing backend session", {{"code", std::to_string(code)}, {"reason", reason}});
    if (d_.audit != nullptr && (code >= 4400 || code == 1013)) {
        // A frame from the backend failed verification (MAC, replay, schema ...): a
        // security decision, recorded like the backend records the agents' frames.
        d_.audit->record(sdk::AuditEvent{"backend", "frame.rejected", options_.agent_id, "denied",
                                         sdk::json::object{{"code", code}, {"reason", reason}}});
    }
    std::shared_ptr<net::Connection> conn;
    {
        std::lock_guard lk(mu_);
        if (session_ && session_->gen == gen) {
            conn = session_->conn;
            session_->inbox.clear();
        }
    }
    if (conn) {
        conn->close(code, reason);
    }
}

void Uplink::opened(std::uint64_t gen, std::shared_ptr<net::Connection> conn) {
    const SpoolCounts counts = d_.store.counts();
    {
        std::lock_guard lk(mu_);
        if (!session_ || session_->gen != gen) {
            conn->close(net::close_code::normal, "superseded");
            return;
        }
        session_->conn = conn;
    }
    d_.logger.info("connected to backend",
                   {{"remote", conn->peer().remote_address}, {"server", conn->peer().identity}});
    proto::HelloBody hello;
    hello.agent_version = options_.agent_version;
    hello.hostname = options_.hostname;
    hello.platform = options_.platform;
    hello.capabilities = capabilities_;
    hello.spool_results = static_cast<std::int64_t>(counts.results);
    hello.spool_telemetry = static_cast<std::int64_t>(counts.telemetry);
    send(gen, proto::type::hello, hello.to_json());
}

void Uplink::closed(std::uint64_t gen, std::uint16_t code) {
    Closed cb;
    {
        std::lock_guard lk(mu_);
        if (!session_ || session_->gen != gen) {
            return;
        }
        cb = std::move(session_->on_closed);
        session_.reset();
    }
    connected_gauge_.set(0);
    d_.logger.info("backend session ended", {{"code", std::to_string(code)}});
    if (cb) {
        cb(code);
    }
}

void Uplink::received(std::uint64_t gen, std::string text) {
    {
        std::lock_guard lk(mu_);
        if (!session_ || session_->gen != gen) {
            return;
        }
        session_->inbox.push_back(std::move(text));
        if (session_->processing) {
            return;  // an asynchronous check is pending; order is kept
        }
        session_->processing = true;
    }
    drain(gen);
}

void Uplink::drain(std::uint64_t gen) {
    for (;;) {
        std::string text;
        {
            std::lock_guard lk(mu_);
            if (!session_ || session_->gen != gen) {
                return;
            }
            if (session_->inbox.empty()) {
                session_->processing = false;
                return;
            }
            text = std::move(session_->inbox.front());
            session_->inbox.pop_front();
        }
        if (!process(gen, text)) {
            return;  // after_replay() resumes draining
        }
    }
}

bool Uplink::process(std::uint64_t gen, const std::string& text) {
    proto::VerifyOptions vo;
    vo.max_frame_bytes = options_.max_frame_bytes;
    vo.max_skew_ms = options_.max_skew_ms;
    vo.now_ms = d_.clock.now_unix_ms();
    vo.expected_agent = options_.agent_id;
    vo.required_kid = options_.kid;
    proto::Verified v = proto::verify(text, keyring_, vo);
    if (!v.ok()) {
        fail(gen, v.rejection.close_code, v.rejection.reason);
        return false;
    }
    proto::Envelope env = std::move(*v.envelope);
    if (d_.replay == nullptr) {
        auto verdict = local_nonce_check(env);
        after_replay(gen, std::move(env), *verdict);
        return true;
    }
    if (auto verdict =
            d_.replay->check_now(options_.agent_id, env.nonce, env.ts, options_.replay_window_ms)) {
        after_replay(gen, std::move(env), *verdict);
        return true;
    }
    std::string nonce = env.nonce;
    const std::int64_t ts = env.ts;
    d_.replay->check(
        options_.agent_id, std::move(nonce), ts, options_.replay_window_ms,
        [this, gen, env = std::move(env), life = life_](sdk::Result<sdk::ReplayVerdict> r) mutable {
            d_.scheduler.post(
                guarded([this, gen, env = std::move(env), r = std::move(r)]() mutable {
                    if (!r.ok()) {
                        fail(gen, net::close_code::try_again_later,
                             "replay check unavailable: " + r.status().message());
                        return;
                    }
                    after_replay(gen, std::move(env), r.value());
                    drain(gen);
                }));
        });
    return false;
}

std::optional<sdk::ReplayVerdict> Uplink::local_nonce_check(const proto::Envelope& env) {
    const std::int64_t now = d_.clock.now_unix_ms();
    // This memory does not survive restarts, so it cannot vouch for older frames.
    if (env.ts < started_ms_) {
        return sdk::ReplayVerdict::stale;
    }
    std::lock_guard lk(mu_);
    for (auto it = nonces_.begin(); it != nonces_.end();) {
        it = it->second <= now ? nonces_.erase(it) : std::next(it);
    }
    if (nonces_.count(env.nonce) != 0) {
        return sdk::ReplayVerdict::replayed;
    }
    if (nonces_.size() >= options_.nonce_capacity) {
        return sdk::ReplayVerdict::full;
    }
    nonces_[env.nonce] = std::max(env.ts, now) + options_.replay_window_ms;
    return sdk::ReplayVerdict::fresh;
}

void Uplink::after_replay(std::uint64_t gen, proto::Envelope env, sdk::ReplayVerdict verdict) {
    switch (verdict) {
        case sdk::ReplayVerdict::fresh:
            break;
        case sdk::ReplayVerdict::replayed:
            fail(gen, net::close_code::replayed, "replayed nonce");
            return;
        case sdk::ReplayVerdict::stale:
            fail(gen, net::close_code::replayed, "stale message");
            return;
        case sdk::ReplayVerdict::full:
            fail(gen, net::close_code::try_again_later, "replay cache full");
            return;
    }
    dispatch(gen, env);
}

void Uplink::dispatch(std::uint64_t gen, const proto::Envelope& env) {
    auto parsed = proto::parse_backend_body(env.type, env.body);
    if (!parsed.ok()) {
        fail(gen, malformed, parsed.status().message());
        return;
    }
    bool welcomed = false;
    {
        std::lock_guard lk(mu_);
        if (!session_ || session_->gen != gen) {
            return;
        }
        welcomed = session_->welcomed;
    }
    const bool is_welcome = std::holds_alternative<proto::WelcomeBody>(parsed.value());
    const bool is_error = std::holds_alternative<proto::ErrorBody>(parsed.value());
    if (welcomed == is_welcome && !is_error) {
        fail(gen, malformed, welcomed ? "second welcome" : env.type + " before welcome");
        return;
    }
    std::visit(
        [&](auto& body) {
            using T = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<T, proto::WelcomeBody>) {
                Welcomed cb;
                {
                    std::lock_guard lk(mu_);
                    session_->welcomed = true;
                    cb = session_->on_welcome;
                    if (body.max_batch_points > 0) {
                        max_batch_points_ = static_cast<std::size_t>(body.max_batch_points);
                    }
                }
                connected_gauge_.set(1);
                d_.logger.info("welcomed by backend",
                               {{"session_id", body.session_id}, {"host_id", body.host_id}});
                if (cb) {
                    cb();
                }
                pump(gen);
            } else if constexpr (std::is_same_v<T, proto::CommandBody>) {
                // Ack first: "received, will execute (or already did)". The executor
                // makes redeliveries safe (dedup by command_id).
                send(gen, proto::type::ack, proto::AckBody{body.command_id}.to_json());
                sdk::CommandRequest req;
                req.command_id = body.command_id;
                req.name = body.name;
                req.args = body.args;
                req.deadline_ms = body.deadline;
                req.attempt = static_cast<std::int32_t>(body.attempt);
                if (on_command_) {
                    on_command_(std::move(req));
                }
            } else if constexpr (std::is_same_v<T, proto::ResultAckBody>) {
                acked(gen, SpoolKind::result, body.command_id);
            } else if constexpr (std::is_same_v<T, proto::TelemetryAckBody>) {
                acked(gen, SpoolKind::telemetry, body.batch_id);
            } else if constexpr (std::is_same_v<T, proto::ErrorBody>) {
                d_.logger.warn("backend reported an error",
                               {{"code", std::to_string(body.code)},
                                {"message", body.message},
                                {"ref", body.ref.value_or("null")},
                                {"fatal", body.fatal ? "true" : "false"}});
            }
        },
        parsed.value());
}

void Uplink::acked(std::uint64_t gen, SpoolKind kind, std::string key) {
    d_.blocking.submit(guarded([this, gen, kind, key = std::move(key)] {
        sdk::Status s = d_.store.ack(kind, key);
        if (!s.ok()) {
            d_.logger.error("cannot drop acked spool item", {{"key", key}, {"error", s.message()}});
        }
        d_.scheduler.post(guarded([this, gen, kind, key] {
            {
                std::lock_guard lk(mu_);
                if (!session_ || session_->gen != gen) {
                    return;
                }
                session_->inflight.erase(kind_key(kind, key));
            }
            pump(gen);
        }));
    }));
}

void Uplink::spool_changed() {
    std::uint64_t gen = 0;
    {
        std::lock_guard lk(mu_);
        if (!session_ || !session_->welcomed) {
            return;  // sent after the next welcome
        }
        gen = session_->gen;
    }
    pump(gen);
}

void Uplink::pump(std::uint64_t gen) {
    std::int64_t after = 0;
    std::size_t room = 0;
    {
        std::lock_guard lk(mu_);
        if (!session_ || session_->gen != gen || !session_->welcomed) {
            return;
        }
        if (session_->pumping) {
            session_->pump_again = true;
            return;
        }
        const std::size_t inflight = session_->inflight.size();
        room = inflight < options_.send_window ? options_.send_window - inflight : 0;
        if (room == 0) {
            return;  // the next ack pumps again
        }
        session_->pumping = true;
        after = session_->cursor;
    }
    d_.blocking.submit(guarded([this, gen, after, room] {
        auto items = d_.store.pending(after, room);
        if (!items.ok()) {
            d_.logger.error("cannot read the spool", {{"error", items.status().message()}});
        }
        d_.scheduler.post(guarded([this, gen, items = std::move(items)]() mutable {
            on_pending(gen, items.ok() ? std::move(items.value()) : std::vector<SpoolItem>{});
        }));
    }));
}

void Uplink::on_pending(std::uint64_t gen, std::vector<SpoolItem> items) {
    bool again = false;
    for (auto& item : items) {
        {
            std::lock_guard lk(mu_);
            if (!session_ || session_->gen != gen) {
                return;
            }
            if (session_->inflight.count(kind_key(item.kind, item.key)) != 0) {
                session_->cursor = std::max(session_->cursor, item.seq);
                continue;
            }
        }
        json::value body;
        try {
            body = json::parse(item.body);
        } catch (const std::exception&) {
            body = json::object{};
        }
        if (!body.is_object()) {
            d_.logger.error("dropping a corrupt spool item", {{"key", item.key}});
            d_.blocking.submit([store = &d_.store, kind = item.kind, key = item.key] {
                (void)store->ack(kind, key);
            });
            continue;
        }
        // A fresh id, ts and nonce per transmission: resends are new messages.
        const auto type =
            item.kind == SpoolKind::result ? proto::type::result : proto::type::telemetry;
        if (!send(gen, type, body.as_object())) {
            break;  // write queue full or closing: the next ack or session resumes
        }
        std::lock_guard lk(mu_);
        if (!session_ || session_->gen != gen) {
            return;
        }
        session_->inflight.insert(kind_key(item.kind, item.key));
        session_->cursor = std::max(session_->cursor, item.seq);
    }
    {
        std::lock_guard lk(mu_);
        if (!session_ || session_->gen != gen) {
            return;
        }
        session_->pumping = false;
        again = session_->pump_again;
        session_->pump_again = false;
    }
    if (again) {
        pump(gen);
    }
}

}  // namespace agenthost::gateway
