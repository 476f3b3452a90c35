// agent mode: one simulated gateway. TCP (optionally from a chosen loopback source)
// → mutual TLS with its minted certificate → WebSocket upgrade offering agenthost.v1
// → hello → welcome; then it answers commands like a gateway (ack, then result; a
// redelivered command_id gets the stored result again, never a second execution),
// sends telemetry open loop (--telemetry-rate) and/or closed loop (--echo) and
// verifies every backend frame (MAC, envelope, agent, skew). No replay cache: the
// backend is the system under test, not the simulator.
#include <charconv>
#include <cstring>
#include <random>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>

#include "kernel/crypto/keyring.hpp"
#include "kernel/proto/codec.hpp"
#include "kernel/proto/messages.hpp"
#include "kernel/util/ids.hpp"
#include "kernel/util/time.hpp"
#include "tools/agentsim/sim_internal.hpp"
#include "tools/agentsim/ws_conn.hpp"

namespace agenthost::agentsim {

namespace json = boost::json;
using error_code = boost::system::error_code;

namespace {

constexpr std::size_t kMaxOpenLoopInFlight = 64;
constexpr std::size_t kUuidLen = 36;

class AgentConn final : public WsConn {
public:
    AgentConn(Worker& w, Shared& sh, std::size_t index)
        : WsConn(w, sh, index, /*tls=*/true),
          me_(sh.agents[index]),
          keyring_(crypto::Keyring::from_agent_key(sh.opt.kid, me_.id, me_.hmac_key)),
          tick_(w.io),
          retry_(w.io),
          rng_(static_cast<std::uint32_t>(index * 7919 + 17)) {
        ts_base_ = util::now_unix_ms() - 3'600'000 + static_cast<std::int64_t>(index % 1000);
        in_flight_.reserve(sh.opt.echo + (sh.opt.telemetry_rate > 0 ? kMaxOpenLoopInFlight : 0));
    }

private:
    void on_stop() override {
        tick_.cancel();
        retry_.cancel();
    }

    void on_open() override {
        in_flight_.clear();
        proto::HelloBody hello;
        hello.agent_version = "agentsim/1";
        hello.hostname = me_.id + ".sim";
        hello.platform = "linux-x86_64";
        hello.capabilities = {"builtin.echo"};
        send(proto::type::hello, hello.to_json());
    }

    void on_message(std::string_view text) override { handle(text); }

    void handle(std::string_view text) {
        proto::VerifyOptions vo;
        vo.now_ms = util::now_unix_ms();
        vo.expected_agent = me_.id;
        vo.required_kid = sh_.opt.kid;
        vo.session_key = me_.hmac_key;  // no keyring lookup and key copy per frame
        proto::Verified v = proto::verify(text, keyring_, vo);
        if (!v.ok()) {
            w_.stats.verify_failures.inc();
            return;
        }
        const proto::Envelope& env = *v.envelope;
        auto body = proto::parse_backend_body(env.type, env.body);
        if (!body.ok()) {
            w_.stats.verify_failures.inc();
            return;
        }
        if (auto* welcome = std::get_if<proto::WelcomeBody>(&*body)) {
            (void)welcome;
            return on_welcome();
        }
        if (auto* cmd = std::get_if<proto::CommandBody>(&*body)) {
            return on_command(*cmd);
        }
        if (std::get_if<proto::ResultAckBody>(&*body) != nullptr) {
            w_.stats.result_acks.inc();
            return;
        }
        if (auto* ack = std::get_if<proto::TelemetryAckBody>(&*body)) {
            return on_telemetry_ack(*ack);
        }
        if (std::get_if<proto::ErrorBody>(&*body) != nullptr) {
            w_.stats.error_frames.inc();
        }
    }

    void on_welcome() {
        if (welcomed_) {
            return;
        }
        welcomed_ = true;
        w_.stats.welcomed.inc();
        w_.stats.connect_us.record(micros_since(started()));
        sh_.note_connected();
        end_setup();
        for (std::size_t i = 0; i < sh_.opt.echo; ++i) {
            send_batch(true);
        }
        if (sh_.opt.telemetry_rate > 0) {
            period_ = std::chrono::nanoseconds(
                static_cast<std::int64_t>(1e9 / sh_.opt.telemetry_rate));
            // A random phase, so that agents started together do not tick together.
            std::uniform_int_distribution<std::int64_t> phase(0, period_.count());
            next_tick_ = Clock::now() + std::chrono::nanoseconds(phase(rng_));
            arm_tick();
        }
    }

    void on_command(const proto::CommandBody& cmd) {
        w_.stats.commands.inc();
        proto::AckBody ack{cmd.command_id};
        send(proto::type::ack, ack.to_json());
        auto it = executed_.find(cmd.command_id);
        if (it != executed_.end()) {
            w_.stats.commands_redelivered.inc();
            send(proto::type::result, it->second);
            w_.stats.results_sent.inc();
            return;
        }
        w_.stats.commands_unique.inc();
        proto::ResultBody r;
        r.command_id = cmd.command_id;
        r.started_at = util::now_unix_ms();
        if (cmd.name == "builtin.echo") {
            r.status = sdk::CommandState::succeeded;
            r.exit_code = 0;
            if (auto* t = cmd.args.if_contains("text"); t != nullptr && t->is_string()) {
                r.output = std::string(t->as_string());
            }
        } else {
            r.status = sdk::CommandState::rejected;
            r.output = "agentsim has no handler for " + cmd.name;
        }
        r.finished_at = util::now_unix_ms();
        json::object body = r.to_json();
        send(proto::type::result, body);
        w_.stats.results_sent.inc();
        executed_.emplace(cmd.command_id, std::move(body));
    }

