#pragma once
// A private nginx for tests: renders deploy/nginx/nginx.conf (the @NAME@ placeholders
// of deploy/nginx/README.md) into a temp prefix, runs the real Debian nginx as a child
// (`nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`), waits until its three ports
// accept connections, and stops it. Header-only and free of Asio so any test can use it.
//
//   testsvc::Nginx nginx({.agent_servers = {"127.0.0.1:" + std::to_string(port)}, ...});
//   nginx.start();   // throws with the error log when nginx does not come up
//   connect to nginx.agent_port() / api_port() / health_port()

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace agenthost::testsvc {

struct NginxOptions {
    // "host:port" of each backend listener; one `server` line each.
    std::vector<std::string> agent_servers;
    std::vector<std::string> api_servers;
    std::vector<std::string> health_servers;
    // Appended to every server line (passive health checks: a dead backend is
    // skipped for fail_timeout after one failed connect).
    std::string server_params = "max_fails=1 fail_timeout=5s";
    int worker_processes = 1;
    std::string template_path;  // default: $AGENTHOST_SOURCE_DIR/deploy/nginx/nginx.conf
    std::string nginx_binary = "/usr/sbin/nginx";
};

class Nginx {
public:
    explicit Nginx(NginxOptions opts) : opts_(std::move(opts)) {
        if (opts_.template_path.empty()) {
            const char* src = std::getenv("AGENTHOST_SOURCE_DIR");
            opts_.template_path = std::string(src ? src : ".") + "/deploy/nginx/nginx.conf";
        }
        const char* tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp ? tmp : "/tmp") + "/agenthost-nginx-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (::mkdtemp(buf.data()) == nullptr) {
            throw std::runtime_error("nginx: mkdtemp failed");
        }
        dir_ = buf.data();
        ::mkdir((dir_ + "/tmp").c_str(), 0700);
    }

    ~Nginx() {
        stop();
        if (const char* keep = std::getenv("AGENTHOST_KEEP_TMP"); keep == nullptr || !*keep) {
            std::string cmd = "rm -rf '" + dir_ + "'";
            [[maybe_unused]] int rc = std::system(cmd.c_str());
        }
    }

    Nginx(const Nginx&) = delete;
    Nginx& operator=(const Nginx&) = delete;

    // Replaces every @NAME@ of `text`; a placeholder left unreplaced is an error, so a
    // template and its renderer can never drift apart silently.
    static std::string render(std::string text, const std::map<std::string, std::string>& vars) {
        for (const auto& [name, value] : vars) {
            const std::string key = "@" + name + "@";
            for (auto pos = text.find(key); pos != std::string::npos;
                 pos = text.find(key, pos + value.size())) {
                text.replace(pos, key.size(), value);
            }
        }
        auto at = text.find('@');
        while (at != std::string::npos) {
            auto end = text.find('@', at + 1);
            if (end == std::string::npos) {
                break;
            }
            std::string name = text.substr(at + 1, end - at - 1);
            bool placeholder = !name.empty();
            for (char c : name) {
                placeholder = placeholder && ((c >= 'A' && c <= 'Z') || c == '_');
            }
            if (placeholder) {
                throw std::runtime_error("nginx template: @" + name + "@ not rendered");
            }
            at = text.find('@', at + 1);
        }
        return text;
    }

    static std::string upstream_lines(const std::vector<std::string>& servers,
                                      const std::string& params) {
        std::string out;
        for (const auto& s : servers) {
            out += "        server " + s + (params.empty() ? "" : " " + params) + ";\n";
        }
        if (!out.empty()) {
            out.pop_back();
        }
        return out;
    }

    // Renders the config with fresh free ports and starts nginx; retries with new
    // ports if one was taken between choosing and binding.
    void start() {
        std::string last_error;
        for (int attempt = 0; attempt < 3; ++attempt) {
            if (attempt == 0 || agent_port_ == 0) {
                agent_port_ = free_port();
                api_port_ = free_port();
                health_port_ = free_port();
            }
            write_config();
            spawn();
            if (wait_ready(std::chrono::seconds(20))) {
                return;
            }
            last_error = error_log();
            stop();
            agent_port_ = 0;
        }
        throw std::runtime_error("nginx did not start:\n" + last_error);
    }

    // SIGQUIT: graceful shutdown (workers finish), then SIGKILL after a deadline.
    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGQUIT);
        if (!wait_exit(std::chrono::seconds(10))) {
            ::kill(pid_, SIGKILL);
            wait_exit(std::chrono::seconds(10));
        }
        pid_ = -1;
    }

    bool running() {
        if (pid_ <= 0) {
            return false;
        }
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        return true;
    }

    std::uint16_t agent_port() const { return agent_port_; }
    std::uint16_t api_port() const { return api_port_; }
    std::uint16_t health_port() const { return health_port_; }
    const std::string& dir() const { return dir_; }
    std::string config_path() const { return dir_ + "/nginx.conf"; }
    std::string error_log() const { return slurp(dir_ + "/error.log") + slurp(dir_ + "/out.log"); }
    std::string stream_access_log() const { return slurp(dir_ + "/stream-access.log"); }

    static std::uint16_t free_port() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        ::close(fd);
        return ntohs(addr.sin_port);
    }

    static bool port_open(std::uint16_t port) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        return ok;
    }

