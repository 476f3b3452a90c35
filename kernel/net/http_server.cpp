// HTTP(S) listener: accept loop with a connection cap; per connection (own strand):
// [TLS handshake] → read one request (bounded) → authenticate → route → handler →
// write → keep-alive or shut down. Plain and TLS share one session template.
#include "kernel/net/http_server.hpp"

#include <array>
#include <cctype>
#include <mutex>
#include <unordered_map>

#include <boost/beast/http.hpp>

#include "kernel/net/detail.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::net {

namespace http = boost::beast::http;
using namespace detail;  // NOLINT(google-build-using-namespace): net-internal types

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
    State(runtime::Runtime& r, Endpoint ep, sdk::Listener k, std::shared_ptr<TlsContext> t,
          AuthHook a, UnauthorizedHook u, HttpServerOptions o)
        : rt(r),
          endpoint(std::move(ep)),
          kind(k),
          auth(std::move(a)),
          on_unauthorized(std::move(u)),
          options(o),
          log(r.logger("http")),
          tls(std::move(t)),
          strand(asio::make_strand(r.io())),
          acceptor(strand),
          retry(strand) {}

    void do_accept();
    void on_accept(error_code ec, tcp::socket socket);
    void ended(std::uint64_t id);

    runtime::Runtime& rt;
    Endpoint endpoint;
    sdk::Listener kind;
    AuthHook auth;
    UnauthorizedHook on_unauthorized;
    HttpServerOptions options;
    std::shared_ptr<sdk::Logger> log;

    std::mutex mu;
    std::shared_ptr<TlsContext> tls;
    std::unordered_map<std::uint64_t, std::function<void()>> closers;  // id → abort
    std::uint64_t next_id = 1;
    bool stopped = false;
    std::atomic<std::uint16_t> port{0};

    asio::strand<asio::io_context::executor_type> strand;
    tcp::acceptor acceptor;
    asio::steady_timer retry;
};

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

sdk::HttpRequest to_sdk(const Request& req, const std::string& remote) {
    sdk::HttpRequest out;
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    auto q = out.target.find('?');
    out.path = out.target.substr(0, q);
    if (q != std::string::npos) {
        out.query = parse_query(std::string_view(out.target).substr(q + 1));
    }
    for (const auto& field : req) {
        std::string name(field.name_string());
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        out.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    out.body = req.body();
    out.remote_address = remote;
    return out;
}

sdk::HttpResponse error_response(int status, std::string_view code, std::string_view message) {
    sdk::HttpResponse res;
    res.status = status;
    res.body = json_error(code, message);
    return res;
}

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
public:
    static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

    template <class... Args>
    HttpSession(std::shared_ptr<HttpServer::State> st, std::uint64_t id,
                std::shared_ptr<TlsContext> tls, Args&&... args)
        : st_(std::move(st)),
          id_(id),
          tls_(std::move(tls)),
          stream_(std::forward<Args>(args)...),
          handler_timer_(stream_.get_executor()) {}

    void run() {
        remote_ = remote_address(beast::get_lowest_layer(stream_).socket());
        if constexpr (kTls) {
            beast::get_lowest_layer(stream_).expires_after(st_->options.read_timeout);
            stream_.async_handshake(
                asio::ssl::stream_base::server,
                beast::bind_front_handler(&HttpSession::on_handshake, this->shared_from_this()));
        } else {
            do_read();
        }
    }

    void abort() {
        asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
            error_code ignored;
            beast::get_lowest_layer(self->stream_).socket().close(ignored);
        });
    }

