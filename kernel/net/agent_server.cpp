// Agent listener: accept loop with a connection cap, the pre-upgrade handshake
// (TLS → HTTP request → path/subprotocol/identity checks → 101), session registry
// and drain. One strand per connection; the acceptor has its own.
#include "kernel/net/agent_server.hpp"

#include <exception>
#include <mutex>
#include <unordered_map>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/beast/http.hpp>

#include "kernel/crypto/x509.hpp"
#include "kernel/net/detail.hpp"
#include "kernel/runtime/process_probes.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::net {

namespace http = boost::beast::http;
using namespace detail;  // NOLINT(google-build-using-namespace): net-internal types

namespace {

class Handshake;

// A factory that produced no handler: the session is closed 1011 right away.
class RefusingHandler final : public ConnectionHandler {
public:
    explicit RefusingHandler(std::uint16_t code = close_code::internal_error,
                             const char* reason = "no handler")
        : code_(code), reason_(reason) {}
    void on_open(std::shared_ptr<Connection> c) override { c->close(code_, reason_); }
    void on_message(std::string) override {}
    void on_close(std::uint16_t) override {}

private:
    std::uint16_t code_;
    const char* reason_;
};

// The source address without the port (per-address admission).
std::string address_only(const tcp::socket& socket) {
    error_code ec;
    auto ep = socket.remote_endpoint(ec);
    return ec ? std::string() : ep.address().to_string();
}

// Sorts a failed TLS handshake into the classes of TlsRefusal. The verify result comes
// first: a rejected certificate also fails the handshake with a generic SSL error.
TlsRefusal classify_refusal(SSL* ssl, const error_code& ec, bool timed_out) {
    TlsRefusal r;
    if (timed_out) {
        r.reason = "handshake_timeout";
        return r;
    }
    const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
    int ssl_reason = 0;
    if (ec.category() == asio::error::get_ssl_category()) {
        const auto code = static_cast<unsigned long>(static_cast<unsigned int>(ec.value()));
        if (ERR_GET_LIB(code) == ERR_LIB_SSL) {
            ssl_reason = ERR_GET_REASON(code);
        }
    }
    if (verify != X509_V_OK) {
        r.reason = "certificate_rejected";
        r.detail = X509_verify_cert_error_string(verify);
    } else if (ssl_reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        r.reason = "no_client_certificate";
    } else if (ssl_reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        r.reason = "certificate_rejected";  // no verify result recorded (a callback said no)
        r.detail = "certificate verify failed";
    } else {
        r.reason = "protocol_error";
        r.detail = ec.message();  // what tls_failure() logs
    }
    return r;
}

bool offers_subprotocol(const http::request<http::empty_body>& req) {
    for (auto [it, end] = req.equal_range(http::field::sec_websocket_protocol); it != end; ++it) {
        std::string_view list(it->value().data(), it->value().size());
        while (!list.empty()) {
            auto comma = list.find(',');
            auto token = list.substr(0, comma);
            while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
                token.remove_prefix(1);
            }
            while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
                token.remove_suffix(1);
            }
            if (token == kSubprotocol) {
                return true;
            }
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        }
    }
    return false;
}

}  // namespace

struct AgentServer::State : std::enable_shared_from_this<AgentServer::State> {
    State(runtime::Runtime& rt, Endpoint ep, std::shared_ptr<TlsContext> ctx, SessionLimits lim,
          std::string bind, HandlerFactory fac, std::size_t max)
        : rt(rt),
          io(rt.io()),
          endpoint(std::move(ep)),
          limits(lim),
          binding(std::move(bind)),
          factory(std::move(fac)),
          max_connections(max),
          log(rt.logger("net")),
          metrics(std::make_shared<NetMetrics>(rt.metrics())),
          refused(rt.metrics().counter("agenthost_connections_rejected_total",
                                       "Connections refused before the handshake, by reason",
                                       {{"reason", "max_connections"}})),
          tls(std::move(ctx)),
          strand(asio::make_strand(io)),
          acceptor(strand),
          retry(strand),
          drain_timer(strand) {}

