#include "tests/e2e/harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace agenthost::e2e {

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : fallback;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& content, int mode) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << content;
    }
    ::chmod(tmp.c_str(), static_cast<mode_t>(mode));
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("rename " + path);
}

int run(const std::string& command, std::string* out) {
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return -1;
    std::string buf;
    std::array<char, 4096> chunk{};
    std::size_t n;
    while ((n = std::fread(chunk.data(), 1, chunk.size(), p)) > 0) buf.append(chunk.data(), n);
    int st = ::pclose(p);
    if (out) *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (cond()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);  // polling interval of a deadline-bounded wait
    }
}

// ---------------------------------------------------------------------------------
Process::Process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("posix_spawn " + argv[0] + " failed");
}

Process::~Process() {
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGKILL);
        wait(5s);
    }
}

Process::Process(Process&& o) noexcept
    : pid_(o.pid_), log_path_(std::move(o.log_path_)), status_(o.status_) {
    o.pid_ = -1;
}

Process& Process::operator=(Process&& o) noexcept {
    if (this != &o) {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, SIGKILL);
            wait(5s);
        }
        pid_ = o.pid_;
        log_path_ = std::move(o.log_path_);
        status_ = o.status_;
        o.pid_ = -1;
    }
    return *this;
}

bool Process::running() {
    if (pid_ <= 0 || status_) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return false;
    }
    return true;
}

void Process::signal(int sig) {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return status_;
    wait_until([&] { return !running(); }, timeout, 10ms);
    return status_;
}

std::string Process::log() const { return read_file(log_path_); }

// ---------------------------------------------------------------------------------
namespace {
std::string bin() { return env_or("AGENTHOST_BIN", "build/bin/agenthost"); }
std::string source_dir() { return env_or("AGENTHOST_SOURCE_DIR", "."); }
std::string plugin_dir() { return env_or("AGENTHOST_PLUGIN_DIR", "build/plugins"); }
// One `plugins:` entry: the chosen one, else the embedded default.
std::string slot(const std::string& chosen, const std::string& fallback) {
    return "  " + (chosen.empty() ? fallback : chosen) + "\n";
}
std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}
}  // namespace

Workspace::Workspace(std::vector<std::string> agents) {
    std::string tmpl = env_or("TMPDIR", "/tmp") + "/agenthost-e2e-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp");
    dir_ = buf.data();
    std::string cmd = source_dir() + "/deploy/pki/dev-pki.sh " + dir_ + "/pki";
    for (auto& a : agents) cmd += " " + a;
    cmd += " >/dev/null 2>&1";
    if (run(cmd) != 0) throw std::runtime_error("dev-pki.sh failed: " + cmd);
    ::mkdir((dir_ + "/keys").c_str(), 0700);
    std::string key;
    run("openssl rand -base64 32", &key);
    write_file(master_key(), key);
    run("openssl rand -hex 24", &token_);
    token_ = trim(token_);
}

Workspace::~Workspace() {
    if (env_or("AGENTHOST_KEEP_TMP", "").empty()) run("rm -rf '" + dir_ + "'");
}

std::string Workspace::agent_key(const std::string& agent) {
    std::string path = dir_ + "/keys/" + agent + ".k1.key";
    if (::access(path.c_str(), F_OK) != 0) {
        std::string out;
        int rc = run(bin() + " keys derive --kid k1 --agent " + agent + " --master " +
                         master_key(),
                     &out);
        if (rc != 0) throw std::runtime_error("keys derive failed");
        write_file(path, out);
    }
    return path;
}

std::string Workspace::backend_pin() {
    std::string out;
    if (run(bin() + " pin " + pki("backend.crt"), &out) != 0) throw std::runtime_error("pin");
    return trim(out);
}

