// run_backend(): the backend process from a validated config to a clean exit.
//   keys → plugins (prepare, loop up, start) → operator API + /livez → listeners →
//   ports.json → wait for a signal → drain (readiness first, agents 1001, listeners,
//   plugins) → exit 0, all within a bounded time.
// Signals are taken with sigwait() on the main thread (blocked everywhere else), so
// no Asio is needed here and every lifecycle call runs on this one thread.
#include "kernel/backend/backend_app.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <boost/json/serialize.hpp>

#include "kernel/api/operator_api.hpp"
#include "kernel/api/operator_auth.hpp"
#include "kernel/backend/agent_session.hpp"
#include "kernel/crypto/keyring.hpp"
#include "kernel/net/agent_server.hpp"
#include "kernel/net/http_server.hpp"
#include "kernel/plugin/loader.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::backend {

namespace {

using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
constexpr auto kDrainTimeout = 10s;
// Past this after a stop signal the process exits regardless (a stuck plugin).
constexpr auto kShutdownDeadline = 30s;

const std::vector<std::string> kRequiredCapabilities = {"identity", "replay", "queue", "telemetry",
                                                        "audit"};

void print_error(const std::string& what) {
    std::fprintf(stderr, "backend: %s\n", what.c_str());
}

runtime::RuntimeOptions runtime_options(const config::KernelConfig& cfg) {
    runtime::RuntimeOptions o;
    o.loop_threads = cfg.loop_threads;
    o.blocking_threads = cfg.blocking_threads;
    o.log_level = cfg.log_level;
    o.log_format = cfg.log_format;
    o.host_id = cfg.host_id;
    o.role = "backend";
    return o;
}

SessionConfig session_config(const config::KernelConfig& cfg) {
    SessionConfig s;
    s.host_id = cfg.host_id;
    s.max_frame_bytes = cfg.protocol.max_frame_bytes;
    s.max_skew_ms = cfg.protocol.max_skew_s * 1000;
    s.replay_window_ms = cfg.protocol.replay_window_s * 1000;
    s.max_batch_points = cfg.protocol.max_batch_points;
    s.heartbeat_s = cfg.protocol.heartbeat_s;
    s.hello_timeout = std::chrono::milliseconds(cfg.protocol.hello_timeout_s * 1000);
    s.lease = std::chrono::milliseconds(cfg.protocol.lease_s * 1000);
    return s;
}

net::SessionLimits session_limits(const config::KernelConfig& cfg) {
    net::SessionLimits l;
    l.max_message_bytes = cfg.protocol.max_frame_bytes;
    l.max_write_queue = cfg.limits.write_queue;
    l.heartbeat = std::chrono::seconds(cfg.protocol.heartbeat_s);
    l.idle_timeout = std::chrono::seconds(cfg.protocol.idle_timeout_s);
    return l;
}

// Writes <state_dir>/ports.json by rename, so a reader never sees half a file.
sdk::Status write_ports(const std::string& state_dir, std::uint16_t agents, std::uint16_t admin,
                        std::uint16_t health) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(state_dir, ec);
    const fs::path final_path = fs::path(state_dir) / "ports.json";
    const fs::path tmp = fs::path(state_dir) / ("ports.json.tmp." + std::to_string(getpid()));
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << boost::json::serialize(
                   boost::json::object{{"agents", agents},
                                       {"admin", admin},
                                       {"health", health},
                                       {"pid", static_cast<std::int64_t>(getpid())}})
            << "\n";
        out.flush();
        if (!out) {
            return sdk::error(sdk::Errc::unavailable, "cannot write " + tmp.string());
        }
    }
    fs::rename(tmp, final_path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return sdk::error(sdk::Errc::unavailable, "cannot write " + final_path.string());
    }
    return {};
}

sdk::Result<crypto::Keyring> load_keyring(const config::KernelConfig& cfg) {
    std::map<std::string, std::string> masters;
    for (const auto& [kid, file] : cfg.master_key_files) {
        auto key = crypto::read_key_file(file);
        if (!key.ok()) {
            return sdk::Status(sdk::Errc::invalid_argument,
                               "keys." + kid + ": " + key.status().message());
        }
        masters.emplace(kid, std::move(*key));
    }
    if (masters.empty()) {
        return sdk::Status(sdk::Errc::invalid_argument, "keys: no master key configured");
    }
    return crypto::Keyring::from_masters(std::move(masters));
}

