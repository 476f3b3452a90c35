// run_gateway(): the gateway process from a validated config to a clean exit.
//   signals blocked → runtime → plugins (prepare, loop up, start) → key, state
//   (executed record + spool) → executor, uplink, telemetry → dial loop → wait for
//   SIGINT/SIGTERM → stop telemetry, finish or cancel commands (results recorded) →
//   close the session 1000 (SIGINT) / 1001 (SIGTERM) → plugins stop → exit 0.
// Signals are taken with sigwait() on the main thread, as in run_backend().
#include "kernel/gateway/gateway_app.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "kernel/crypto/keyring.hpp"
#include "kernel/gateway/dialer.hpp"
#include "kernel/gateway/executor.hpp"
#include "kernel/gateway/gateway_health.hpp"
#include "kernel/gateway/gateway_reload.hpp"
#include "kernel/gateway/store.hpp"
#include "kernel/gateway/telemetry_pump.hpp"
#include "kernel/gateway/uplink.hpp"
#include "kernel/net/tls.hpp"
#include "kernel/plugin/loader.hpp"
#include "kernel/runtime/runtime.hpp"
#include "kernel/runtime/sd_notify.hpp"

#ifndef AGENTHOST_VERSION
#define AGENTHOST_VERSION "0.0.0"
#endif