private:
    static std::string slurp(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    void write_config() {
        std::string tmpl = slurp(opts_.template_path);
        if (tmpl.empty()) {
            throw std::runtime_error("nginx template missing: " + opts_.template_path);
        }
        // As root the master switches workers to `user`; root keeps the temp prefix
        // (0700, owned by root) reachable. Unprivileged, nginx ignores the directive.
        std::string user = ::geteuid() == 0 ? "root root" : "nobody";
        std::string conf = render(
            tmpl,
            {{"PREFIX", dir_},
             {"NGINX_USER", user},
             {"WORKER_PROCESSES", std::to_string(opts_.worker_processes)},
             {"LISTEN_ADDRESS", "127.0.0.1"},
             {"AGENT_PORT", std::to_string(agent_port_)},
             {"API_PORT", std::to_string(api_port_)},
             {"HEALTH_PORT", std::to_string(health_port_)},
             {"AGENT_UPSTREAMS", upstream_lines(opts_.agent_servers, opts_.server_params)},
             {"API_UPSTREAMS", upstream_lines(opts_.api_servers, opts_.server_params)},
             {"HEALTH_UPSTREAMS", upstream_lines(opts_.health_servers, opts_.server_params)}});
        std::ofstream out(config_path(), std::ios::trunc);
        out << conf;
    }

    void spawn() {
        ::unlink((dir_ + "/nginx.pid").c_str());
        std::string log = dir_ + "/out.log";
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        std::vector<std::string> argv = {opts_.nginx_binary, "-p", dir_ + "/",   "-c",
                                         config_path(),      "-g", "daemon off;"};
        std::vector<char*> args;
        for (auto& a : argv) {
            args.push_back(a.data());
        }
        args.push_back(nullptr);
        int rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            pid_ = -1;
            throw std::runtime_error("posix_spawn " + opts_.nginx_binary + " failed");
        }
    }

    bool wait_ready(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (!running()) {
                return false;
            }
            if (port_open(agent_port_) && port_open(api_port_) && port_open(health_port_)) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // deadline-bounded poll
        }
        return false;
    }

    bool wait_exit(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int st = 0;
            pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_ || r < 0) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // deadline-bounded poll
        }
        return false;
    }

    NginxOptions opts_;
    std::string dir_;
    pid_t pid_ = -1;
    std::uint16_t agent_port_ = 0;
    std::uint16_t api_port_ = 0;
    std::uint16_t health_port_ = 0;
};

}  // namespace agenthost::testsvc