// Blocks the stop/reload signals in this thread and every thread started after.
class SignalMask {
public:
    SignalMask() {
        sigemptyset(&set_);
        sigaddset(&set_, SIGINT);
        sigaddset(&set_, SIGTERM);
        sigaddset(&set_, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set_, &old_);
        ::signal(SIGPIPE, SIG_IGN);
    }
    ~SignalMask() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    SignalMask(const SignalMask&) = delete;
    SignalMask& operator=(const SignalMask&) = delete;
    int wait() const {
        int sig = 0;
        while (sigwait(&set_, &sig) != 0) {
        }
        return sig;
    }

private:
    sigset_t set_;
    sigset_t old_;
};

// Ends the process if shutdown overruns its deadline.
class ShutdownWatchdog {
public:
    explicit ShutdownWatchdog(std::chrono::seconds deadline)
        : thread_([this, deadline] {
              std::unique_lock lock(mu_);
              if (!cv_.wait_for(lock, deadline, [this] { return done_; })) {
                  std::fprintf(stderr, "backend: shutdown exceeded %llds; exiting\n",
                               static_cast<long long>(deadline.count()));
                  std::_Exit(kExitFailure);
              }
          }) {}
    ~ShutdownWatchdog() {
        {
            std::lock_guard lock(mu_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

struct SessionEnvHolder {
    SessionEnv env;
    std::shared_ptr<sdk::Logger> logger;
};

}  // namespace

int run_backend(const config::KernelConfig& cfg) {
    SignalMask signals;  // before any thread exists, so all inherit the mask
    auto keyring = load_keyring(cfg);
    if (!keyring.ok()) {
        print_error(keyring.status().message());
        return kExitConfig;
    }
    runtime::Runtime rt(runtime_options(cfg));
    auto log = rt.logger("backend");

    plugin::PluginLoader loader(rt, cfg);
    sdk::ConfigErrors errors;
    if (auto st = loader.prepare(errors); !st.ok()) {
        for (const auto& e : errors) {
            print_error(e.path.empty() ? e.message : e.path + ": " + e.message);
        }
        if (errors.empty()) {
            print_error(st.message());
        }
        return kExitConfig;
    }
    rt.start_background();  // plugins may post or submit work while starting
    if (auto st = loader.start(kRequiredCapabilities); !st.ok()) {
        print_error("plugins failed to start:\n" + st.message());
        rt.stop();
        return kExitFailure;
    }
    auto stop_plugins = [&] {
        rt.audit().flush();
        loader.stop_all();
        rt.stop();
    };

    auto& services = rt.services();
    auto holder = std::make_shared<SessionEnvHolder>();
    holder->logger = rt.logger("session");
    SessionEnv& env = holder->env;
    env.config = session_config(cfg);
    env.keys = &keyring.value();
    env.identity = services.find<sdk::IdentityStore>();
    env.replay = services.find<sdk::ReplayCache>();
    env.queue = services.find<sdk::CommandQueue>();
    env.telemetry = services.find<sdk::TelemetryStore>();
    env.audit = &rt.audit();
    env.scheduler = &rt.scheduler();
    env.clock = &rt.clock();
    env.logger = holder->logger.get();
    env.metrics = &rt.metrics();
    SessionRegistry sessions;
    env.registry = &sessions;
    if (!env.identity || !env.replay || !env.queue || !env.telemetry) {
        print_error("a required capability was not provided by the started plugins");
        stop_plugins();
        return kExitFailure;
    }

    auto api_log = rt.logger("api");
    api::ApiDeps deps{env.identity, env.queue, env.telemetry, env.audit, api_log.get(), &sessions};
    if (auto st = api::register_operator_api(rt.routes(), deps); !st.ok()) {
        print_error("operator API: " + st.message());
        stop_plugins();
        return kExitFailure;
    }
    if (auto st = net::register_livez(rt); !st.ok()) {
        // A health plugin may serve /livez itself; one is enough.
        log->debug("kernel /livez not registered", {{"reason", st.message()}});
    }

    net::TlsServerOptions agent_tls_opts{cfg.tls.cert, cfg.tls.key, cfg.tls.client_ca,
                                         cfg.tls.min_version};
    net::TlsServerOptions admin_tls_opts{
        cfg.tls.admin_cert.empty() ? cfg.tls.cert : cfg.tls.admin_cert,
        cfg.tls.admin_key.empty() ? cfg.tls.key : cfg.tls.admin_key, "", cfg.tls.min_version};
    auto agent_tls = net::TlsContext::make_server(agent_tls_opts);
    auto admin_tls = net::TlsContext::make_server(admin_tls_opts);
    if (!agent_tls.ok() || !admin_tls.ok()) {
        print_error("tls: " + (!agent_tls.ok() ? agent_tls.status().message()
                                               : admin_tls.status().message()));
        stop_plugins();
        return kExitConfig;
    }

    api::OperatorAuth auth(cfg.operators, rt.audit(), api_log.get());
    net::HttpServer health(rt, {cfg.listen_health.address, cfg.listen_health.port},
                           sdk::Listener::health, nullptr);
    net::HttpServer admin(rt, {cfg.listen_admin.address, cfg.listen_admin.port},
                          sdk::Listener::admin, *admin_tls,
                          [&auth](const sdk::HttpRequest& r) { return auth.authenticate(r); });
    net::AgentServer agents(rt, {cfg.listen_agents.address, cfg.listen_agents.port}, *agent_tls,
                            session_limits(cfg), cfg.identity_binding,
                            agent_session_factory(std::shared_ptr<const SessionEnv>(holder, &env)),
                            cfg.limits.max_connections);
    rt.metrics().callback_gauge("agenthost_agent_sessions", "Live agent sessions on this host", {},
                                [&agents] { return static_cast<double>(agents.session_count()); });
    rt.metrics().callback_gauge("agenthost_agent_connections_refused",
                                "Agent connections refused by the connection cap", {},
                                [&agents] { return static_cast<double>(agents.refused_count()); });

    for (auto* st : {&health, &admin}) {
        if (auto s = st->start(); !s.ok()) {
            print_error("listener: " + s.message());
            stop_plugins();
            return kExitFailure;
        }
    }
    if (auto s = agents.start(); !s.ok()) {
        print_error("agent listener: " + s.message());
        admin.stop();
        health.stop();
        stop_plugins();
        return kExitFailure;
    }
    const struct {
        const char* name;
        const config::Endpoint& ep;
        std::uint16_t port;
    } listening[] = {{"agents", cfg.listen_agents, agents.port()},
                     {"admin", cfg.listen_admin, admin.port()},
                     {"health", cfg.listen_health, health.port()}};
    for (const auto& l : listening) {
        log->info(
            "listening",
            {{"listener", l.name}, {"address", l.ep.address}, {"port", std::to_string(l.port)}});
    }
    if (auto s = write_ports(cfg.state_dir, agents.port(), admin.port(), health.port()); !s.ok()) {
        log->warn("ports.json not written", {{"error", s.message()}});
    }
    rt.audit().record(sdk::AuditEvent{"kernel", "backend.start", cfg.host_id, "success", {}});

    for (;;) {
        const int sig = signals.wait();
        if (sig == SIGHUP) {
            log->warn("reload not yet supported; SIGHUP ignored");
            continue;
        }
        log->info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
        break;
    }

    ShutdownWatchdog watchdog(kShutdownDeadline);
    rt.set_draining(true);  // readiness 503 before anything else changes
    auto drained = std::make_shared<std::promise<void>>();
    auto drained_future = drained->get_future();
    agents.drain([drained] { drained->set_value(); }, kDrainTimeout);
    if (drained_future.wait_for(kDrainTimeout + 2s) != std::future_status::ready) {
        log->warn("agent drain did not finish in time");
    }
    admin.stop();
    health.stop();
    rt.audit().record(sdk::AuditEvent{"kernel", "backend.stop", cfg.host_id, "success", {}});
    stop_plugins();
    log->info("stopped");
    return kExitOk;
}

}  // namespace agenthost::backend
