// BackendReload: build a generation (keyring, TLS contexts, tokens, session settings)
// from a validated config, and swap it in on SIGHUP:
//   re-read file → kernel schema + rules → plugin sections (plugin loader, dry) →
//   start-up-only settings unchanged → build the generation → swap → audit.
#include "kernel/backend/backend_reload.hpp"

#include <atomic>
#include <map>

#include "kernel/crypto/keyring.hpp"
#include "kernel/net/agent_server.hpp"
#include "kernel/plugin/reload_check.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::backend {

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

namespace {

constexpr std::size_t kMaxReasons = 4;  // changed-setting names in a summary

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size() && i < kMaxReasons; ++i) {
        out += (i ? "; " : "") + items[i];
    }
    if (items.size() > kMaxReasons) {
        out += "; and " + std::to_string(items.size() - kMaxReasons) + " more";
    }
    return out;
}

}  // namespace

struct BackendReload::Generation {
    config::KernelConfig cfg;
    crypto::Keyring keys;
    SessionEnv env;  // env.keys points at `keys`: a Generation never moves
    net::SessionLimits limits;
    std::shared_ptr<net::TlsContext> agent_tls;
    std::shared_ptr<net::TlsContext> admin_tls;
    std::shared_ptr<const api::OperatorAuth> auth;
    std::shared_ptr<sdk::Logger> session_log;  // env.logger points at it
};

BackendReload::BackendReload(runtime::Runtime& rt, SessionEnv base, ReloadHooks hooks)
    : rt_(rt),
      base_(base),
      hooks_(std::move(hooks)),
      log_(rt.logger("reload")),
      session_log_(rt.logger("session")),
      api_log_(rt.logger("api")) {}

BackendReload::~BackendReload() = default;

sdk::Result<std::shared_ptr<const BackendReload::Generation>> BackendReload::build(
    const config::KernelConfig& cfg) const {
    auto keys = load_keyring(cfg);
    if (!keys.ok()) {
        return keys.status();
    }
    net::TlsServerOptions agent_opts{cfg.tls.cert, cfg.tls.key, cfg.tls.client_ca,
                                     cfg.tls.min_version};
    net::TlsServerOptions admin_opts{cfg.tls.admin_cert.empty() ? cfg.tls.cert : cfg.tls.admin_cert,
                                     cfg.tls.admin_key.empty() ? cfg.tls.key : cfg.tls.admin_key,
                                     "", cfg.tls.min_version};
    auto agent_tls = net::TlsContext::make_server(agent_opts);
    if (!agent_tls.ok()) {
        return sdk::Status(agent_tls.status().code(), "tls: " + agent_tls.status().message());
    }
    auto admin_tls = net::TlsContext::make_server(admin_opts);
    if (!admin_tls.ok()) {
        return sdk::Status(admin_tls.status().code(), "tls: " + admin_tls.status().message());
    }
    auto gen = std::make_shared<Generation>(Generation{
        cfg, std::move(keys.value()), base_, {}, agent_tls.value(), admin_tls.value(), {}, {}});
    gen->env.config = hooks_.session_config(cfg);
    gen->env.keys = &gen->keys;
    gen->session_log = session_log_;
    gen->env.logger = session_log_.get();
    gen->limits = hooks_.session_limits(cfg);
    gen->auth =
        std::make_shared<const api::OperatorAuth>(cfg.operators, rt_.audit(), api_log_.get());
    return std::shared_ptr<const Generation>(std::move(gen));
}

sdk::Status BackendReload::init(const config::KernelConfig& cfg) {
    auto gen = build(cfg);
    if (!gen.ok()) {
        return gen.status();
    }
    {
        std::lock_guard lock(mu_);
        gen_ = gen.value();
    }
    publish_expiry_gauges();
    return {};
}

std::shared_ptr<const BackendReload::Generation> BackendReload::current() const {
    std::lock_guard lock(mu_);
    return gen_;
}

std::shared_ptr<net::TlsContext> BackendReload::agent_tls() const {
    return current()->agent_tls;
}

std::shared_ptr<net::TlsContext> BackendReload::admin_tls() const {
    return current()->admin_tls;
}

