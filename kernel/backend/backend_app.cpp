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
#include "kernel/backend/backend_reload.hpp"
#include "kernel/backend/host_guards.hpp"
#include "kernel/backend/tls_refusal_audit.hpp"
#include "kernel/crypto/keyring.hpp"
#include "kernel/net/agent_server.hpp"
#include "kernel/net/http_server.hpp"
#include "kernel/plugin/loader.hpp"
#include "kernel/runtime/audit_forwarder.hpp"
#include "kernel/runtime/runtime.hpp"
#include "kernel/runtime/sd_notify.hpp"

namespace agenthost::backend {

namespace {

using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
constexpr auto kDrainTimeout = 10s;
// Past this after a stop signal the process exits regardless (a stuck plugin).
constexpr auto kShutdownDeadline = 30s;
// How often the tls.refused windows are checked: a window's record is written at most
// this long after the window ends.
constexpr auto kRefusalTick = 5s;

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
    s.max_in_flight = cfg.limits.max_in_flight;
    return s;
}

net::SessionLimits session_limits(const config::KernelConfig& cfg) {
    net::SessionLimits l;
    l.max_message_bytes = cfg.protocol.max_frame_bytes;
    l.max_write_queue = cfg.limits.write_queue;
    l.heartbeat = std::chrono::seconds(cfg.protocol.heartbeat_s);
    l.idle_timeout = std::chrono::seconds(cfg.protocol.idle_timeout_s);
    l.max_write_queue_bytes = cfg.limits.write_queue_bytes;
    l.write_stall_timeout = std::chrono::seconds(cfg.limits.write_stall_s);
    l.message_rate = static_cast<double>(cfg.limits.message_rate);
    l.message_burst = static_cast<double>(cfg.limits.message_burst);
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

}  // namespace

int run_backend(const config::KernelConfig& cfg) {
    SignalMask signals;  // before any thread exists, so all inherit the mask
    auto keyring = load_keyring(cfg);  // fail fast, before any plugin starts
    if (!keyring.ok()) {
        print_error(keyring.status().message());
        return kExitConfig;
    }
    runtime::Runtime rt(runtime_options(cfg));
    runtime::SdNotifier notifier;  // systemd Type=notify; a no-op without NOTIFY_SOCKET
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
    SessionEnv env;  // the capabilities; config, keys and logger come per generation
    env.identity = services.find<sdk::IdentityStore>();
    env.replay = services.find<sdk::ReplayCache>();
    env.queue = services.find<sdk::CommandQueue>();
    env.telemetry = services.find<sdk::TelemetryStore>();
    env.audit = &rt.audit();
    env.scheduler = &rt.scheduler();
    env.clock = &rt.clock();
    env.metrics = &rt.metrics();
    SessionRegistry sessions;
    env.registry = &sessions;
    RenewalTicker renewals(rt.scheduler(), std::chrono::seconds(1));
    env.renewals = &renewals;
    // audit.fail_closed: sessions and the API ask before acting (kernel/runtime/
    // audit_forwarder.hpp); copied into every SessionEnv generation and the API deps.
    runtime::AuditForwarder& audit_gate = rt.audit_forwarder();
    audit_gate.set_fail_closed(cfg.audit.fail_closed);
    env.can_audit = [&audit_gate](std::string_view action) { return audit_gate.admit(action); };
    rt.metrics().callback_gauge(
        "agenthost_audit_refused_actions", "Actions refused because they could not be audited",
        {}, [&audit_gate] { return static_cast<double>(audit_gate.refusals()); });
    if (!env.identity || !env.replay || !env.queue || !env.telemetry) {
        print_error("a required capability was not provided by the started plugins");
        stop_plugins();
        return kExitFailure;
    }

    // Everything SIGHUP may replace: keyring, session settings, tokens, TLS contexts.
    net::AgentServer* agents_for_reload = nullptr;  // set once the listener exists
    auto apply_guards = [&rt, &agents_for_reload](const config::KernelConfig& c) {
        if (agents_for_reload != nullptr) {
            apply_host_limits(rt, *agents_for_reload, c);  // admission + limit gauges
        }
    };
    auto apply_audit = [&audit_gate](const config::KernelConfig& c) {
        audit_gate.set_fail_closed(c.audit.fail_closed);  // takes effect for the next action
    };
    BackendReload reload(rt, env,
                         ReloadHooks{session_config, session_limits, {apply_guards, apply_audit}});
    if (auto st = reload.init(cfg); !st.ok()) {
        print_error(st.message());
        stop_plugins();
        return kExitConfig;
    }

    auto api_log = rt.logger("api");
    api::ApiDeps deps{env.identity, env.queue, env.telemetry, env.audit, api_log.get(), &sessions};
    deps.can_audit = env.can_audit;
    if (auto st = api::register_operator_api(rt.routes(), deps); !st.ok()) {
        print_error("operator API: " + st.message());
        stop_plugins();
        return kExitFailure;
    }
    if (auto st = net::register_livez(rt); !st.ok()) {
        // A health plugin may serve /livez itself; one is enough.
        log->debug("kernel /livez not registered", {{"reason", st.message()}});
    }

    net::HttpServer health(rt, {cfg.listen_health.address, cfg.listen_health.port},
                           sdk::Listener::health, nullptr);
    net::HttpServer admin(rt, {cfg.listen_admin.address, cfg.listen_admin.port},
                          sdk::Listener::admin, reload.admin_tls(), reload.auth_hook());
    net::AgentServer agents(rt, {cfg.listen_agents.address, cfg.listen_agents.port},
                            reload.agent_tls(), session_limits(cfg), cfg.identity_binding,
                            reload.session_factory(), cfg.limits.max_connections);
    // Refused mutual-TLS handshakes, audited per source and reason (docs/audit.md). The
    // hook runs on a loop thread: a map update, and for a new source the forwarder's
    // record(), which only queues (the audit plugin writes on the blocking pool).
    auto refusals = std::make_shared<TlsRefusalAudit>(rt.audit(), rt.clock());
    agents.set_tls_refusal_hook(
        [refusals](const net::TlsRefusal& r) { refusals->note(r.remote_ip, r.reason, r.detail); });
    TlsRefusalTicker refusal_ticker(rt.scheduler(), refusals, kRefusalTick);
    reload.attach(&agents, &admin);
    register_host_health(rt, agents, cfg);  // admission limits, host checks (host_guards.hpp)
    agents_for_reload = &agents;
    net::register_health_fallback(rt);  // /readyz, /metrics if no health plugin serves them
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
    const std::string serving = "serving agents on port " + std::to_string(agents.port());
    notifier.ready(serving);
    notifier.start_watchdog(rt.scheduler());  // pings from the loop: a stuck loop stops them

    for (;;) {
        const int sig = signals.wait();
        if (sig == SIGHUP) {
            notifier.reloading();
            const auto result = reload.reload();
            notifier.ready(serving + (result.applied ? "; config reloaded"
                                                     : "; reload rejected: " + result.message));
            continue;
        }
        log->info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
        break;
    }

    ShutdownWatchdog watchdog(kShutdownDeadline);
    notifier.stopping("draining");
    rt.set_draining(true);  // readiness 503 before anything else changes
    auto drained = std::make_shared<std::promise<void>>();
    auto drained_future = drained->get_future();
    agents.drain([drained] { drained->set_value(); }, kDrainTimeout);
    if (drained_future.wait_for(kDrainTimeout + 2s) != std::future_status::ready) {
        log->warn("agent drain did not finish in time");
    }
    renewals.stop();
    refusal_ticker.stop();  // after the drain (no handshake left), before the audit flush
    admin.stop();
    health.stop();
    rt.audit().record(sdk::AuditEvent{"kernel", "backend.stop", cfg.host_id, "success", {}});
    notifier.stop_watchdog();
    stop_plugins();
    log->info("stopped");
    return kExitOk;
}

}  // namespace agenthost::backend