    void do_accept();
    void on_accept(error_code ec, tcp::socket socket);
    // Refuses one accepted connection before any TLS work.
    void refuse(tcp::socket& socket, const char* reason);
    bool admit_address(const std::string& ip);
    void release_address(const std::string& ip);
    void handshake_ended(Handshake* h, bool upgraded);
    // Hands a refused TLS handshake to the hook, if one is set.
    void report_refusal(const TlsRefusal& refusal);
    void session_ended(std::uint64_t id);
    void check_drained();
    void abort_all(std::uint16_t code);
    void force_drained();

    runtime::Runtime& rt;
    asio::io_context& io;
    Endpoint endpoint;
    SessionLimits limits;  // guarded by mu (set_limits); handshakes copy it
    std::string binding;
    HandlerFactory factory;
    std::atomic<std::size_t> max_connections;  // set_limits() may change it
    std::shared_ptr<sdk::Logger> log;
    std::shared_ptr<NetMetrics> metrics;
    sdk::Counter& refused;

    mutable std::mutex mu;  // guards everything below that is not atomic or strand-only
    std::shared_ptr<TlsContext> tls;
    std::unordered_map<std::uint64_t, std::weak_ptr<WsSession>> sessions;
    std::unordered_map<Handshake*, std::weak_ptr<Handshake>> pending;
    bool draining = false;
    std::function<void()> drain_done;
    AdmissionLimits admission;
    TlsRefusalHook refusal_hook;  // set before start(), read-only afterwards: no lock
    std::unordered_map<std::string, std::size_t> per_address;  // live connections by IP
    TokenBucket handshake_bucket{0, 1};  // acceptor strand only
    double bucket_rate = -1;             // the rate the bucket was built with
    double bucket_burst = -1;

    std::atomic<std::size_t> active{0};  // pending handshakes + sessions
    std::atomic<std::uint64_t> refused_n{0};
    std::atomic<std::uint16_t> port{0};

    asio::strand<asio::io_context::executor_type> strand;  // acceptor, retry, drain timer
    tcp::acceptor acceptor;
    asio::steady_timer retry;
    asio::steady_timer drain_timer;
};

namespace {

SessionLimits current_limits(AgentServer::State& st) {
    std::lock_guard lock(st.mu);
    return st.limits;
}

// One connection before the upgrade. Its stream moves into the WsSession on success.
class Handshake : public std::enable_shared_from_this<Handshake> {
public:
    Handshake(std::shared_ptr<AgentServer::State> st, tcp::socket socket,
              std::shared_ptr<TlsContext> tls)
        : st_(std::move(st)),
          tls_(std::move(tls)),
          limits_(current_limits(*st_)),
          ws_(std::move(socket), tls_->native()),
          executor_(ws_.get_executor()),
          timer_(executor_) {}

    void run(std::string ip) {
        ip_ = std::move(ip);
        remote_ = remote_address(ws_.next_layer().socket());
        arm_timer();
        ws_.next_layer().async_handshake(
            asio::ssl::stream_base::server,
            beast::bind_front_handler(&Handshake::on_tls, shared_from_this()));
    }

