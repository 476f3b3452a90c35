// Gateway connect sequence: resolve → TCP connect → TLS (SNI, hostname/IP check,
// chain against the CA) → SPKI pin check → upgrade with agenthost.v1 → WsSession.
#include "kernel/net/ws_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/connect.hpp>
#include <boost/beast/http.hpp>

#include "kernel/net/detail.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::net {

namespace http = boost::beast::http;
using namespace detail;  // NOLINT(google-build-using-namespace): net-internal types

namespace {

class Connect : public std::enable_shared_from_this<Connect> {
public:
    Connect(runtime::Runtime& rt, WsClient::Url url, std::shared_ptr<TlsContext> tls,
            SessionLimits limits, std::unique_ptr<ConnectionHandler> handler,
            std::function<void(sdk::Status)> failed)
        : metrics_(std::make_shared<NetMetrics>(rt.metrics())),
          url_(std::move(url)),
          tls_(std::move(tls)),
          limits_(limits),
          handler_(std::move(handler)),
          failed_(std::move(failed)),
          resolver_(asio::make_strand(rt.io())),
          ws_(resolver_.get_executor(), tls_->native()),
          timer_(resolver_.get_executor()) {}

    void run() {
        // Resolve, connect and the TLS handshake share one deadline (Beast's own
        // handshake timeout bounds the upgrade that follows).
        timer_.expires_after(limits_.handshake_timeout);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (ec || self->tls_done_) {
                return;  // cancelled (or already queued when the handshake finished)
            }
            self->timed_out_ = true;
            self->resolver_.cancel();
            error_code ignored;
            self->ws_.next_layer().socket().close(ignored);
        });
        resolver_.async_resolve(
            url_.host, url_.port,
            beast::bind_front_handler(&Connect::on_resolve, shared_from_this()));
    }

private:
    void on_resolve(error_code ec, tcp::resolver::results_type results) {
        if (ec) {
            return fail(sdk::Errc::unavailable,
                        "cannot resolve " + url_.host + ": " + why(ec));
        }
        asio::async_connect(
            ws_.next_layer().socket(), results,
            beast::bind_front_handler(&Connect::on_connect, shared_from_this()));
    }

    void on_connect(error_code ec, const tcp::endpoint&) {
        if (ec) {
            return fail(sdk::Errc::unavailable,
                        "cannot connect to " + url_.host + ":" + url_.port + ": " + why(ec));
        }
        // Small frames in request/answer pairs: disable Nagle (delayed-ACK stalls).
        error_code nd_ec;
        ws_.next_layer().socket().set_option(tcp::no_delay(true), nd_ec);
        SSL* ssl = ws_.next_layer().native_handle();
        error_code addr_ec;
        asio::ip::make_address(url_.host, addr_ec);
        if (addr_ec) {
            // A DNS name: send SNI and require it in the certificate's SANs.
            SSL_set_tlsext_host_name(ssl, url_.host.c_str());
            SSL_set1_host(ssl, url_.host.c_str());
        } else {
            // An IP literal: no SNI (RFC 6066); require a matching IP SAN.
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str());
        }
        ws_.next_layer().async_handshake(
            asio::ssl::stream_base::client,
            beast::bind_front_handler(&Connect::on_tls, shared_from_this()));
    }

    void on_tls(error_code ec) {
        SSL* ssl = ws_.next_layer().native_handle();
        if (ec) {
            return fail(sdk::Errc::unavailable,
                        timed_out_ ? "TLS handshake timed out" : tls_failure(ssl, ec));
        }
        tls_done_ = true;
        timer_.cancel();
        if (!tls_->pins().empty()) {
            if (auto msg = check_pins(ssl, tls_->pins()); !msg.empty()) {
                return fail(sdk::Errc::permission_denied, msg);
            }
        }
        auto cert = peer_cert(ssl, "");
        peer_.identity = cert.identity.value_or("");
        peer_.cert_fingerprint = cert.fingerprint;
        peer_.remote_address = remote_address(ws_.next_layer().socket());

        websocket::stream_base::timeout to{};
        to.handshake_timeout = limits_.handshake_timeout;
        to.idle_timeout = websocket::stream_base::none();
        to.keep_alive_pings = false;
        ws_.set_option(to);
        ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(http::field::sec_websocket_protocol, kSubprotocol);
            req.set(http::field::user_agent, "agenthost-gateway");
        }));
        ws_.read_message_max(0);  // WsSession enforces max_message_bytes itself
        std::string host =
            url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
        ws_.async_handshake(res_, host + ":" + url_.port, url_.target,
                            beast::bind_front_handler(&Connect::on_upgrade, shared_from_this()));
    }

    void on_upgrade(error_code ec) {
        if (ec) {
            if (ec == websocket::error::upgrade_declined) {
                return fail(sdk::Errc::unavailable,
                            "upgrade refused: HTTP " + std::to_string(res_.result_int()));
            }
            return fail(sdk::Errc::unavailable, "WebSocket upgrade failed: " + ec.message());
        }
        auto selected = res_[http::field::sec_websocket_protocol];
        if (selected != kSubprotocol) {
            return fail(sdk::Errc::unavailable, "backend did not select subprotocol agenthost.v1");
        }
        auto session = std::make_shared<WsSession>(std::move(ws_), std::move(peer_), limits_, tls_,
                                                   metrics_, nullptr);
        session->start(std::move(handler_));
    }

    std::string why(const error_code& ec) const {
        return timed_out_ ? std::string("timed out") : ec.message();
    }

    void fail(sdk::Errc code, std::string message) {
        timer_.cancel();
        error_code ignored;
        ws_.next_layer().socket().close(ignored);
        if (auto f = std::move(failed_)) {
            f(sdk::error(code, std::move(message)));
        }
    }

    std::shared_ptr<NetMetrics> metrics_;
    WsClient::Url url_;
    std::shared_ptr<TlsContext> tls_;
    SessionLimits limits_;
    std::unique_ptr<ConnectionHandler> handler_;
    std::function<void(sdk::Status)> failed_;
    tcp::resolver resolver_;
    WsStream ws_;
    asio::steady_timer timer_;  // until the TLS handshake is done
    bool timed_out_ = false;
    bool tls_done_ = false;
    websocket::response_type res_;
    PeerInfo peer_;
};

}  // namespace

