// agent mode: one simulated gateway. TCP (optionally from a chosen loopback source)
// → mutual TLS with its minted certificate → WebSocket upgrade offering agenthost.v1
// → hello → welcome; then it answers commands like a gateway (ack, then result; a
// redelivered command_id gets the stored result again, never a second execution),
// sends telemetry open loop (--telemetry-rate) and/or closed loop (--echo) and
// verifies every backend frame (MAC, envelope, agent, skew). No replay cache: the
// backend is the system under test, not the simulator.
#include <charconv>
#include <deque>
#include <random>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>

#include "kernel/crypto/keyring.hpp"
#include "kernel/net/tls_buffers.hpp"
#include "kernel/proto/codec.hpp"
#include "kernel/proto/messages.hpp"
#include "kernel/util/ids.hpp"
#include "kernel/util/time.hpp"
#include "tools/agentsim/sim_internal.hpp"

namespace agenthost::agentsim {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
namespace json = boost::json;
using error_code = boost::system::error_code;

namespace {

constexpr std::uint16_t kAbnormal = 1006;
constexpr std::size_t kMaxOpenLoopInFlight = 64;

class AgentConn final : public Conn, public std::enable_shared_from_this<AgentConn> {
public:
    using Ws = websocket::stream<beast::ssl_stream<beast::tcp_stream>, false>;

    AgentConn(Worker& w, Shared& sh, std::size_t index)
        : w_(w),
          sh_(sh),
          index_(index),
          me_(sh.agents[index]),
          keyring_(crypto::Keyring::from_agent_key(sh.opt.kid, me_.id, me_.hmac_key)),
          tick_(w.io),
          retry_(w.io),
          rng_(static_cast<std::uint32_t>(index * 7919 + 17)) {
        ts_base_ = util::now_unix_ms() - 3'600'000 + static_cast<std::int64_t>(index % 1000);
    }

    void start() override {
        if (sh_.stopping.load()) {
            return end_setup();
        }
        setup_done_ = false;
        closed_ = false;
        writing_ = false;
        close_sent_ = false;
        queue_.clear();
        in_flight_.clear();
        buffer_.clear();
        ws_ = std::make_unique<Ws>(w_.io, sh_.tls);
        if (sh_.opt.tls_buffer_bytes != 0) {
            // The kernel's own right-sizing (kernel/net/tls_buffers): 10,000 simulated
            // agents then fit in a third of the memory.
            net::detail::shrink_tls_buffers(ws_->next_layer(), sh_.opt.tls_buffer_bytes);
        }
        started_ = Clock::now();
        w_.stats.attempts.inc();
        auto& sock = beast::get_lowest_layer(*ws_).socket();
        sh_.open_socket(sock, index_);
        beast::get_lowest_layer(*ws_).expires_after(std::chrono::seconds(30));
        beast::get_lowest_layer(*ws_).async_connect(
            sh_.target, beast::bind_front_handler(&AgentConn::on_connect, shared_from_this()));
    }

    void stop() override {
        stopped_ = true;
        tick_.cancel();
        retry_.cancel();
        if (!ws_ || closed_) {
            return;
        }
        if (!open_) {
            error_code ignored;
            beast::get_lowest_layer(*ws_).socket().close(ignored);
            return;
        }
        maybe_close();
    }

private:
    void on_connect(error_code ec) {
        if (ec) {
            w_.stats.tcp_errors.inc();
            return failed(kAbnormal);
        }
        beast::get_lowest_layer(*ws_).socket().set_option(tcp::no_delay(true), ec);
        SSL* ssl = ws_->next_layer().native_handle();
        SSL_use_certificate(ssl, me_.credential->cert.get());
        SSL_use_PrivateKey(ssl, me_.credential->key.get());
        ws_->next_layer().async_handshake(
            asio::ssl::stream_base::client,
            beast::bind_front_handler(&AgentConn::on_tls, shared_from_this()));
    }