    // Drain/teardown: fail whatever step is pending.
    void abort() {
        // The saved executor: ws_ may have been moved into a session meanwhile.
        asio::post(executor_, [self = shared_from_this()] {
            if (!self->upgraded_) {
                self->aborted_ = true;  // our own doing: not the peer's refusal
                self->close_socket();
            }
        });
    }

private:
    // The handshake's deadline (TLS, the upgrade request, the response): its own timer,
    // gone with this object once the session (which has its own) takes over.
    void arm_timer() {
        timer_.expires_after(limits_.handshake_timeout);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (ec || self->upgraded_ || self->ended_) {
                return;  // re-armed, cancelled, or over
            }
            self->timed_out_ = true;
            self->close_socket();  // the pending step completes with operation_aborted
        });
    }

    bool timed_out(const error_code& ec) const {
        return timed_out_ || ec == beast::error::timeout;
    }

    void close_socket() {
        error_code ignored;
        ws_.next_layer().socket().close(ignored);
    }

    void on_tls(error_code ec) {
        if (ec) {
            SSL* ssl = ws_.next_layer().native_handle();
            st_->metrics->handshake(timed_out(ec) ? "timeout" : "tls_failed");
            st_->log->debug("agent TLS handshake failed",
                            {{"remote", remote_}, {"error", tls_failure(ssl, ec)}});
            if (!aborted_) {
                TlsRefusal refusal = classify_refusal(ssl, ec, timed_out(ec));
                refusal.remote_ip = ip_;
                st_->report_refusal(refusal);
            }
            return end();
        }
        cert_ = peer_cert(ws_.next_layer().native_handle(), st_->binding);
        parser_.header_limit(16 * 1024);
        parser_.body_limit(0);
        http::async_read(ws_.next_layer(), buffer_, parser_,
                         beast::bind_front_handler(&Handshake::on_request, shared_from_this()));
    }

    void on_request(error_code ec, std::size_t) {
        if (ec) {
            st_->metrics->handshake(timed_out(ec) ? "timeout" : "bad_request");
            return end();
        }
        const auto& req = parser_.get();
        std::string_view target(req.target().data(), req.target().size());
        auto path = target.substr(0, target.find('?'));  // a query string is ignored
        // Order fixed by PROTOCOL.md §8: path, then subprotocol, then identity.
        if (path != "/agent/v1") {
            return respond(http::status::not_found, "not_found", "no such path");
        }
        if (!offers_subprotocol(req)) {
            return respond(http::status::bad_request, "bad_subprotocol",
                           "Sec-WebSocket-Protocol must offer agenthost.v1");
        }
        if (!cert_.identity || !crypto::valid_agent_id(*cert_.identity)) {
            return respond(http::status::forbidden, "forbidden",
                           "client certificate carries no valid agent identity");
        }
        websocket::stream_base::timeout to{};
        to.handshake_timeout = limits_.handshake_timeout;
        to.idle_timeout = websocket::stream_base::none();
        to.keep_alive_pings = false;
        ws_.set_option(to);
        ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
            res.set(http::field::sec_websocket_protocol, kSubprotocol);
            res.set(http::field::server, "agenthost");
        }));
        ws_.read_message_max(0);  // WsSession enforces max_message_bytes itself
        // Bound the 101 write too (the session timer is not running yet).
        arm_timer();
        ws_.async_accept(req,
                         beast::bind_front_handler(&Handshake::on_upgrade, shared_from_this()));
    }

    void respond(http::status status, const char* code, const char* message) {
        st_->metrics->handshake(code);
        res_.result(status);
        res_.set(http::field::content_type, "application/json");
        res_.set(http::field::server, "agenthost");
        res_.body() =
            std::string(R"({"error":{"code":")") + code + R"(","message":")" + message + "\"}}";
        res_.keep_alive(false);
        res_.prepare_payload();
        http::async_write(ws_.next_layer(), res_,
                          beast::bind_front_handler(&Handshake::on_responded, shared_from_this()));
    }

    void on_responded(error_code, std::size_t) {
        ws_.next_layer().async_shutdown(
            beast::bind_front_handler(&Handshake::on_shutdown, shared_from_this()));
    }

    void on_shutdown(error_code) {
        close_socket();
        end();
    }

    void on_upgrade(error_code ec) {
        if (ec) {
            st_->metrics->handshake(timed_out(ec) ? "timeout" : "bad_request");
            return end();
        }
        timer_.cancel();  // the session's timer takes over
        st_->metrics->handshake("ok");
        PeerInfo peer{*cert_.identity, cert_.fingerprint, remote_};
        std::unique_ptr<ConnectionHandler> handler;
        std::uint64_t watermark = 0;
        {
            std::lock_guard lock(st_->mu);
            watermark = st_->admission.memory_watermark;
        }
        if (watermark != 0 && runtime::resident_bytes() > watermark) {
            // Over the memory watermark: no handler, no protocol work; 1013 (§6).
            st_->refused_n.fetch_add(1);
            st_->metrics->registry
                .counter("agenthost_connections_rejected_total",
                         "Connections refused before the handshake, by reason",
                         {{"reason", "memory_watermark"}})
                .inc();
            handler = std::make_unique<RefusingHandler>(close_code::try_again_later,
                                                        "overloaded (memory)");
        } else {
            handler = st_->factory ? st_->factory(peer) : nullptr;
        }
        if (!handler) {
            handler = std::make_unique<RefusingHandler>();
        }
        auto st = st_;
        auto session = std::make_shared<WsSession>(
            std::move(ws_), std::move(peer), limits_, tls_, st_->metrics,
            [st, ip = ip_](std::uint64_t id, std::uint16_t) {
                st->release_address(ip);
                st->session_ended(id);
            });
        upgraded_ = true;
        bool draining = false;
        {
            std::lock_guard lock(st_->mu);
            st_->sessions.emplace(session->id(), session);
            draining = st_->draining;
        }
        st_->handshake_ended(this, true);
        session->start(std::move(handler));
        if (draining) {
            session->close(close_code::going_away, "draining");
        }
    }

    void end() {
        ended_ = true;
        timer_.cancel();
        st_->release_address(ip_);
        st_->handshake_ended(this, false);
    }

    std::shared_ptr<AgentServer::State> st_;
    std::shared_ptr<TlsContext> tls_;
    SessionLimits limits_;  // as configured when this connection was accepted
    WsStream ws_;
    WsStream::executor_type executor_;
    asio::steady_timer timer_;
    beast::flat_buffer buffer_;
    http::request_parser<http::empty_body> parser_;
    http::response<http::string_body> res_;
    PeerCert cert_;
    std::string remote_;
    std::string ip_;  // counted in State::per_address until the connection ends
    bool upgraded_ = false;
    bool ended_ = false;
    bool timed_out_ = false;
    bool aborted_ = false;  // drain or teardown closed the socket
};

}  // namespace