std::string Workspace::token_sha256() const {
    std::string out;
    run("printf '%s' '" + token_ + "' | sha256sum | cut -d' ' -f1", &out);
    return trim(out);
}

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------------------------
Backend::Backend(Workspace& ws, BackendOptions opts) : ws_(ws), opts_(std::move(opts)) {
    std::string state = state_dir();
    std::string p_agents = "0", p_admin = "0", p_health = "0";
    if (opts_.fixed_ports) {
        p_agents = std::to_string(free_port());
        p_admin = std::to_string(free_port());
        p_health = std::to_string(free_port());
    }
    ::mkdir(state.c_str(), 0700);
    std::ostringstream y;
    y << "role: backend\nhost_id: " << opts_.name << "\nstate_dir: " << state << "\n"
      << "log: { level: debug, format: text }\n"
      << "threads: { loop: 2, blocking: 2 }\n"
      << "listen:\n  agents: { address: 127.0.0.1, port: " << p_agents << " }\n"
      << "  admin: { address: 127.0.0.1, port: " << p_admin << " }\n"
      << "  health: { address: 127.0.0.1, port: " << p_health << " }\n"
      << "tls:\n  cert: " << ws_.pki("backend.crt") << "\n  key: " << ws_.pki("backend.key")
      << "\n  client_ca: " << ws_.pki("ca.crt") << "\n"
      << "keys:\n  - { kid: k1, file: " << ws_.master_key() << " }\n"
      << "operators:\n  - { name: tester, token_sha256: " << ws_.token_sha256() << " }\n"
      << "protocol:\n  max_frame_bytes: " << opts_.max_frame_bytes
      << "\n  max_skew_s: 30\n  replay_window_s: 60\n  max_batch_points: 1000\n"
      << "  heartbeat_s: " << opts_.heartbeat_s << "\n  hello_timeout_s: "
      << opts_.hello_timeout_s << "\n  idle_timeout_s: " << opts_.heartbeat_s * 3
      << "\n  lease_s: " << opts_.heartbeat_s * 3 << "\n"
      << "plugin_paths: [ " << plugin_dir() << " ]\n"
      << "plugins:\n"
      << slot(opts_.audit_plugin,
              "audit_file: { enabled: true, config: { path: " + state + "/audit.log } }")
      << slot(opts_.identity_plugin, "identity_sqlite: { enabled: true, config: {} }")
      << slot(opts_.replay_plugin,
              "replay_memory: { enabled: true, config: { capacity: 100000 } }")
      << slot(opts_.queue_plugin,
              "queue_memory: { enabled: true, config: { max_depth: " +
                  std::to_string(opts_.queue_max_depth) +
                  ", ack_timeout_s: " + std::to_string(opts_.ack_timeout_s) +
                  ", max_attempts: " + std::to_string(opts_.max_attempts) + " } }")
      << slot(opts_.telemetry_plugin, "telemetry_sqlite: { enabled: true, config: {} }")
      << "  health_http: { enabled: true, config: {} }\n"
      << opts_.extra_yaml;
    config_ = ws_.dir() + "/" + opts_.name + ".yaml";
    write_file(config_, y.str());
}

Backend::~Backend() = default;

std::string Backend::state_dir() const { return ws_.dir() + "/" + opts_.name; }

void Backend::start() {
    std::string ports_file = state_dir() + "/ports.json";
    ::unlink(ports_file.c_str());
    proc_ = Process({bin(), "run", "-c", config_}, ws_.dir() + "/" + opts_.name + ".log");
    bool up = wait_until(
        [&] {
            if (!proc_.running()) return true;
            std::string s = read_file(ports_file);
            if (s.empty()) return false;
            try {
                auto v = json::parse(s).as_object();
                ports_.agents = static_cast<std::uint16_t>(v.at("agents").to_number<int>());
                ports_.admin = static_cast<std::uint16_t>(v.at("admin").to_number<int>());
                ports_.health = static_cast<std::uint16_t>(v.at("health").to_number<int>());
                return true;
            } catch (...) {
                return false;
            }
        },
        30s);
    if (!up || !proc_.running()) {
        throw std::runtime_error("backend did not start:\n" + proc_.log());
    }
    bool ready = wait_until(
        [&] {
            return run("curl -fsS -o /dev/null http://127.0.0.1:" + std::to_string(ports_.health) +
                       "/readyz") == 0;
        },
        30s, 50ms);
    if (!ready) throw std::runtime_error("backend never ready:\n" + proc_.log());
}

void Backend::stop_graceful() {
    proc_.signal(SIGTERM);
    auto rc = proc_.wait(30s);
    if (!rc || *rc != 0) {
        throw std::runtime_error("backend did not exit 0 on SIGTERM:\n" + proc_.log());
    }
}

void Backend::kill9() {
    proc_.signal(SIGKILL);
    proc_.wait(10s);
}

int Backend::api(const std::string& method, const std::string& path, const std::string& body,
                 std::string* response, const std::vector<std::string>& headers) const {
    std::string body_file = ws_.dir() + "/req.json";
    std::string cmd = "curl -sS -o " + ws_.dir() + "/resp." + std::to_string(::getpid()) +
                      " -w '%{http_code}' --cacert " + ws_.pki("ca.crt") + " -X " + method +
                      " -H 'Authorization: Bearer " + ws_.token() + "'";
    for (auto& h : headers) cmd += " -H '" + h + "'";
    if (!body.empty()) {
        write_file(body_file, body, 0600);
        cmd += " -H 'Content-Type: application/json' --data-binary @" + body_file;
    }
    cmd += " 'https://127.0.0.1:" + std::to_string(ports_.admin) + path + "'";
    std::string code;
    run(cmd, &code);
    if (response) *response = read_file(ws_.dir() + "/resp." + std::to_string(::getpid()));
    try {
        return std::stoi(code);
    } catch (...) {
        return 0;
    }
}

json::value Backend::api_json(const std::string& method, const std::string& path,
                              const std::string& body) const {
    std::string resp;
    api(method, path, body, &resp);
    boost::system::error_code ec;
    auto v = json::parse(resp, ec);
    return ec ? json::value() : v;
}

