#pragma once
// Helpers for the net/ integration tests: a dev PKI made once per test binary, a
// condition wait with a deadline, and a blocking raw TCP/TLS client (OpenSSL only,
// no Beast) for the cases the real client deliberately cannot produce.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;  // NOLINT(modernize-use-using)
typedef struct ssl_st SSL;          // NOLINT(modernize-use-using)

namespace agenthost::net::test {

// OUTDIR of `dev-pki.sh OUTDIR gw-01 gw-02` plus the --expired gw-01 and --unchecked
// Bad_Agent certificates; `other()` is a second, unrelated PKI. Removed at exit.
struct Pki {
    std::string dir;
    std::string ca() const { return dir + "/ca.crt"; }
    std::string backend_crt() const { return dir + "/backend.crt"; }
    std::string backend_key() const { return dir + "/backend.key"; }
    std::string agent_crt(const std::string& id) const { return dir + "/agents/" + id + ".crt"; }
    std::string agent_key(const std::string& id) const { return dir + "/agents/" + id + ".key"; }
    static const Pki& main();
    static const Pki& other();
};

// Polls `pred` until it holds or `timeout` passes; returns the last result.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A blocking client socket with a receive timeout; TLS when a CA is given.
class RawConn {
public:
    struct Tls {
        std::string ca;
        std::string cert;  // empty: no client certificate
        std::string key;
    };
    // Connects to 127.0.0.1:port (and does the TLS handshake when `tls` is set).
    // ok() tells whether it worked; error() says why not.
    RawConn(unsigned short port, const Tls* tls);
    ~RawConn();
    bool ok() const { return ok_; }
    const std::string& error() const { return error_; }
    bool write(const std::string& bytes);
    // Reads until `marker` is in the data read so far, EOF or timeout; returns all data.
    std::string read_until(const std::string& marker,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Reads exactly n bytes (less on EOF/timeout).
    std::string read_n(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Sends TLS close_notify and a TCP FIN (what a WebSocket client does after the
    // close frames).
    void tls_shutdown();
    // True when the peer closed (EOF, reset or TLS alert) within `timeout`.
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));

private:
    int read_some(char* buf, int n);
    int fd_ = -1;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    bool ok_ = false;
    std::string error_;
    std::string pending_;
};

// A WebSocket upgrade request for /agent/v1-style tests.
std::string upgrade_request(const std::string& target, const std::string& protocols,
                            const std::string& extra_headers = "");
// The status code of an HTTP response head ("HTTP/1.1 404 ..." → 404), 0 if none.
int status_of(const std::string& response);
// One masked client frame (RFC 6455 §5.2) with FIN set.
std::string client_frame(unsigned opcode, const std::string& payload);

}  // namespace agenthost::net::test