// ---- State --------------------------------------------------------------------------

void AgentServer::State::do_accept() {
    // Each loop thread runs its own io_context (runtime::Runtime::connection_io), so a
    // connection's handlers are serialised without a strand; connections are spread
    // over the loops in turn.
    acceptor.async_accept(rt.connection_io(),
                          beast::bind_front_handler(&State::on_accept, shared_from_this()));
}

void AgentServer::State::on_accept(error_code ec, tcp::socket socket) {
    if (!acceptor.is_open() || ec == asio::error::operation_aborted) {
        return;  // stopped
    }
    if (ec) {
        // e.g. EMFILE: back off briefly instead of spinning on the error.
        log->warn("accept failed", {{"error", ec.message()}});
        retry.expires_after(std::chrono::milliseconds(100));
        retry.async_wait([self = shared_from_this()](error_code e) {
            if (!e) {
                self->do_accept();
            }
        });
        return;
    }
    // Admission control before any TLS work (DESIGN.md: reconnect storms): the
    // handshake rate first (cheapest, and what a storm trips), then the caps.
    AdmissionLimits adm;
    {
        std::lock_guard lock(mu);
        adm = admission;
    }
    if (adm.handshake_rate != bucket_rate || adm.handshake_burst != bucket_burst) {
        handshake_bucket = TokenBucket(adm.handshake_rate, adm.handshake_burst);
        bucket_rate = adm.handshake_rate;
        bucket_burst = adm.handshake_burst;
    }
    if (!handshake_bucket.take()) {
        refuse(socket, "handshake_rate");
        return do_accept();
    }
    if (active.load() >= max_connections) {
        refuse(socket, "max_connections");
        return do_accept();
    }
    std::string ip = address_only(socket);
    if (!admit_address(ip)) {
        refuse(socket, "max_connections_per_ip");
        return do_accept();
    }
    // Small signed frames answer each other: Nagle + delayed ACK would add ~40 ms.
    error_code nd_ec;
    socket.set_option(tcp::no_delay(true), nd_ec);
    std::shared_ptr<TlsContext> ctx;
    {
        std::lock_guard lock(mu);
        ctx = tls;
    }
    active.fetch_add(1);
    auto h = std::make_shared<Handshake>(shared_from_this(), std::move(socket), std::move(ctx));
    {
        std::lock_guard lock(mu);
        pending.emplace(h.get(), h);
    }
    h->run(std::move(ip));
    do_accept();
}