std::string Backend::agent_state(const std::string& agent) const {
    auto v = api_json("GET", "/api/v1/agents/" + agent);
    if (!v.is_object() || !v.as_object().contains("state")) return "";
    return json::value_to<std::string>(v.at("state"));
}

std::string Backend::command_state(const std::string& id) const {
    auto v = api_json("GET", "/api/v1/commands/" + id);
    if (!v.is_object() || !v.as_object().contains("state")) return "";
    return json::value_to<std::string>(v.at("state"));
}

// ---------------------------------------------------------------------------------
Gateway::Gateway(Workspace& ws, const Backend& backend, GatewayOptions opts)
    : ws_(ws), backend_(backend), opts_(std::move(opts)) {
    if (opts_.name.empty()) opts_.name = opts_.agent;
    if (opts_.pins.empty()) opts_.pins.push_back(ws_.backend_pin());
    ::mkdir(state_dir().c_str(), 0700);
    config_ = ws_.dir() + "/" + opts_.name + ".yaml";
}

Gateway::~Gateway() = default;

std::string Gateway::state_dir() const { return ws_.dir() + "/" + opts_.name; }

void Gateway::start() {
    if (opts_.keep_config && ::access(config_.c_str(), F_OK) == 0) {
        proc_ = Process({bin(), "run", "-c", config_}, ws_.dir() + "/" + opts_.name + ".log");
        return;
    }
    // Rendered at start: the backend's port is known only once it runs.
    std::ostringstream y;
    y << "role: gateway\nhost_id: " << opts_.name << "\nstate_dir: " << state_dir() << "\n"
      << "log: { level: debug, format: text }\n"
      << "threads: { loop: 1, blocking: 2 }\n"
      << "protocol:\n  max_skew_s: 30\n  replay_window_s: 60\n  heartbeat_s: 15\n"
      << "  idle_timeout_s: 45\n"
      << "gateway:\n  agent_id: " << opts_.agent << "\n  url: wss://127.0.0.1:"
      << (opts_.port != 0 ? opts_.port : backend_.ports().agents)
      << "/agent/v1\n  ca: " << ws_.pki("ca.crt")
      << "\n  cert: " << ws_.pki("agents/" + opts_.agent + ".crt")
      << "\n  key: " << ws_.pki("agents/" + opts_.agent + ".key") << "\n  pins: [";
    for (std::size_t i = 0; i < opts_.pins.size(); ++i) {
        y << (i ? ", " : " ") << "\"" << opts_.pins[i] << "\"";
    }
    y << " ]\n  kid: k1\n  key_file: " << ws_.agent_key(opts_.agent) << "\n"
      << "  reconnect: " << opts_.reconnect_yaml << "\n"
      << "  health: { address: 127.0.0.1, port: " << opts_.health_port << " }\n"
      << "plugin_paths: [ " << plugin_dir() << " ]\n"
      << "plugins:\n"
      << "  audit_file: { enabled: true, config: { path: " << state_dir() << "/audit.log } }\n"
      << "  replay_memory: { enabled: true, config: { capacity: 100000 } }\n"
      << "  exec_builtin: { enabled: true, config: {} }\n"
      << "  collect_sys: { enabled: true, config: { interval_s: " << opts_.collect_interval_s
      << " } }\n"
      << opts_.extra_plugins_yaml;
    write_file(config_, y.str());
    proc_ = Process({bin(), "run", "-c", config_}, ws_.dir() + "/" + opts_.name + ".log");
}

std::uint16_t Gateway::health_port() {
    const std::string file = state_dir() + "/ports.json";
    std::uint16_t port = 0;
    wait_until(
        [&] {
            try {
                auto v = json::parse(read_file(file)).as_object();
                if (v.at("pid").to_number<int>() != proc_.pid()) return false;  // a stale file
                port = static_cast<std::uint16_t>(v.at("health").to_number<int>());
                return true;
            } catch (...) {
                return false;
            }
        },
        30s);
    return port;
}

void Gateway::stop_graceful() {
    proc_.signal(SIGTERM);
    auto rc = proc_.wait(30s);
    if (!rc || *rc != 0) {
        throw std::runtime_error("gateway did not exit 0 on SIGTERM:\n" + proc_.log());
    }
}

void Gateway::kill9() {
    proc_.signal(SIGKILL);
    proc_.wait(10s);
}

std::size_t count_audit(const std::string& path, const std::map<std::string, std::string>& match) {
    std::istringstream in(read_file(path));
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        boost::system::error_code ec;
        auto v = json::parse(line, ec);
        if (ec || !v.is_object()) continue;
        bool ok = true;
        for (auto& [k, want] : match) {
            auto* f = v.as_object().if_contains(k);
            if (!f || !f->is_string() || f->as_string() != want) {
                ok = false;
                break;
            }
        }
        n += ok;
    }
    return n;
}

}  // namespace agenthost::e2e
