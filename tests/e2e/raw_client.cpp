#include "tests/e2e/raw_client.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <chrono>
#include <stdexcept>

namespace agenthost::e2e {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ws = beast::websocket;
namespace json = boost::json;

namespace {

std::string b64(const std::string& in, bool url) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    if (url) {
        while (!out.empty() && out.back() == '=') out.pop_back();
        for (auto& c : out) {
            if (c == '+') c = '-';
            if (c == '/') c = '_';
        }
    }
    return out;
}

std::string unb64url(std::string s) {
    for (auto& c : s) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    while (s.size() % 4) s.push_back('=');
    std::string out(s.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
    if (n < 0) return {};
    std::size_t pad = 0;
    while (pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::string uuid() {
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    char buf[37];
    std::snprintf(buf, sizeof buf,
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                  b[14], b[15]);
    return buf;
}

}  // namespace

std::string derive_key(const std::string& master_b64, const std::string& agent) {
    std::string m = master_b64;
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    std::string master(m.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(master.data()),
                            reinterpret_cast<const unsigned char*>(m.data()),
                            static_cast<int>(m.size()));
    std::size_t pad = 0;
    while (pad < m.size() && m[m.size() - 1 - pad] == '=') ++pad;
    master.resize(static_cast<std::size_t>(n) - pad);

    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    std::string salt = "agenthost.v1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, master.data(), master.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(agent.data()),
                                          agent.size()),
        OSSL_PARAM_construct_end()};
    std::string out(32, '\0');
    EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), out.size(), params);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return out;
}

std::string sign_frame(const std::string& key, const std::string& kid,
                       const json::object& payload) {
    json::object header{{"alg", "HS256"}, {"kid", kid}, {"typ", "agenthost.v1"}};
    std::string input = b64(json::serialize(header), true) + "." +
                        b64(json::serialize(payload), true);
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return input + "." + b64(std::string(reinterpret_cast<char*>(mac), len), true);
}

json::object envelope(const std::string& type, const std::string& agent, json::object body) {
    unsigned char nonce[16];
    RAND_bytes(nonce, sizeof nonce);
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    return json::object{{"v", 1},
                        {"type", type},
                        {"id", uuid()},
                        {"agent", agent},
                        {"ts", now},
                        {"nonce", b64(std::string(reinterpret_cast<char*>(nonce), 16), true)},
                        {"body", std::move(body)}};
}

json::object frame_payload(const std::string& frame) {
    auto a = frame.find('.');
    auto b = frame.find('.', a + 1);
    if (a == std::string::npos || b == std::string::npos) return {};
    boost::system::error_code ec;
    auto v = json::parse(unb64url(frame.substr(a + 1, b - a - 1)), ec);
    return ec || !v.is_object() ? json::object{} : v.as_object();
}

struct RawAgentClient::Impl {
    asio::io_context io;
    asio::ssl::context ssl{asio::ssl::context::tls_client};
    std::unique_ptr<ws::stream<beast::ssl_stream<beast::tcp_stream>>> stream;
};

RawAgentClient::RawAgentClient(std::string ca, std::string cert, std::string key)
    : impl_(std::make_unique<Impl>()) {
    impl_->ssl.load_verify_file(ca);
    impl_->ssl.set_verify_mode(asio::ssl::verify_peer);
    if (!cert.empty()) {
        impl_->ssl.use_certificate_chain_file(cert);
        impl_->ssl.use_private_key_file(key, asio::ssl::context::pem);
    }
}

RawAgentClient::~RawAgentClient() = default;

void RawAgentClient::connect(std::uint16_t port) {
    auto& s = impl_->stream;
    s = std::make_unique<ws::stream<beast::ssl_stream<beast::tcp_stream>>>(impl_->io, impl_->ssl);
    auto& tcp = beast::get_lowest_layer(*s);
    tcp.expires_after(std::chrono::seconds(10));
    tcp.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    SSL_set_tlsext_host_name(s->next_layer().native_handle(), "localhost");
    s->next_layer().handshake(asio::ssl::stream_base::client);
    tcp.expires_never();
    s->set_option(ws::stream_base::decorator([](ws::request_type& req) {
        req.set(beast::http::field::sec_websocket_protocol, "agenthost.v1");
    }));
    ws::response_type res;
    s->handshake(res, "localhost", "/agent/v1");
    s->text(true);
    s->read_message_max(64 << 20);
}

void RawAgentClient::send_text(const std::string& text) {
    impl_->stream->text(true);
    impl_->stream->write(asio::buffer(text));
}

void RawAgentClient::send_binary(const std::string& bytes) {
    impl_->stream->binary(true);
    impl_->stream->write(asio::buffer(bytes));
}

std::optional<RawFrame> RawAgentClient::read(std::chrono::milliseconds timeout) {
    auto& s = *impl_->stream;
    beast::flat_buffer buf;
    std::optional<RawFrame> out;
    bool done = false;
    s.async_read(buf, [&](beast::error_code ec, std::size_t) {
        done = true;
        if (!ec) {
            out = RawFrame{beast::buffers_to_string(buf.data()), std::nullopt};
        } else if (ec == ws::error::closed) {
            out = RawFrame{"", static_cast<std::uint16_t>(s.reason().code)};
        } else {
            out = RawFrame{"", static_cast<std::uint16_t>(1006)};
        }
    });
    impl_->io.restart();
    impl_->io.run_for(timeout);
    if (!done) {
        // Abandon the pending read: tear the transport down so the handler completes.
        beast::get_lowest_layer(s).close();
        impl_->io.restart();
        impl_->io.run_for(std::chrono::seconds(1));
        return std::nullopt;
    }
    return out;
}

std::optional<std::uint16_t> RawAgentClient::wait_close(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto f = read(left);
        if (!f) return std::nullopt;
        if (f->close_code) return f->close_code;
    }
    return std::nullopt;
}

}  // namespace agenthost::e2e
