#pragma once
// TLS contexts for the listeners and the gateway client (PROTOCOL.md §1).
// A TlsContext is immutable once built and shared: listeners hold a shared_ptr and
// every connection keeps the one it was accepted with, so a certificate reload is
// "build a new context, hand it to the listener" without touching live sessions.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <agenthost/status.hpp>

namespace boost::asio::ssl {
class context;
}

namespace agenthost::net {

struct TlsServerOptions {
    std::string cert_file;            // PEM: leaf first, then intermediates
    std::string key_file;             // PEM private key
    std::string client_ca_file;       // empty: no client certificate asked (admin HTTPS)
    std::string min_version = "1.3";  // "1.3" | "1.2" (1.2 only with ECDHE + AEAD)
};

struct TlsClientOptions {
    std::string ca_file;    // trust anchor(s) for the backend chain
    std::string cert_file;  // client certificate (the agent identity)
    std::string key_file;
    // SPKI pins ("sha256/<base64>"); non-empty: some certificate of the verified chain
    // must carry one of them. Empty: chain validation only.
    std::vector<std::string> pins;
    std::string min_version = "1.3";
};

class TlsContext {
public:
    static sdk::Result<std::shared_ptr<TlsContext>> make_server(const TlsServerOptions& options);
    static sdk::Result<std::shared_ptr<TlsContext>> make_client(const TlsClientOptions& options);

    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    boost::asio::ssl::context& native();
    const std::vector<std::string>& pins() const noexcept;
    bool is_server() const noexcept;

    // The context's own leaf certificate (the served one, or the client identity):
    // its validity end as Unix seconds and its SPKI pin; 0 / "" when it has none.
    // Fixed at construction, so a reload compares old and new contexts cheaply.
    std::int64_t not_after_unix() const noexcept;
    const std::string& leaf_pin() const noexcept;

private:
    struct Impl;
    explicit TlsContext(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace agenthost::net
