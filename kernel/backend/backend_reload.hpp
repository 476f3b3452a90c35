#pragma once
// The reloadable half of a running backend (SIGHUP, DESIGN.md "Config"): the HMAC
// keyring, the session settings and net limits, the operator tokens and the two TLS
// server contexts. Each is immutable once built and replaced as a whole, so a reload
// never changes anything under a live session:
//   - new agent connections get the new SessionEnv (keyring, protocol settings) and
//     the new SSL_CTX; established sessions keep the ones they were accepted with;
//   - operator requests are authenticated against the token set current at arrival.
//
// reload() re-reads the file the backend started from with the start-up loader
// (kernel schema, cross-field rules, every plugin section through the plugin loader),
// refuses start-up-only changes (kernel/config/reload_rules.hpp), builds every new
// piece, and only when all of that succeeded swaps them in. Otherwise nothing changes.
// Both outcomes are audited: config.reloaded / config.reload_rejected (with the reason).
//
// Threading: reload() from one thread (the signal thread); session_factory() and
// auth_hook() are called from loop threads at any time.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <agenthost/status.hpp>

#include "kernel/api/operator_auth.hpp"
#include "kernel/backend/agent_session.hpp"
#include "kernel/config/kernel_config.hpp"
#include "kernel/net/connection.hpp"
#include "kernel/net/http_server.hpp"
#include "kernel/net/tls.hpp"

namespace agenthost::runtime {
class Runtime;
}
namespace agenthost::net {
class AgentServer;
}

namespace agenthost::backend {

// How a KernelConfig maps onto the session and connection settings (backend_app.cpp
// owns the mapping), plus extra appliers for settings other components own: each is
// called with the accepted config after the built-in pieces were swapped.
struct ReloadHooks {
    std::function<SessionConfig(const config::KernelConfig&)> session_config;
    std::function<net::SessionLimits(const config::KernelConfig&)> session_limits;
    std::vector<std::function<void(const config::KernelConfig&)>> on_applied;
};

// The backend's HMAC master keys by kid (`keys:`); errors name the kid and file.
sdk::Result<crypto::Keyring> load_keyring(const config::KernelConfig& cfg);

struct ReloadResult {
    bool applied = false;
    std::string message;  // the rejection reason, or what changed
};

class BackendReload {
public:
    // `base` carries the capability pointers shared by every generation; its `config`
    // and `keys` are replaced per generation.
    BackendReload(runtime::Runtime& rt, SessionEnv base, ReloadHooks hooks);
    ~BackendReload();
    BackendReload(const BackendReload&) = delete;
    BackendReload& operator=(const BackendReload&) = delete;

    // Builds the first generation from the start-up config (keys, TLS contexts,
    // tokens). An error names the failing file; nothing is running yet.
    sdk::Status init(const config::KernelConfig& cfg);

    std::shared_ptr<net::TlsContext> agent_tls() const;
    std::shared_ptr<net::TlsContext> admin_tls() const;
    net::HandlerFactory session_factory();
    net::AuthHook auth_hook();
    // The listeners to update on reload (both must outlive this object's reloads).
    void attach(net::AgentServer* agents, net::HttpServer* admin);

    // SIGHUP. Never throws; the running config stays unless `applied`.
    ReloadResult reload();

private:
    struct Generation;
    sdk::Result<std::shared_ptr<const Generation>> build(const config::KernelConfig& cfg) const;
    std::shared_ptr<const Generation> current() const;
    void publish_expiry_gauges();
    void audit(const char* action, const char* outcome, const std::string& key,
               const std::string& value);

    runtime::Runtime& rt_;
    SessionEnv base_;
    ReloadHooks hooks_;
    std::shared_ptr<sdk::Logger> log_;
    std::shared_ptr<sdk::Logger> session_log_;
    std::shared_ptr<sdk::Logger> api_log_;
    net::AgentServer* agents_ = nullptr;
    net::HttpServer* admin_ = nullptr;
    mutable std::mutex mu_;
    std::shared_ptr<const Generation> gen_;
    bool gauges_registered_ = false;
    std::shared_ptr<void> gauge_link_;  // the expiry gauges hold it weakly
};

}  // namespace agenthost::backend