private:
    void on_handshake(error_code ec) {
        if (ec) {
            return finish();
        }
        do_read();
    }

    void do_read() {
        parser_.emplace();
        parser_->body_limit(st_->options.body_limit);
        parser_->header_limit(static_cast<std::uint32_t>(st_->options.header_limit));
        // The first request gets read_timeout; later ones also wait through keep-alive.
        beast::get_lowest_layer(stream_).expires_after(
            requests_ == 0 ? st_->options.read_timeout
                           : st_->options.keep_alive_timeout + st_->options.read_timeout);
        http::async_read(
            stream_, buffer_, *parser_,
            beast::bind_front_handler(&HttpSession::on_read, this->shared_from_this()));
    }

    void on_read(error_code ec, std::size_t) {
        if (ec == http::error::body_limit) {
            keep_alive_ = false;
            linger_ = true;
            return write(error_response(413, "payload_too_large", "request body over the limit"));
        }
        if (ec == http::error::header_limit) {
            keep_alive_ = false;
            linger_ = true;
            return write(error_response(431, "headers_too_large", "request headers too large"));
        }
        if (ec == http::error::end_of_stream) {
            return do_shutdown();
        }
        if (ec) {
            return finish();  // timeout, reset, malformed: nothing useful to answer
        }
        ++requests_;
        beast::get_lowest_layer(stream_).expires_never();
        const Request& req = parser_->get();
        keep_alive_ = req.keep_alive();
        request_ = to_sdk(req, remote_);
        dispatch();
    }

    void dispatch() {
        // Authentication before routing: an unauthenticated caller learns nothing
        // about which paths exist (API.md: 401 before 404).
        if (st_->auth) {
            auto actor = st_->auth(request_);
            if (!actor) {
                if (st_->on_unauthorized) {
                    st_->on_unauthorized(request_);
                }
                auto res = error_response(401, "unauthorized", "missing or invalid bearer token");
                res.headers.emplace_back("WWW-Authenticate", "Bearer");
                return write(std::move(res));
            }
            request_.actor = std::move(*actor);
        }
        bool method_mismatch = false;
        auto route =
            st_->rt.routes().match(st_->kind, request_.method, request_.path, &method_mismatch);
        if (!route) {
            return write(method_mismatch
                             ? error_response(405, "method_not_allowed", "method not allowed")
                             : error_response(404, "not_found", "no such path"));
        }
        auto answered = std::make_shared<std::atomic<bool>>(false);
        answered_ = answered;
        handler_timer_.expires_after(st_->options.handler_timeout);
        handler_timer_.async_wait([self = this->shared_from_this(), answered](error_code e) {
            if (!e && !answered->exchange(true)) {
                self->write(error_response(504, "timeout", "the handler did not answer in time"));
            }
        });
        auto exec = stream_.get_executor();
        sdk::HttpResponder responder = [self = this->shared_from_this(), answered,
                                        exec](sdk::HttpResponse res) {
            if (answered->exchange(true)) {
                return;  // exactly once; later calls (or after a timeout) are ignored
            }
            asio::post(exec, [self, r = std::move(res)]() mutable {
                self->handler_timer_.cancel();
                self->write(std::move(r));
            });
        };
        try {
            route->handler(request_, std::move(responder));
        } catch (const std::exception& e) {
            st_->log->error("http handler threw", {{"path", request_.path}, {"error", e.what()}});
            if (!answered->exchange(true)) {
                handler_timer_.cancel();
                write(error_response(500, "internal", "internal error"));
            }
        }
    }

    void write(sdk::HttpResponse res) {
        res_ = {};
        res_.version(11);
        res_.result(static_cast<unsigned>(res.status));
        res_.set(http::field::server, "agenthost");
        if (!res.content_type.empty()) {
            res_.set(http::field::content_type, res.content_type);
        }
        for (auto& [k, v] : res.headers) {
            res_.insert(k, v);
        }
        res_.body() = std::move(res.body);
        res_.keep_alive(keep_alive_);
        res_.prepare_payload();
        beast::get_lowest_layer(stream_).expires_after(st_->options.read_timeout);
        http::async_write(
            stream_, res_,
            beast::bind_front_handler(&HttpSession::on_write, this->shared_from_this()));
    }

    void on_write(error_code ec, std::size_t) {
        if (ec) {
            return finish();
        }
        if (linger_) {
            return do_linger();
        }
        if (!keep_alive_) {
            return do_shutdown();
        }
        do_read();
    }

    // After refusing a request whose body is still arriving: closing now would reset
    // the connection and the client would lose the answer, so half-close and discard
    // what is in flight for a bounded time.
    void do_linger() {
        error_code ignored;
        beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
        beast::get_lowest_layer(stream_).async_read_some(
            asio::buffer(discard_),
            beast::bind_front_handler(&HttpSession::on_linger, this->shared_from_this()));
    }

    void on_linger(error_code ec, std::size_t) {
        if (ec) {
            return finish();
        }
        beast::get_lowest_layer(stream_).async_read_some(
            asio::buffer(discard_),
            beast::bind_front_handler(&HttpSession::on_linger, this->shared_from_this()));
    }

    void do_shutdown() {
        if constexpr (kTls) {
            beast::get_lowest_layer(stream_).expires_after(st_->options.read_timeout);
            stream_.async_shutdown(
                beast::bind_front_handler(&HttpSession::on_shutdown, this->shared_from_this()));
        } else {
            error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            finish();
        }
    }

    void on_shutdown(error_code) { finish(); }

    void finish() {
        if (done_) {
            return;
        }
        done_ = true;
        error_code ignored;
        beast::get_lowest_layer(stream_).socket().close(ignored);
        st_->ended(id_);
    }

    std::shared_ptr<HttpServer::State> st_;
    std::uint64_t id_;
    std::shared_ptr<TlsContext> tls_;
    Stream stream_;
    asio::steady_timer handler_timer_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Response res_;
    sdk::HttpRequest request_;
    std::shared_ptr<std::atomic<bool>> answered_;
    std::string remote_;
    std::size_t requests_ = 0;
    bool keep_alive_ = false;
    bool linger_ = false;
    bool done_ = false;
    std::array<char, 4096> discard_{};
};

}  // namespace

