#pragma once
// End-to-end harness: real processes (the agenthost binary in both roles), a real
// dev PKI made by deploy/pki/dev-pki.sh, real TLS, the operator API through curl.
// Every wait is a condition polled against a deadline, never a bare sleep.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace agenthost::e2e {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string env_or(const char* name, const std::string& fallback);
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content, int mode = 0600);
// Runs a shell command; returns its exit status and captures stdout.
int run(const std::string& command, std::string* out = nullptr);
// Polls `cond` until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 20ms);

// One child process with its output in a log file.
class Process {
public:
    Process() = default;
    Process(std::vector<std::string> argv, std::string log_path);
    ~Process();
    Process(Process&&) noexcept;
    Process& operator=(Process&&) noexcept;

    pid_t pid() const { return pid_; }
    bool running();
    void signal(int sig);
    // Waits for exit; returns the exit code (128+signal when killed), or nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    std::string log() const;

private:
    pid_t pid_ = -1;
    std::string log_path_;
    std::optional<int> status_;
};

// A temp workspace with a PKI, HMAC keys and an operator token.
class Workspace {
public:
    explicit Workspace(std::vector<std::string> agents);
    ~Workspace();
    const std::string& dir() const { return dir_; }
    std::string pki(const std::string& rel) const { return dir_ + "/pki/" + rel; }
    std::string master_key() const { return dir_ + "/keys/k1.key"; }
    std::string agent_key(const std::string& agent);  // derives once via `agenthost keys derive`
    std::string backend_pin();                          // `agenthost pin backend.crt`
    const std::string& token() const { return token_; }
    std::string token_sha256() const;

private:
    std::string dir_;
    std::string token_;
};

struct BackendOptions {
    std::string name = "backend";
    std::size_t queue_max_depth = 1000;
    int ack_timeout_s = 30;
    int max_attempts = 5;
    std::size_t max_frame_bytes = 1 << 20;
    int hello_timeout_s = 10;
    int heartbeat_s = 15;
    std::string extra_yaml;  // appended verbatim
    bool fixed_ports = false;  // pick free ports once so a restart keeps them
    // Storage slots: one `plugins:` entry in flow YAML, e.g.
    // "identity_postgres: { enabled: true, config: { url: ... } }"; empty keeps the
    // embedded default (identity_sqlite, replay_memory, queue_memory, telemetry_sqlite).
    std::string identity_plugin;
    std::string replay_plugin;
    std::string queue_plugin;
    std::string telemetry_plugin;
    // The audit slot, same form; empty: audit_file at <state_dir>/audit.log, unkeyed.
    std::string audit_plugin;
};

// A currently free loopback TCP port (bind to 0, read, close).
std::uint16_t free_port();

struct Ports {
    std::uint16_t agents = 0;
    std::uint16_t admin = 0;
    std::uint16_t health = 0;
};

class Backend {
public:
    Backend(Workspace& ws, BackendOptions opts = {});
    ~Backend();
    void start();          // spawns and waits for ports.json + /readyz
    void stop_graceful();  // SIGTERM, expects exit 0
    void kill9();
    Process& process() { return proc_; }
    const Ports& ports() const { return ports_; }
    std::string state_dir() const;
    std::string audit_log() const { return state_dir() + "/audit.log"; }
    std::string config_path() const { return config_; }

    // Operator API through curl. Returns the HTTP status; body in *body.
    int api(const std::string& method, const std::string& path, const std::string& body = "",
            std::string* response = nullptr,
            const std::vector<std::string>& headers = {}) const;
    json::value api_json(const std::string& method, const std::string& path,
                         const std::string& body = "") const;
    std::string agent_state(const std::string& agent) const;  // online/offline/revoked/""
    std::string command_state(const std::string& id) const;

private:
    Workspace& ws_;
    BackendOptions opts_;
    std::string config_;
    Process proc_;
    Ports ports_;
};

struct GatewayOptions {
    std::string agent = "gw-01";
    std::string name;  // state dir name; default agent
    std::vector<std::string> pins;  // default: the backend's pin
    int collect_interval_s = 1;
    std::string extra_plugins_yaml;
    std::uint16_t port = 0;  // dial this port (e.g. nginx) instead of the backend's own
    std::string reconnect_yaml = "{ initial_ms: 100, max_ms: 1000 }";
    // start() renders the config only the first time: later starts keep the file as a
    // test or a script (certificate rotation) left it.
    bool keep_config = false;
    // gateway.health listener port (0: the OS picks; health_port() reads it back).
    std::uint16_t health_port = 0;
};

class Gateway {
public:
    Gateway(Workspace& ws, const Backend& backend, GatewayOptions opts = {});
    ~Gateway();
    void start();
    void stop_graceful();
    void kill9();
    Process& process() { return proc_; }
    std::string state_dir() const;
    std::string audit_log() const { return state_dir() + "/audit.log"; }
    std::string config_path() const { return config_; }
    // The bound gateway.health port from <state_dir>/ports.json (waits up to 30 s for
    // this run's file); 0 when it never appeared.
    std::uint16_t health_port();

private:
    Workspace& ws_;
    const Backend& backend_;
    GatewayOptions opts_;
    std::string config_;
    Process proc_;
};

// Counts audit records (JSON lines) whose fields match all of `match`.
std::size_t count_audit(const std::string& path, const std::map<std::string, std::string>& match);

}  // namespace agenthost::e2e