sdk::Result<WsClient::Url> WsClient::parse_url(const std::string& url) {
    constexpr std::string_view scheme = "wss://";
    if (url.rfind(scheme, 0) != 0) {
        return sdk::error(sdk::Errc::invalid_argument, "url must start with wss://: '" + url + "'");
    }
    std::string_view rest(url);
    rest.remove_prefix(scheme.size());
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    Url out;
    out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    out.port = "443";
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return sdk::error(sdk::Errc::invalid_argument, "bad IPv6 host in '" + url + "'");
        }
        out.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        if (!authority.empty()) {
            if (authority.front() != ':') {
                return sdk::error(sdk::Errc::invalid_argument, "bad authority in '" + url + "'");
            }
            out.port = std::string(authority.substr(1));
        }
    } else {
        auto colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            out.port = std::string(authority.substr(colon + 1));
        }
    }
    if (out.host.empty() || out.port.empty() ||
        out.port.find_first_not_of("0123456789") != std::string::npos) {
        return sdk::error(sdk::Errc::invalid_argument, "bad host or port in '" + url + "'");
    }
    return out;
}

void WsClient::connect(runtime::Runtime& runtime, std::string url, std::shared_ptr<TlsContext> tls,
                       SessionLimits limits, std::unique_ptr<ConnectionHandler> handler,
                       std::function<void(sdk::Status)> on_connect_failed) {
    auto parsed = parse_url(url);
    if (!parsed || !tls || tls->is_server()) {
        auto st = parsed
                      ? sdk::error(sdk::Errc::invalid_argument, "a client TLS context is required")
                      : parsed.status();
        asio::post(runtime.io(), [f = std::move(on_connect_failed), st] {
            if (f) {
                f(st);
            }
        });
        return;
    }
    auto c = std::make_shared<Connect>(runtime, std::move(*parsed), std::move(tls), limits,
                                       std::move(handler), std::move(on_connect_failed));
    c->run();
}

}  // namespace agenthost::net