void AgentServer::State::refuse(tcp::socket& socket, const char* reason) {
    refused_n.fetch_add(1);
    if (std::string_view(reason) == "max_connections") {
        refused.inc();
    } else {
        metrics->registry
            .counter("agenthost_connections_rejected_total",
                     "Connections refused before the handshake, by reason", {{"reason", reason}})
            .inc();
    }
    error_code ignored;
    socket.close(ignored);
}

bool AgentServer::State::admit_address(const std::string& ip) {
    std::lock_guard lock(mu);
    std::size_t& n = per_address[ip];
    if (n >= admission.max_per_ip) {
        if (n == 0) {
            per_address.erase(ip);
        }
        return false;
    }
    ++n;
    return true;
}

void AgentServer::State::release_address(const std::string& ip) {
    std::lock_guard lock(mu);
    auto it = per_address.find(ip);
    if (it == per_address.end()) {
        return;
    }
    if (--it->second == 0) {
        per_address.erase(it);
    }
}

void AgentServer::State::handshake_ended(Handshake* h, bool upgraded) {
    {
        std::lock_guard lock(mu);
        pending.erase(h);
    }
    if (!upgraded) {
        active.fetch_sub(1);
        check_drained();
    }
}

void AgentServer::State::report_refusal(const TlsRefusal& refusal) {
    if (!refusal_hook) {
        return;
    }
    try {
        refusal_hook(refusal);
    } catch (const std::exception& e) {
        // Never out of an Asio handler: that would end the loop thread.
        log->warn("TLS refusal hook threw", {{"error", e.what()}});
    }
}

void AgentServer::State::session_ended(std::uint64_t id) {
    {
        std::lock_guard lock(mu);
        sessions.erase(id);
    }
    active.fetch_sub(1);
    check_drained();
}

void AgentServer::State::check_drained() {
    std::function<void()> done;
    {
        std::lock_guard lock(mu);
        if (!draining || !drain_done || active.load() != 0) {
            return;
        }
        done = std::move(drain_done);
        drain_done = nullptr;
    }
    asio::post(strand, [self = shared_from_this()] { self->drain_timer.cancel(); });
    asio::post(io, std::move(done));
}

void AgentServer::State::force_drained() {
    std::function<void()> done;
    {
        std::lock_guard lock(mu);
        done = std::move(drain_done);
        drain_done = nullptr;
    }
    if (done) {
        log->warn("drain timed out with connections left", {{"active", std::to_string(active)}});
        asio::post(io, std::move(done));
    }
}

void AgentServer::State::abort_all(std::uint16_t code) {
    std::vector<std::shared_ptr<WsSession>> live;
    std::vector<std::shared_ptr<Handshake>> hs;
    {
        std::lock_guard lock(mu);
        for (auto& [id, w] : sessions) {
            if (auto s = w.lock()) {
                live.push_back(std::move(s));
            }
        }
        for (auto& [p, w] : pending) {
            if (auto h = w.lock()) {
                hs.push_back(std::move(h));
            }
        }
    }
    for (auto& s : live) {
        s->abort(code);
    }
    for (auto& h : hs) {
        h->abort();
    }
}

// ---- AgentServer ---------------------------------------------------------------------

