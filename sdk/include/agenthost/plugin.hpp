#pragma once
// The plugin contract: a descriptor (name, version, capabilities, config schema,
// factory) returned by the library's single exported entry, and the Plugin object
// the factory creates.
//
// Lifecycle, driven by the kernel on a loop thread:
//   descriptor read -> config validated (schema, then `validate`) -> `create`
//   -> start() in dependency order -> ... -> stop() in reverse order -> destroyed.
// The library stays loaded until the process exits, so nothing a plugin hands out
// (callbacks, vtables) can outlive its code.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#include <agenthost/abi.hpp>
#include <agenthost/config_schema.hpp>
#include <agenthost/context.hpp>
#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

namespace agenthost::sdk {

// Capability names. The first six are exclusive: one provider per process.
namespace capability {
inline constexpr std::string_view identity = "identity";
inline constexpr std::string_view replay = "replay";
inline constexpr std::string_view queue = "queue";
inline constexpr std::string_view telemetry = "telemetry";
inline constexpr std::string_view health = "health";
inline constexpr std::string_view audit = "audit";
inline constexpr std::string_view command_handler = "command_handler";
inline constexpr std::string_view telemetry_collector = "telemetry_collector";
inline constexpr std::string_view http_routes = "http_routes";
inline constexpr std::string_view schema_migrations = "schema_migrations";
}  // namespace capability

inline bool is_exclusive_capability(std::string_view c) noexcept {
    return c == capability::identity || c == capability::replay || c == capability::queue ||
           c == capability::telemetry || c == capability::health || c == capability::audit;
}

class Plugin {
public:
    virtual ~Plugin() = default;
    // Registers services, routes, health checks and metrics; may look up the
    // capabilities it requires. A non-ok Status aborts start-up.
    virtual Status start() = 0;
    // Stops timers and background work; after return the plugin makes no further
    // calls into the kernel and invokes no pending completion. Must not throw.
    virtual void stop() noexcept = 0;
};

using PluginFactory =
    std::function<Result<std::unique_ptr<Plugin>>(PluginContext& ctx, const json::object& config)>;

struct PluginDescriptor {
    std::string name;     // matches ^[a-z][a-z0-9_]*$ and the library file name
    std::string version;  // semantic version of the plugin
    std::string description;
    std::vector<std::string> provides;  // capability names
    std::vector<std::string> requires_capabilities;
    Schema config_schema;               // may be empty; unknown keys are still refused
    ConfigValidator validate;           // optional cross-field checks
    PluginFactory create;
};

using EntryFunction = const PluginDescriptor&();

}  // namespace agenthost::sdk

// Exports the ABI tag (data, read before any plugin code runs) and the entry alias.
// `fn` is a function `const agenthost::sdk::PluginDescriptor& fn()` returning a
// descriptor with static storage duration.
#define AGENTHOST_PLUGIN(fn)                                                        \
    extern "C" BOOST_SYMBOL_EXPORT const char agenthost_abi_tag[];                  \
    extern "C" BOOST_SYMBOL_EXPORT const char agenthost_abi_tag[] = AGENTHOST_ABI_TAG; \
    BOOST_DLL_ALIAS(fn, agenthost_plugin_entry_v1)
