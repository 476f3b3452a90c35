// run, check-config, plugins, migrate: the commands that read a config file.
#include <cstdio>
#include <string>

#include <boost/json/serialize.hpp>

#include "kernel/cli/commands.hpp"
#include "kernel/config/loader.hpp"
#include "kernel/plugin/loader.hpp"
#include "kernel/runtime/runtime.hpp"

#if defined(AGENTHOST_HAVE_BACKEND) && __has_include("kernel/backend/backend_app.hpp")
#include "kernel/backend/backend_app.hpp"
#define AGENTHOST_CLI_BACKEND 1
#endif
#if defined(AGENTHOST_HAVE_GATEWAY) && __has_include("kernel/gateway/gateway_app.hpp")
#include "kernel/gateway/gateway_app.hpp"
#define AGENTHOST_CLI_GATEWAY 1
#endif

namespace agenthost::cli {

namespace {

// A quiet runtime for commands that only inspect plugins: one thread each and no log
// output, so the command's own output (every error, once) stays readable.
runtime::RuntimeOptions inspect_options(const config::KernelConfig& cfg) {
    runtime::RuntimeOptions o;
    o.loop_threads = 1;
    o.blocking_threads = 1;
    o.log_level = "off";  // every problem is in the ConfigErrors we print
    o.log_format = cfg.log_format;
    o.host_id = cfg.host_id.empty() ? "check-config" : cfg.host_id;
    o.role = cfg.role.empty() ? "backend" : cfg.role;
    return o;
}

const char* yes_no(bool b) {
    return b ? "yes" : "no";
}

std::string joined(const std::vector<std::string>& items) {
    if (items.empty()) {
        return "-";
    }
    std::string out;
    for (const auto& s : items) {
        out += out.empty() ? s : ", " + s;
    }
    return out;
}

}  // namespace

void print_errors(const sdk::ConfigErrors& errors) {
    for (const auto& e : errors) {
        if (e.path.empty()) {
            std::fprintf(stderr, "%s\n", e.message.c_str());
        } else {
            std::fprintf(stderr, "%s: %s\n", e.path.c_str(), e.message.c_str());
        }
    }
}

int cmd_check_config(const std::string& file) {
    sdk::ConfigErrors errors;
    config::KernelConfig partial;
    bool have_plugins = false;
    auto cfg = config::load_kernel_config(file, errors, &partial);
    const config::KernelConfig* to_check = nullptr;
    if (cfg.ok()) {
        to_check = &cfg.value();
    } else if (!partial.source_path.empty()) {
        to_check = &partial;  // kernel part invalid: still validate every plugin section
    }
    if (to_check != nullptr && !to_check->plugins.empty()) {
        have_plugins = true;
        runtime::Runtime rt(inspect_options(*to_check));
        plugin::PluginLoader loader(rt, *to_check);
        const std::size_t before = errors.size();
        sdk::Status st = loader.prepare(errors);
        if (!st.ok() && errors.size() == before) {
            errors.push_back({"plugins", st.message()});
        }
    }
    if (!errors.empty()) {
        print_errors(errors);
        std::fprintf(stderr, "check-config: %zu error(s) in %s\n", errors.size(), file.c_str());
        return exit_usage;
    }
    std::printf("config OK (%s, role %s, %zu plugin(s)%s)\n", file.c_str(), cfg->role.c_str(),
                cfg->plugins.size(), have_plugins ? " validated" : "");
    return exit_ok;
}

int cmd_run(const std::string& file) {
    sdk::ConfigErrors errors;
    auto cfg = config::load_kernel_config(file, errors);
    if (!cfg.ok()) {
        print_errors(errors);
        std::fprintf(stderr, "run: %zu configuration error(s) in %s; not starting\n", errors.size(),
                     file.c_str());
        return exit_usage;
    }
    if (cfg->role == "backend") {
#ifdef AGENTHOST_CLI_BACKEND
        return backend::run_backend(*cfg);
#endif
    } else if (cfg->role == "gateway") {
#ifdef AGENTHOST_CLI_GATEWAY
        return gateway::run_gateway(*cfg);
#endif
    }
    std::fprintf(stderr, "run: role '%s' not available in this build\n", cfg->role.c_str());
    return exit_failure;
}

int cmd_plugins(const std::string& file) {
    sdk::ConfigErrors errors;
    config::KernelConfig partial;
    auto cfg = config::load_kernel_config(file, errors, &partial);
    if (!cfg.ok() && partial.source_path.empty()) {
        print_errors(errors);  // unreadable or not YAML: nothing to list
        return exit_usage;
    }
    const config::KernelConfig& c = cfg.ok() ? cfg.value() : partial;
    runtime::Runtime rt(inspect_options(c));
    plugin::PluginLoader loader(rt, c);
    const std::size_t before = errors.size();
    sdk::Status st = loader.prepare(errors);
    if (!st.ok() && errors.size() == before) {
        errors.push_back({"plugins", st.message()});
    }
    std::printf("plugin search path:");
    if (c.plugin_paths.empty()) {
        std::printf(" (none)");
    }
    for (const auto& dir : c.plugin_paths) {
        std::printf(" %s", plugin::expand_plugin_dir(dir, c.config_dir).c_str());
    }
    std::printf("\n");
    for (const auto& p : loader.describe()) {
        const bool found = !p.version.empty();
        std::printf("\n%s %s\n", p.name.c_str(), found ? p.version.c_str() : "(not loaded)");
        std::printf("  found: %s%s%s\n", yes_no(found), p.path.empty() ? "" : "  ", p.path.c_str());
        std::printf("  enabled: %s\n", yes_no(p.enabled));
        if (!p.description.empty()) {
            std::printf("  description: %s\n", p.description.c_str());
        }
        std::printf("  provides: %s\n", joined(p.provides).c_str());
        std::printf("  requires: %s\n", joined(p.requires_capabilities).c_str());
        if (found) {
            std::printf("  config (plugins.%s.config):%s\n", p.name.c_str(),
                        p.schema.empty() ? " no keys" : "");
            print_schema(p.schema, "    ");
        }
        if (!p.error.empty()) {
            std::printf("  error: %s\n", p.error.c_str());
        }
    }
    if (!errors.empty()) {
        std::fprintf(stderr, "\n");
        print_errors(errors);
        return exit_usage;
    }
    return exit_ok;
}

int cmd_migrate(const std::string& file) {
    sdk::ConfigErrors errors;
    auto cfg = config::load_kernel_config(file, errors);
    if (!cfg.ok()) {
        print_errors(errors);
        return exit_usage;
    }
    // Storage plugins apply their migrations at start-up today; a separate migration
    // capability in the SDK is what this command will call once it exists.
    std::fprintf(stderr, "migrate: not supported by the configured plugins\n");
    return exit_failure;
}

}  // namespace agenthost::cli
