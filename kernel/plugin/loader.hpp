#pragma once
// The plugin loader (Boost.DLL), in two phases:
//
//   prepare(): for every configured entry, enabled or not: resolve the library path,
//     load it, compare its exported ABI tag with the kernel's *before* calling any of
//     its functions, call the entry alias for the descriptor, check the descriptor,
//     validate the plugin's `config:` section against its schema, then run the
//     plugin's own validator. Every failure is collected (not just the first).
//   start(): for the enabled entries: exclusive-capability conflicts, unmet
//     requirements (of plugins and of the role), dependency order (requires →
//     provides; a cycle is an error), then create + start each in that order and
//     check that it really provided what it declared.
//   stop_all(): reverse start order: stop() each, then destroy the objects (also run
//     by the destructor). Libraries stay loaded until the process exits, even after the
//     loader is gone: the Runtime may still hold handlers built by plugin code.
//
// Every failure reads exactly: plugin '<name>' (<path>): <stage>: <detail>, with stage
// one of resolve, load, abi, entry, descriptor, config, validate, create, start,
// requires, exclusive, provide. Lifecycle calls are made on the caller's thread; call
// them from one thread.

#include <memory>
#include <string>
#include <vector>

#include <agenthost/config_schema.hpp>
#include <agenthost/status.hpp>

#include "kernel/config/kernel_config.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::plugin {

struct PluginInfo {
    std::string name;
    std::string version;  // empty when the descriptor could not be read
    std::string description;
    std::string path;  // resolved library path (empty when not found)
    bool enabled = true;
    bool started = false;
    std::vector<std::string> provides;
    std::vector<std::string> requires_capabilities;
    sdk::Schema schema;
    std::string error;  // first loader error of this entry, if any
};

class PluginLoader {
public:
    PluginLoader(runtime::Runtime& rt, const config::KernelConfig& config);
    ~PluginLoader();
    PluginLoader(const PluginLoader&) = delete;
    PluginLoader& operator=(const PluginLoader&) = delete;

    // Appends schema and validator errors (with YAML paths) and one error per loader
    // failure (path "plugins.<name>", message in the format above) to `errors`. The
    // Status lists every failure, one per line.
    sdk::Status prepare(sdk::ConfigErrors& errors);

    // Starts the enabled plugins. On failure, plugins already started are stopped and
    // destroyed again and the Status lists every failure found, one per line.
    sdk::Status start(const std::vector<std::string>& role_required_capabilities = {});

    void stop_all() noexcept;

    std::vector<PluginInfo> describe() const;
    // Names of started plugins in start order.
    std::vector<std::string> start_order() const;

private:
    struct Entry;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// "${exe_dir}/x" → "<dir of /proc/self/exe>/x"; relative → joined to `config_dir`.
std::string expand_plugin_dir(const std::string& dir, const std::string& config_dir);

}  // namespace agenthost::plugin
