#pragma once
// Real PostgreSQL and Redis servers for integration and fault tests, driven through
// scripts/test-services.sh (loopback, a free port, a private data directory).
//
//  - shared_postgres_url() / shared_redis_url(): the instance `make test` starts once
//    for the `postgres` / `redis` labels (a CTest fixture writes its URL under
//    $AGENTHOST_TEST_SERVICES_DIR); when a test runs on its own, a process-private
//    instance started on first use and removed at exit.
//  - fresh_postgres_database(): a new, empty database on the shared instance, so tests
//    that share the server never see each other's rows.
//  - PostgresServer / RedisServer: a private instance a fault test may stop and start.
// Failures throw std::runtime_error with the script's output: a test that cannot get
// its server fails loudly, it never skips.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

namespace agenthost::testsvc {

namespace detail {

inline std::string source_dir() {
    if (const char* s = std::getenv("AGENTHOST_SOURCE_DIR"); s != nullptr && *s != '\0') {
        return s;
    }
#ifdef AGENTHOST_TEST_SOURCE_DIR
    return AGENTHOST_TEST_SOURCE_DIR;
#else
    throw std::runtime_error("AGENTHOST_SOURCE_DIR is not set");
#endif
}

inline std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

// Runs a shell command; returns stdout+stderr, throws on a non-zero exit.
inline std::string run(const std::string& command) {
    std::string full = command + " 2>&1";
    FILE* pipe = ::popen(full.c_str(), "r");
    if (pipe == nullptr) {
        throw std::runtime_error("popen failed: " + command);
    }
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) {
        out.append(buf, n);
    }
    int status = ::pclose(pipe);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error("command failed: " + command + "\n" + out);
    }
    return out;
}

inline std::string read_trimmed(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

inline std::string script(const std::string& action, const std::string& kind,
                          const std::string& dir) {
    return run("bash " + quote(source_dir() + "/scripts/test-services.sh") + " " + action +
               " " + kind + " " + quote(dir));
}

inline std::string random_suffix() {
    std::random_device rd;
    std::mt19937_64 gen(rd());
    static const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s;
    for (int i = 0; i < 12; ++i) {
        s += alphabet[gen() % 36];
    }
    return s;
}

}  // namespace detail

// One private server. Movable, not copyable; destroyed (stopped, data removed) with
// the object.
class ServiceInstance {
public:
    explicit ServiceInstance(std::string kind) : kind_(std::move(kind)) {
        char tmpl[] = "/tmp/agenthost-svc.XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        root_ = tmpl;
        dir_ = root_ + "/" + kind_;
        detail::script("start", kind_, dir_);
        url_ = detail::read_trimmed(dir_ + "/url");
        port_ = static_cast<std::uint16_t>(std::stoi(detail::read_trimmed(dir_ + "/port")));
    }
    ~ServiceInstance() {
        if (root_.empty()) {
            return;
        }
        try {
            detail::script("destroy", kind_, dir_);
        } catch (...) {
            // Best effort at teardown; the data lives under /tmp.
        }
        ::rmdir(root_.c_str());
    }
    ServiceInstance(const ServiceInstance&) = delete;
    ServiceInstance& operator=(const ServiceInstance&) = delete;

    const std::string& url() const { return url_; }
    std::uint16_t port() const { return port_; }
    const std::string& dir() const { return dir_; }
    // Stops the server; the data and port are kept for start().
    void stop() { detail::script("stop", kind_, dir_); }
    // Starts it again on the same port with the same data.
    void start() { detail::script("restart", kind_, dir_); }

private:
    std::string kind_;
    std::string root_;
    std::string dir_;
    std::string url_;
    std::uint16_t port_ = 0;
};

class PostgresServer : public ServiceInstance {
public:
    PostgresServer() : ServiceInstance("postgres") {}
};

class RedisServer : public ServiceInstance {
public:
    RedisServer() : ServiceInstance("redis") {}
};

namespace detail {

inline std::string shared_url(const std::string& kind) {
    if (const char* d = std::getenv("AGENTHOST_TEST_SERVICES_DIR"); d != nullptr && *d != '\0') {
        std::string url = read_trimmed(std::string(d) + "/" + kind + "/url");
        if (!url.empty()) {
            return url;
        }
    }
    // Not under `make test`/ctest with the fixture: one private instance per process,
    // removed by its static destructor at exit.
    if (kind == "postgres") {
        static PostgresServer pg;
        return pg.url();
    }
    static RedisServer redis;
    return redis.url();
}

}  // namespace detail

inline std::string shared_postgres_url() { return detail::shared_url("postgres"); }
inline std::string shared_redis_url() { return detail::shared_url("redis"); }

// Replaces the database name of a postgresql:// URL.
inline std::string with_database(const std::string& url, const std::string& db) {
    auto slash = url.rfind('/');
    if (slash == std::string::npos || slash < std::string("postgresql://").size()) {
        throw std::runtime_error("not a postgresql URL: " + url);
    }
    return url.substr(0, slash + 1) + db;
}

// A new empty database on `server_url` (default: the shared instance); its URL.
inline std::string fresh_postgres_database(std::string server_url = {}) {
    if (server_url.empty()) {
        server_url = shared_postgres_url();
    }
    std::string name = "t_" + detail::random_suffix();
    detail::run("psql -q -v ON_ERROR_STOP=1 " + detail::quote(server_url) +
                " -c " + detail::quote("CREATE DATABASE " + name));
    return with_database(server_url, name);
}

// A key prefix unique to this call, for tests sharing one Redis.
inline std::string fresh_redis_prefix() { return "t" + detail::random_suffix() + ":"; }

}  // namespace agenthost::testsvc