AgentServer::AgentServer(runtime::Runtime& runtime, Endpoint endpoint,
                         std::shared_ptr<TlsContext> tls, SessionLimits limits,
                         std::string identity_binding, HandlerFactory factory,
                         std::size_t max_connections)
    : state_(std::make_shared<State>(runtime, std::move(endpoint), std::move(tls), limits,
                                     std::move(identity_binding), std::move(factory),
                                     max_connections)) {}

AgentServer::~AgentServer() {
    auto st = state_;
    asio::post(st->strand, [st] {
        error_code ignored;
        st->acceptor.close(ignored);
        st->retry.cancel();
    });
    st->abort_all(kAbnormal);
}

sdk::Status AgentServer::start() {
    auto& st = *state_;
    error_code ec;
    auto address = asio::ip::make_address(st.endpoint.address, ec);
    if (ec) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "bad listen address '" + st.endpoint.address + "'");
    }
    tcp::endpoint ep(address, st.endpoint.port);
    st.acceptor.open(ep.protocol(), ec);
    if (!ec) {
        st.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        st.acceptor.bind(ep, ec);
    }
    if (!ec) {
        st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return sdk::error(sdk::Errc::unavailable, "cannot listen on " + st.endpoint.address + ":" +
                                                      std::to_string(st.endpoint.port) + ": " +
                                                      ec.message());
    }
    st.port.store(st.acceptor.local_endpoint(ec).port());
    asio::post(st.strand, [s = state_] { s->do_accept(); });
    return {};
}

std::uint16_t AgentServer::port() const {
    return state_->port.load();
}

void AgentServer::set_tls(std::shared_ptr<TlsContext> tls) {
    std::lock_guard lock(state_->mu);
    state_->tls = std::move(tls);
}

void AgentServer::set_limits(SessionLimits limits, std::size_t max_connections) {
    std::lock_guard lock(state_->mu);
    state_->limits = limits;
    state_->max_connections.store(max_connections);
}

void AgentServer::drain(std::function<void()> done, std::chrono::milliseconds timeout) {
    auto st = state_;
    std::vector<std::shared_ptr<WsSession>> live;
    std::vector<std::shared_ptr<Handshake>> hs;
    {
        std::lock_guard lock(st->mu);
        st->draining = true;
        st->drain_done = std::move(done);
        for (auto& [id, w] : st->sessions) {
            if (auto s = w.lock()) {
                live.push_back(std::move(s));
            }
        }
        for (auto& [p, w] : st->pending) {
            if (auto h = w.lock()) {
                hs.push_back(std::move(h));
            }
        }
    }
    asio::post(st->strand, [st, timeout] {
        error_code ignored;
        st->acceptor.close(ignored);
        st->retry.cancel();
        st->drain_timer.expires_after(timeout);
        st->drain_timer.async_wait([st](error_code ec) {
            if (ec) {
                return;
            }
            // Bounded: whoever is left is dropped; their on_close runs right after.
            st->abort_all(close_code::going_away);
            st->drain_timer.expires_after(std::chrono::seconds(2));
            st->drain_timer.async_wait([st](error_code e) {
                if (!e) {
                    st->force_drained();
                }
            });
        });
    });
    for (auto& s : live) {
        s->close(close_code::going_away, "draining");
    }
    for (auto& h : hs) {
        h->abort();
    }
    st->check_drained();
}

void AgentServer::set_admission(AdmissionLimits admission) {
    std::lock_guard lock(state_->mu);
    state_->admission = admission;
}

void AgentServer::set_tls_refusal_hook(TlsRefusalHook hook) {
    state_->refusal_hook = std::move(hook);
}

std::size_t AgentServer::active_count() const {
    return state_->active.load();
}

std::shared_ptr<TlsContext> AgentServer::tls() const {
    std::lock_guard lock(state_->mu);
    return state_->tls;
}

std::size_t AgentServer::session_count() const {
    std::lock_guard lock(state_->mu);
    return state_->sessions.size();
}

std::uint64_t AgentServer::refused_count() const {
    return state_->refused_n.load();
}

}  // namespace agenthost::net