    void on_telemetry_ack(const proto::TelemetryAckBody& ack) {
        // A handful in flight (--echo, ≤ 64 open loop): a linear scan of fixed-size ids
        // beats hashing a string key and a node allocation per batch.
        auto it = in_flight_.begin();
        for (; it != in_flight_.end(); ++it) {
            if (ack.batch_id.size() == kUuidLen &&
                std::memcmp(it->id, ack.batch_id.data(), kUuidLen) == 0) {
                break;
            }
        }
        if (it == in_flight_.end()) {
            return;
        }
        w_.stats.telemetry_acks.inc();
        w_.stats.points_accepted.inc(static_cast<std::uint64_t>(ack.accepted));
        w_.stats.points_duplicate.inc(static_cast<std::uint64_t>(ack.duplicates));
        auto rtt = micros_since(it->sent);
        w_.stats.rtt_us.record(rtt);
        if (sh_.measuring.load(std::memory_order_relaxed)) {
            w_.stats.measured_rtt.record(rtt);
        }
        const bool echo = it->echo;
        *it = in_flight_.back();
        in_flight_.pop_back();
        if (echo) {
            w_.stats.echo_received.inc();
            if (!stopped_ && !sh_.stopping.load(std::memory_order_relaxed)) {
                send_batch(true);
            }
        }
    }

    // -- telemetry
    void arm_tick() {
        tick_.expires_at(next_tick_);
        tick_.async_wait([this](error_code ec) {
            if (ec || !welcomed_ || stopped_) {
                return;
            }
            next_tick_ += period_;
            if (in_flight_.size() >= kMaxOpenLoopInFlight) {
                w_.stats.telemetry_skipped.inc();
            } else {
                send_batch(false);
            }
            arm_tick();
        });
    }

    void send_batch(bool echo) {
        // The body is written as JSON text directly (the same document as a json::object
        // of these members would serialize to, up to number formatting): building and
        // serializing objects per batch was a good part of agentsim's CPU per round
        // trip, which on two cores competes with the backend being measured.
        const std::string batch_id = util::uuid_v4();
        thread_local std::string body;
        body.assign(R"({"batch_id":")");
        body.append(batch_id);
        body.append(R"(","points":[)");
        char num[32];
        for (std::size_t i = 0; i < sh_.opt.points; ++i) {
            if (i != 0) {
                body.push_back(',');
            }
            body.append(R"({"metric":"agentsim.value","ts":)");
            body.append(num, std::to_chars(num, num + sizeof num, ts_base_ + seq_++).ptr);
            body.append(R"(,"value":)");
            const double value = static_cast<double>(seq_ % 1000) / 10.0;
            body.append(num, std::to_chars(num, num + sizeof num, value).ptr);
            body.append(R"(,"labels":{"sim":"1"}})");
        }
        body.append("]}");
        InFlight f{};
        std::memcpy(f.id, batch_id.data(), kUuidLen);
        f.sent = Clock::now();
        f.echo = echo;
        in_flight_.push_back(f);
        w_.stats.telemetry_sent.inc();
        w_.stats.points_sent.inc(sh_.opt.points);
        if (echo) {
            w_.stats.echo_sent.inc();
        }
        if (!can_send()) {
            return;
        }
        send_text(proto::encode_serialized(proto::type::telemetry, me_.id, body, sh_.opt.kid,
                                           me_.hmac_key, util::now_unix_ms()));
    }

    void send(std::string_view type, const json::object& body) {
        if (!can_send()) {
            return;
        }
        send_text(proto::encode(type, me_.id, body, sh_.opt.kid, me_.hmac_key,
                                util::now_unix_ms()));
    }

    // -- endings
    void on_ended() override {
        tick_.cancel();
        welcomed_ = false;
        if (!sh_.opt.reconnect || stopped_ || sh_.stopping.load()) {
            return;
        }
        std::uniform_int_distribution<int> jitter(500, 5000);
        retry_.expires_after(std::chrono::milliseconds(jitter(rng_)));
        retry_.async_wait([this](error_code ec) {
            if (!ec && !stopped_) {
                sh_.pending.fetch_add(1);
                start();
            }
        });
    }

    struct InFlight {
        char id[kUuidLen];
        Clock::time_point sent;
        bool echo;
    };

    const AgentIdentity& me_;
    crypto::Keyring keyring_;
    asio::steady_timer tick_;
    asio::steady_timer retry_;
    std::mt19937 rng_;
    std::vector<InFlight> in_flight_;
    std::unordered_map<std::string, json::object> executed_;  // command_id → result body
    Clock::time_point next_tick_;
    std::chrono::nanoseconds period_{0};
    std::int64_t ts_base_ = 0;
    std::int64_t seq_ = 0;
    bool welcomed_ = false;
};

}  // namespace

std::shared_ptr<Conn> make_agent_conn(Worker& worker, Shared& shared, std::size_t index) {
    return std::make_shared<AgentConn>(worker, shared, index);
}

}  // namespace agenthost::agentsim