void HttpServer::State::do_accept() {
    acceptor.async_accept(asio::make_strand(rt.io()),
                          beast::bind_front_handler(&State::on_accept, shared_from_this()));
}

void HttpServer::State::on_accept(error_code ec, tcp::socket socket) {
    if (!acceptor.is_open() || ec == asio::error::operation_aborted) {
        return;
    }
    if (ec) {
        log->warn("accept failed", {{"error", ec.message()}});
        retry.expires_after(std::chrono::milliseconds(100));
        retry.async_wait([self = shared_from_this()](error_code e) {
            if (!e) {
                self->do_accept();
            }
        });
        return;
    }
    std::shared_ptr<TlsContext> ctx;
    std::uint64_t id = 0;
    bool refuse = false;
    {
        std::lock_guard lock(mu);
        refuse = stopped || closers.size() >= options.max_connections;
        ctx = tls;
        id = next_id++;
    }
    if (refuse) {
        error_code ignored;
        socket.close(ignored);
        return do_accept();
    }
    std::function<void()> closer;
    std::function<void()> run;
    if (ctx) {
        auto s = std::make_shared<HttpSession<TlsStream>>(shared_from_this(), id, ctx,
                                                          std::move(socket), ctx->native());
        closer = [w = std::weak_ptr(s)] {
            if (auto p = w.lock()) {
                p->abort();
            }
        };
        run = [s] { s->run(); };
    } else {
        auto s = std::make_shared<HttpSession<beast::tcp_stream>>(shared_from_this(), id, nullptr,
                                                                  std::move(socket));
        closer = [w = std::weak_ptr(s)] {
            if (auto p = w.lock()) {
                p->abort();
            }
        };
        run = [s] { s->run(); };
    }
    {
        std::lock_guard lock(mu);
        closers.emplace(id, std::move(closer));
    }
    run();
    do_accept();
}

void HttpServer::State::ended(std::uint64_t id) {
    std::lock_guard lock(mu);
    closers.erase(id);
}

HttpServer::HttpServer(runtime::Runtime& runtime, Endpoint endpoint, sdk::Listener kind,
                       std::shared_ptr<TlsContext> tls, AuthHook auth,
                       UnauthorizedHook on_unauthorized, HttpServerOptions options)
    : state_(std::make_shared<State>(runtime, std::move(endpoint), kind, std::move(tls),
                                     std::move(auth), std::move(on_unauthorized), options)) {}

HttpServer::~HttpServer() {
    stop();
}

sdk::Status HttpServer::start() {
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

std::uint16_t HttpServer::port() const {
    return state_->port.load();
}

void HttpServer::set_tls(std::shared_ptr<TlsContext> tls) {
    std::lock_guard lock(state_->mu);
    if (state_->tls) {
        state_->tls = std::move(tls);
    }
}

void HttpServer::stop() {
    auto st = state_;
    std::vector<std::function<void()>> closers;
    {
        std::lock_guard lock(st->mu);
        if (st->stopped) {
            return;
        }
        st->stopped = true;
        for (auto& [id, c] : st->closers) {
            closers.push_back(c);
        }
    }
    asio::post(st->strand, [st] {
        error_code ignored;
        st->acceptor.close(ignored);
        st->retry.cancel();
    });
    for (auto& c : closers) {
        c();
    }
}

}  // namespace agenthost::net