namespace agenthost::gateway {

namespace {

using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
constexpr auto kFlushTimeout = 10s;  // commands cancelled and results recorded
constexpr auto kCloseTimeout = 5s;   // the close handshake
constexpr auto kShutdownDeadline = 30s;

void print_error(const std::string& what) {
    std::fprintf(stderr, "gateway: %s\n", what.c_str());
}

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

// Ends the process if shutdown overruns its deadline (a stuck plugin).
class ShutdownWatchdog {
public:
    explicit ShutdownWatchdog(std::chrono::seconds deadline)
        : thread_([this, deadline] {
              std::unique_lock lock(mu_);
              if (!cv_.wait_for(lock, deadline, [this] { return done_; })) {
                  std::fprintf(stderr, "gateway: shutdown exceeded %llds; exiting\n",
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

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
        if (std::chrono::steady_clock::now() >= end) {
            return false;
        }
        std::this_thread::sleep_for(20ms);  // shutdown polling, not synchronisation
    }
    return true;
}

std::string platform() {
    struct utsname u {};
    if (uname(&u) != 0) {
        return "unknown";
    }
    std::string sys = u.sysname;
    for (auto& c : sys) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return sys + "-" + u.machine;
}

std::string hostname() {
    char buf[256] = {};
    return gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string("unknown");
}

runtime::RuntimeOptions runtime_options(const config::KernelConfig& cfg) {
    runtime::RuntimeOptions o;
    o.loop_threads = cfg.loop_threads;
    o.blocking_threads = cfg.blocking_threads;
    o.log_level = cfg.log_level;
    o.log_format = cfg.log_format;
    o.host_id = cfg.host_id;
    o.role = "gateway";
    return o;
}

sdk::Result<std::string> state_path(const std::string& state_dir) {
    std::error_code ec;
    const auto dir = std::filesystem::path(state_dir) / "gateway";
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return sdk::error(sdk::Errc::unavailable,
                          "cannot create " + dir.string() + ": " + ec.message());
    }
    ::chmod(dir.c_str(), 0700);
    return (dir / "gateway.db").string();
}

}  // namespace

int run_gateway(const config::KernelConfig& cfg) {
    SignalMask signals;  // before any thread exists, so all inherit the mask
    const config::GatewayConfig& g = cfg.gateway;
    auto key = crypto::read_key_file(g.key_file, 32);
    if (!key.ok()) {
        print_error("gateway.key_file: " + key.status().message());
        return kExitConfig;
    }
    auto tls = make_gateway_tls(cfg);
    if (!tls.ok()) {
        print_error("gateway TLS: " + tls.status().message());
        return kExitConfig;
    }
    auto db_path = state_path(cfg.state_dir);
    if (!db_path.ok()) {
        print_error(db_path.status().message());
        return kExitFailure;
    }

    runtime::Runtime rt(runtime_options(cfg));
    runtime::SdNotifier notifier;  // systemd Type=notify; a no-op without NOTIFY_SOCKET
    auto log = rt.logger("gateway");
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
    // No capability is strictly required: a gateway with no handler runs no command.
    if (auto st = loader.start({}); !st.ok()) {
        print_error("plugins failed to start:\n" + st.message());
        rt.stop();
        return kExitFailure;
    }

    StoreOptions store_opts;
    store_opts.spool_max_bytes = g.spool_max_bytes;
    auto store = GatewayStore::open(db_path.value(), store_opts, rt.clock().now_unix_ms());
    if (!store.ok()) {
        print_error(store.status().message());
        loader.stop_all();
        rt.stop();
        return kExitFailure;
    }
    GatewayStore& st = *store.value();
    for (const auto& id : st.interrupted()) {
        log->warn("command interrupted by restart; reporting it failed, not re-running",
                  {{"command_id", id}});
    }

    auto& services = rt.services();
    Uplink* uplink_ptr = nullptr;  // set below; the executor only calls it from the loop
    ExecutorOptions exec_opts;
    exec_opts.concurrency = g.executor_concurrency;
    exec_opts.output_cap_bytes = g.output_cap_bytes;
    exec_opts.max_queue = g.executor_max_queue;
    Executor executor(
        ExecutorDeps{rt.scheduler(), rt.blocking(), rt.clock(), *log, rt.metrics(), rt.audit(), st},
        exec_opts, services.find_all<sdk::CommandHandler>(), [&uplink_ptr](const std::string&) {
            if (uplink_ptr != nullptr) {
                uplink_ptr->spool_changed();
            }
        });

    UplinkOptions up;
    up.agent_id = g.agent_id;
    up.kid = g.kid;
    up.key = key.value();
    up.agent_version = AGENTHOST_VERSION;
    up.hostname = hostname();
    up.platform = platform();
    up.max_frame_bytes = cfg.protocol.max_frame_bytes;
    up.max_skew_ms = cfg.protocol.max_skew_s * 1000;
    up.replay_window_ms = cfg.protocol.replay_window_s * 1000;
    up.max_batch_points = cfg.protocol.max_batch_points;
    Uplink uplink(UplinkDeps{rt.scheduler(), rt.blocking(), rt.clock(), *log, rt.metrics(), st,
                             services.find<sdk::ReplayCache>(), &rt.audit()},
                  up, executor.command_names(),
                  [&executor](sdk::CommandRequest r) { executor.submit(std::move(r)); });
    uplink_ptr = &uplink;

    const std::pair<const char*, std::uint64_t SpoolCounts::*> spool_gauges[] = {
        {"result", &SpoolCounts::results}, {"telemetry", &SpoolCounts::telemetry}};
    for (const auto& [kind, field] : spool_gauges) {
        rt.metrics().callback_gauge(
            "agenthost_gateway_spool_items", "Items in the spool waiting for the backend's ack",
            {{"kind", kind}},
            [&st, field = field] { return static_cast<double>(st.counts().*field); });
    }
    rt.metrics().callback_gauge("agenthost_gateway_spool_bytes", "Bytes held by the spool", {},
                                [&st] { return static_cast<double>(st.counts().bytes); });
    rt.metrics().callback_gauge("agenthost_gateway_executor_queued",
                                "Commands waiting for an executor slot", {},
                                [&executor] { return static_cast<double>(executor.queued()); });

    TelemetryPump telemetry(
        TelemetryDeps{rt.scheduler(), rt.blocking(), *log, rt.metrics(), st},
        services.find_all<sdk::TelemetryCollector>(),
        [&uplink] { return uplink.max_batch_points(); }, [&uplink] { uplink.spool_changed(); });
    telemetry.start();

    DialerOptions dial;
    dial.url = g.url;
    dial.tls = tls.value();
    dial.limits.max_message_bytes = cfg.protocol.max_frame_bytes;
    dial.limits.max_write_queue = cfg.limits.write_queue;
    dial.limits.heartbeat = std::chrono::seconds(cfg.protocol.heartbeat_s);
    dial.limits.idle_timeout = std::chrono::seconds(cfg.protocol.idle_timeout_s);
    dial.limits.handshake_timeout = std::chrono::seconds(cfg.protocol.hello_timeout_s);
    // The same per-session guards as the backend (docs/guards.md).
    dial.limits.max_write_queue_bytes = cfg.limits.write_queue_bytes;
    dial.limits.write_stall_timeout = std::chrono::seconds(cfg.limits.write_stall_s);
    dial.limits.message_rate = static_cast<double>(cfg.limits.message_rate);
    dial.limits.message_burst = static_cast<double>(cfg.limits.message_burst);
    dial.initial = std::chrono::milliseconds(g.reconnect_initial_ms);
    dial.max = std::chrono::milliseconds(g.reconnect_max_ms);
    Dialer dialer(rt, uplink, dial, *log);
    GatewayHealth health(rt, cfg);  // /livez, /readyz, /metrics on gateway.health
    if (auto hs = health.start(uplink, st); !hs.ok()) {
        print_error("health listener: " + hs.message());
        telemetry.stop();
        loader.stop_all();
        rt.stop();
        return kExitFailure;
    }
    log->info("gateway starting", {{"agent_id", g.agent_id},
                                   {"url", g.url},
                                   {"commands", std::to_string(executor.command_names().size())}});
    rt.audit().record(sdk::AuditEvent{"kernel", "gateway.start", g.agent_id, "success", {}});
    dialer.start();
    GatewayReload reload(rt, cfg, key.value(), dialer);
    // Ready = running and dialing: the link itself comes and goes with the backend.
    const std::string serving = "agent " + g.agent_id + " dialing " + g.url;
    notifier.ready(serving);
    notifier.start_watchdog(rt.scheduler());  // pings from the loop: a stuck loop stops them

    int sig = 0;
    for (;;) {
        sig = signals.wait();
        if (sig == SIGHUP) {
            notifier.reloading();
            const auto result = reload.reload();
            notifier.ready(serving + (result.applied ? "; config reloaded"
                                                     : "; reload rejected: " + result.message));
            continue;
        }
        break;
    }
    log->info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    notifier.stopping("stopping");
    ShutdownWatchdog watchdog(kShutdownDeadline);
    rt.set_draining(true);  // /readyz 503 from the signal on
    telemetry.stop();
    executor.shutdown();
    if (!wait_for([&] { return executor.idle(); }, kFlushTimeout)) {
        log->warn("commands still running at shutdown");
    }
    // Results recorded above are in the spool; whatever is not acked yet is resent
    // after the next start.
    dialer.stop(sig == SIGINT ? net::close_code::normal : net::close_code::going_away);
    if (!wait_for([&] { return dialer.finished(); }, kCloseTimeout)) {
        log->warn("backend session did not close in time");
    }
    rt.audit().record(sdk::AuditEvent{"kernel", "gateway.stop", g.agent_id, "success", {}});
    notifier.stop_watchdog();
    health.stop();
    rt.audit().flush();
    loader.stop_all();
    rt.stop();
    log->info("stopped");
    return kExitOk;
}

}  // namespace agenthost::gateway
