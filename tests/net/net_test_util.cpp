#include "tests/net/net_test_util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace agenthost::net::test {

namespace fs = std::filesystem;

namespace {

void run_or_throw(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) {  // NOLINT(cert-env33-c): test fixture
        throw std::runtime_error("failed: " + cmd);
    }
}

std::string script() {
    const char* s = std::getenv("AGENTHOST_DEV_PKI");
    return s != nullptr ? s : "deploy/pki/dev-pki.sh";
}

struct TempPki {
    explicit TempPki(bool full) {
        char tmpl[] = "/tmp/ah-net-pki-XXXXXX";
        const char* base = ::mkdtemp(tmpl);
        if (base == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        pki.dir = std::string(base) + "/pki";
        run_or_throw(script() + " " + pki.dir + " gw-01 gw-02 >/dev/null");
        if (full) {
            run_or_throw(script() + " --expired " + pki.dir + " gw-01 >/dev/null");
            run_or_throw(script() + " --unchecked " + pki.dir + " Bad_Agent >/dev/null");
        }
    }
    ~TempPki() {
        std::error_code ec;
        fs::remove_all(fs::path(pki.dir).parent_path(), ec);
    }
    Pki pki;
};

}  // namespace

const Pki& Pki::main() {
    static TempPki p(true);
    return p.pki;
}

const Pki& Pki::other() {
    static TempPki p(false);
    return p.pki;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return pred();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling, not sync
    }
    return true;
}

RawConn::RawConn(unsigned short port, const Tls* tls) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        error_ = "connect failed";
        return;
    }
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (tls != nullptr) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_load_verify_locations(ctx_, tls->ca.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        if (!tls->cert.empty()) {
            SSL_CTX_use_certificate_chain_file(ctx_, tls->cert.c_str());
            SSL_CTX_use_PrivateKey_file(ctx_, tls->key.c_str(), SSL_FILETYPE_PEM);
        }
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        if (SSL_connect(ssl_) != 1) {
            char buf[256];
            ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
            error_ = std::string("TLS handshake failed: ") + buf;
            return;
        }
    }
    ok_ = true;
}

RawConn::~RawConn() {
    if (ssl_ != nullptr) {
        SSL_free(ssl_);
    }
    if (ctx_ != nullptr) {
        SSL_CTX_free(ctx_);
    }
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool RawConn::write(const std::string& bytes) {
    if (ssl_ != nullptr) {
        return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
               static_cast<int>(bytes.size());
    }
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
}

int RawConn::read_some(char* buf, int n) {
    if (ssl_ != nullptr) {
        return SSL_read(ssl_, buf, n);
    }
    return static_cast<int>(::recv(fd_, buf, static_cast<std::size_t>(n), 0));
}

std::string RawConn::read_until(const std::string& marker, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out = std::move(pending_);
    pending_.clear();
    char buf[4096];
    while (out.find(marker) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        int n = read_some(buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

std::string RawConn::read_n(std::size_t n, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out = std::move(pending_);
    pending_.clear();
    char buf[4096];
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
        int got =
            read_some(buf, static_cast<int>(std::min<std::size_t>(sizeof(buf), n - out.size())));
        if (got <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(got));
    }
    if (out.size() > n) {
        pending_ = out.substr(n);
        out.resize(n);
    }
    return out;
}

void RawConn::tls_shutdown() {
    if (ssl_ != nullptr) {
        SSL_shutdown(ssl_);
    }
    // The server's TCP teardown reads until our FIN.
    ::shutdown(fd_, SHUT_WR);
}

bool RawConn::wait_closed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
        int n = read_some(buf, sizeof(buf));
        if (n == 0) {
            return true;
        }
        if (n < 0) {
            if (ssl_ == nullptr && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                continue;
            }
            if (ssl_ != nullptr) {
                int err = SSL_get_error(ssl_, n);
                if (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    continue;
                }
            }
            return true;
        }
    }
    return false;
}

std::string upgrade_request(const std::string& target, const std::string& protocols,
                            const std::string& extra_headers) {
    std::string req = "GET " + target +
                      " HTTP/1.1\r\nHost: localhost\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n";
    if (!protocols.empty()) {
        req += "Sec-WebSocket-Protocol: " + protocols + "\r\n";
    }
    return req + extra_headers + "\r\n";
}

int status_of(const std::string& response) {
    if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) {
        return 0;
    }
    return std::atoi(response.substr(9, 3).c_str());
}

std::string client_frame(unsigned opcode, const std::string& payload) {
    std::string f;
    f += static_cast<char>(0x80 | opcode);
    const unsigned char mask[4] = {0x11, 0x22, 0x33, 0x44};
    if (payload.size() < 126) {
        f += static_cast<char>(0x80 | payload.size());
    } else if (payload.size() <= 0xffff) {
        f += static_cast<char>(0x80 | 126);
        f += static_cast<char>((payload.size() >> 8) & 0xff);
        f += static_cast<char>(payload.size() & 0xff);
    } else {
        f += static_cast<char>(0x80 | 127);
        for (int i = 7; i >= 0; --i) {
            f += static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> (8 * i)) & 0xff);
        }
    }
    f.append(reinterpret_cast<const char*>(mask), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        f += static_cast<char>(payload[i] ^ mask[i % 4]);
    }
    return f;
}

}  // namespace agenthost::net::test