net::HandlerFactory BackendReload::session_factory() {
    return [this](const net::PeerInfo& peer) {
        auto gen = current();
        // Aliasing pointer: the session keeps its whole generation (keyring included).
        return make_agent_session(std::shared_ptr<const SessionEnv>(gen, &gen->env), peer);
    };
}

net::AuthHook BackendReload::auth_hook() {
    return
        [this](const sdk::HttpRequest& request) { return current()->auth->authenticate(request); };
}

void BackendReload::attach(net::AgentServer* agents, net::HttpServer* admin) {
    agents_ = agents;
    admin_ = admin;
}

void BackendReload::publish_expiry_gauges() {
    if (gauges_registered_) {
        return;
    }
    gauges_registered_ = true;
    // The gauges read the generation through a weak link: a scrape after this object
    // is gone reports 0 instead of touching freed memory.
    auto link = std::make_shared<std::function<std::int64_t(bool)>>([this](bool agents) {
        auto gen = current();
        return agents ? gen->agent_tls->not_after_unix() : gen->admin_tls->not_after_unix();
    });
    gauge_link_ = link;
    for (const bool agents : {true, false}) {
        std::weak_ptr<std::function<std::int64_t(bool)>> weak = link;
        rt_.metrics().callback_gauge(
            "agenthost_tls_certificate_not_after_seconds",
            "Expiry (Unix seconds) of the certificate each listener serves",
            {{"listener", agents ? "agents" : "admin"}}, [weak, agents] {
                auto l = weak.lock();
                return l ? static_cast<double>((*l)(agents)) : 0.0;
            });
    }
}

void BackendReload::audit(const char* action, const char* outcome, const std::string& key,
                          const std::string& value) {
    auto gen = current();
    sdk::AuditEvent ev{"kernel", action, gen->cfg.source_path, outcome, {}};
    ev.details[key] = value;
    if (std::string(action) == "config.reloaded") {
        ev.details["served_pin"] = gen->agent_tls->leaf_pin();
        ev.details["certificate_not_after"] = gen->agent_tls->not_after_unix();
    }
    rt_.audit().record(std::move(ev));
}

ReloadResult BackendReload::reload() {
    const auto running = current();
    const std::string& file = running->cfg.source_path;
    auto reject = [&](const std::string& reason) {
        log_->error("config reload rejected; the running config stays",
                    {{"file", file}, {"reason", reason}});
        audit("config.reload_rejected", "failure", "reason", reason);
        return ReloadResult{false, reason};
    };

    auto next = plugin::load_for_reload(running->cfg);
    if (!next.ok()) {
        return reject(next.status().message());
    }
    auto gen = build(next.value());
    if (!gen.ok()) {
        return reject(gen.status().message());
    }
    const auto& fresh = gen.value();

    std::vector<std::string> changed;
    if (fresh->agent_tls->leaf_pin() != running->agent_tls->leaf_pin() ||
        fresh->agent_tls->not_after_unix() != running->agent_tls->not_after_unix()) {
        changed.push_back("tls.cert");
    }
    if (fresh->cfg.master_key_files != running->cfg.master_key_files) {
        changed.push_back("keys");
    }
    if (fresh->cfg.operators.size() != running->cfg.operators.size()) {
        changed.push_back("operators");
    }
    if (fresh->cfg.limits.max_connections != running->cfg.limits.max_connections) {
        changed.push_back("limits.max_connections");
    }

    {
        std::lock_guard lock(mu_);
        gen_ = fresh;
    }
    // New connections from here on; every live session keeps the context it has.
    if (agents_ != nullptr) {
        agents_->set_tls(fresh->agent_tls);
        agents_->set_limits(fresh->limits, fresh->cfg.limits.max_connections);
    }
    if (admin_ != nullptr) {
        admin_->set_tls(fresh->admin_tls);
    }
    for (const auto& apply : hooks_.on_applied) {
        apply(fresh->cfg);
    }
    const std::string summary =
        changed.empty() ? "no certificate, key or cap change" : join(changed) + " changed";
    log_->info(
        "config reloaded",
        {{"file", file}, {"summary", summary}, {"served_pin", fresh->agent_tls->leaf_pin()}});
    audit("config.reloaded", "success", "summary", summary);
    return ReloadResult{true, summary};
}

}  // namespace agenthost::backend
