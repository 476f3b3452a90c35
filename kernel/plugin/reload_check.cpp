#include "kernel/plugin/reload_check.hpp"

#include <vector>

#include "kernel/config/loader.hpp"
#include "kernel/config/reload_rules.hpp"
#include "kernel/plugin/loader.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::plugin {

namespace {

constexpr std::size_t kMaxReasons = 8;

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

// A throwaway runtime for the dry plugin validation: no threads started, no logging.
runtime::RuntimeOptions dry_options(const config::KernelConfig& cfg) {
    runtime::RuntimeOptions o;
    o.loop_threads = 1;
    o.blocking_threads = 1;
    o.log_level = "off";
    o.log_format = cfg.log_format;
    o.host_id = cfg.host_id;
    o.role = cfg.role;
    return o;
}

}  // namespace

sdk::Result<config::KernelConfig> load_for_reload(const config::KernelConfig& running) {
    sdk::ConfigErrors errors;
    auto next = config::load_kernel_config(running.source_path, errors);
    if (next.ok() && !next->plugins.empty()) {
        runtime::Runtime dry(dry_options(*next));
        PluginLoader loader(dry, *next);
        const std::size_t before = errors.size();
        if (auto st = loader.prepare(errors); !st.ok() && errors.size() == before) {
            errors.push_back({"plugins", st.message()});
        }
    }
    if (!errors.empty()) {
        std::vector<std::string> reasons;
        for (const auto& e : errors) {
            reasons.push_back(e.path.empty() ? e.message : e.path + ": " + e.message);
        }
        return sdk::Status(sdk::Errc::invalid_argument, join(reasons));
    }
    if (auto changes = config::restart_required_changes(running, *next); !changes.empty()) {
        return sdk::Status(sdk::Errc::invalid_argument, join(changes));
    }
    return std::move(next.value());
}

}  // namespace agenthost::plugin