    void on_tls(error_code ec) {
        if (ec) {
            w_.stats.tls_errors.inc();
            return failed(kAbnormal);
        }
        w_.stats.tls_ok.inc();
        beast::get_lowest_layer(*ws_).expires_never();
        websocket::stream_base::timeout to{};
        to.handshake_timeout = std::chrono::seconds(30);
        to.idle_timeout = websocket::stream_base::none();
        to.keep_alive_pings = false;
        ws_->set_option(to);
        ws_->set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(http::field::sec_websocket_protocol, "agenthost.v1");
            req.set(http::field::user_agent, "agentsim");
        }));
        res_ = {};
        ws_->async_handshake(res_, sh_.opt.host, sh_.opt.path,
                             beast::bind_front_handler(&AgentConn::on_upgrade, shared_from_this()));
    }

    void on_upgrade(error_code ec) {
        if (ec || res_[http::field::sec_websocket_protocol] != "agenthost.v1") {
            w_.stats.upgrade_errors.inc();
            return failed(kAbnormal);
        }
        w_.stats.upgraded.inc();
        w_.stats.open.inc();
        open_ = true;
        ws_->text(true);
        proto::HelloBody hello;
        hello.agent_version = "agentsim/1";
        hello.hostname = me_.id + ".sim";
        hello.platform = "linux-x86_64";
        hello.capabilities = {"builtin.echo"};
        send(proto::type::hello, hello.to_json());
        do_read();
    }

    // -- reading
    void do_read() {
        ws_->async_read(buffer_,
                        beast::bind_front_handler(&AgentConn::on_read, shared_from_this()));
    }

    void on_read(error_code ec, std::size_t) {
        if (ec) {
            auto code = static_cast<std::uint16_t>(ws_->reason().code);
            return closed(code != 0 ? code : kAbnormal);
        }
        std::string_view text(static_cast<const char*>(buffer_.data().data()),
                               buffer_.data().size());
        handle(text);
        buffer_.consume(buffer_.size());
        if (!closed_) {
            do_read();
        }
    }

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
        w_.stats.connect_us.record(micros_since(started_));
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
        auto it = in_flight_.find(ack.batch_id);
        if (it == in_flight_.end()) {
            return;
        }
        w_.stats.telemetry_acks.inc();
        w_.stats.points_accepted.inc(static_cast<std::uint64_t>(ack.accepted));
        w_.stats.points_duplicate.inc(static_cast<std::uint64_t>(ack.duplicates));
        auto rtt = micros_since(it->second.sent);
        w_.stats.rtt_us.record(rtt);
        if (sh_.measuring.load(std::memory_order_relaxed)) {
            w_.stats.measured_rtt.record(rtt);
        }
        bool echo = it->second.echo;
        in_flight_.erase(it);
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
        tick_.async_wait([self = shared_from_this()](error_code ec) {
            if (ec || self->closed_ || self->stopped_) {
                return;
            }
            self->next_tick_ += self->period_;
            if (self->in_flight_.size() >= kMaxOpenLoopInFlight) {
                self->w_.stats.telemetry_skipped.inc();
            } else {
                self->send_batch(false);
            }
            self->arm_tick();
        });
    }

    void send_batch(bool echo) {
        // The body is written as JSON text directly (the same document as a json::object
        // of these members would serialize to, up to number formatting): building and
        // serializing objects per batch was a good part of agentsim's CPU per round
        // trip, which on two cores competes with the backend being measured.
        std::string batch_id = util::uuid_v4();
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
        in_flight_.emplace(std::move(batch_id), InFlight{Clock::now(), echo});
        w_.stats.telemetry_sent.inc();
        w_.stats.points_sent.inc(sh_.opt.points);
        if (echo) {
            w_.stats.echo_sent.inc();
        }
        if (closed_ || close_sent_) {
            return;
        }
        push_frame(proto::encode_serialized(proto::type::telemetry, me_.id, body, sh_.opt.kid,
                                            me_.hmac_key, util::now_unix_ms()));
    }

    // -- writing
    void send(std::string_view type, const json::object& body) {
        if (closed_ || close_sent_) {
            return;
        }
        push_frame(proto::encode(type, me_.id, body, sh_.opt.kid, me_.hmac_key,
                                 util::now_unix_ms()));
    }

    void push_frame(std::string frame) {
        queue_.push_back(std::move(frame));
        if (!writing_) {
            do_write();
        }
    }

    void do_write() {
        writing_ = true;
        ws_->async_write(asio::buffer(queue_.front()),
                         beast::bind_front_handler(&AgentConn::on_write, shared_from_this()));
    }

    void on_write(error_code ec, std::size_t) {
        writing_ = false;
        queue_.pop_front();
        if (ec) {
            return;  // the read side reports the close
        }
        if (!queue_.empty() && !closed_) {
            return do_write();
        }
        if (stopped_) {
            maybe_close();
        }
    }

    void maybe_close() {
        if (close_sent_ || closed_ || writing_) {
            return;
        }
        close_sent_ = true;
        ws_->async_close(websocket::close_code::normal,
                         [self = shared_from_this()](error_code) {
                             error_code ignored;
                             beast::get_lowest_layer(*self->ws_).socket().close(ignored);
                         });
    }

    // -- endings
    void end_setup() {
        if (!setup_done_) {
            setup_done_ = true;
            sh_.pending.fetch_sub(1);
        }
    }

    void failed(std::uint16_t code) {
        if (!stopped_) {
            w_.stats.add_close(code);
        }
        closed_ = true;
        end_setup();
        error_code ignored;
        beast::get_lowest_layer(*ws_).socket().close(ignored);
        maybe_reconnect();
    }

    void closed(std::uint16_t code) {
        if (closed_) {
            return;
        }
        closed_ = true;
        if (open_) {
            open_ = false;
            w_.stats.open.dec();
        }
        if (!stopped_) {  // our own close at the end of the run is no error
            w_.stats.add_close(code);
        }
        tick_.cancel();
        end_setup();
        welcomed_ = false;
        error_code ignored;
        beast::get_lowest_layer(*ws_).socket().close(ignored);
        maybe_reconnect();
    }

    void maybe_reconnect() {
        if (!sh_.opt.reconnect || stopped_ || sh_.stopping.load()) {
            return;
        }
        std::uniform_int_distribution<int> jitter(500, 5000);
        retry_.expires_after(std::chrono::milliseconds(jitter(rng_)));
        retry_.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec && !self->stopped_) {
                self->sh_.pending.fetch_add(1);
                self->start();
            }
        });
    }

    struct InFlight {
        Clock::time_point sent;
        bool echo = false;
    };

    Worker& w_;
    Shared& sh_;
    std::size_t index_;
    const AgentIdentity& me_;
    crypto::Keyring keyring_;
    std::unique_ptr<Ws> ws_;
    beast::flat_buffer buffer_;
    websocket::response_type res_;
    asio::steady_timer tick_;
    asio::steady_timer retry_;
    std::mt19937 rng_;
    std::deque<std::string> queue_;
    std::unordered_map<std::string, InFlight> in_flight_;
    std::unordered_map<std::string, json::object> executed_;  // command_id → result body
    Clock::time_point started_;
    Clock::time_point next_tick_;
    std::chrono::nanoseconds period_{0};
    std::int64_t ts_base_ = 0;
    std::int64_t seq_ = 0;
    bool setup_done_ = false;
    bool open_ = false;
    bool welcomed_ = false;
    bool writing_ = false;
    bool close_sent_ = false;
    bool closed_ = false;
    bool stopped_ = false;
};

}  // namespace

std::shared_ptr<Conn> make_agent_conn(Worker& worker, Shared& shared, std::size_t index) {
    return std::make_shared<AgentConn>(worker, shared, index);
}

}  // namespace agenthost::agentsim
