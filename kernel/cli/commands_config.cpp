// run, check-config, plugins, migrate: the commands that read a config file.
// migrate starts only the plugins that provide schema_migrations (and what they
// require), asks each to migrate, prints what was applied and stops them again.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <agenthost/capabilities/migrations.hpp>
#include <agenthost/plugin.hpp>

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

// Enabled plugins that declare schema_migrations, plus (transitively) the enabled
// providers of what they require, so that they can start.
std::vector<std::string> migration_plugins(const std::vector<plugin::PluginInfo>& infos) {
    auto has = [](const std::vector<std::string>& list, const std::string& item) {
        return std::find(list.begin(), list.end(), item) != list.end();
    };
    std::vector<std::string> out;
    std::vector<std::string> needed;
    for (const auto& p : infos) {
        if (p.enabled && has(p.provides, std::string(sdk::capability::schema_migrations))) {
            out.push_back(p.name);
            needed.insert(needed.end(), p.requires_capabilities.begin(),
                          p.requires_capabilities.end());
        }
    }
    while (!needed.empty()) {
        const std::string cap = needed.back();
        needed.pop_back();
        for (const auto& p : infos) {
            if (p.enabled && has(p.provides, cap) && !has(out, p.name)) {
                out.push_back(p.name);
                needed.insert(needed.end(), p.requires_capabilities.begin(),
                              p.requires_capabilities.end());
            }
        }
    }
    return out;
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
    // Pass 1: read every descriptor to learn which plugins own a database schema.
    std::vector<std::string> wanted;
    {
        runtime::Runtime rt(inspect_options(*cfg));
        plugin::PluginLoader loader(rt, *cfg);
        if (auto st = loader.prepare(errors); !st.ok()) {
            if (errors.empty()) {
                errors.push_back({"plugins", st.message()});
            }
            print_errors(errors);
            return exit_usage;
        }
        wanted = migration_plugins(loader.describe());
    }
    if (wanted.empty()) {
        // Embedded stores (SQLite) migrate when they open their file; there is nothing
        // to run separately.
        std::fprintf(stderr,
                     "migrate: not supported by the configured plugins (none of the enabled "
                     "plugins in %s provides schema_migrations)\n",
                     file.c_str());
        return exit_failure;
    }
    // Pass 2: start only those (and the providers they require); their start() applies
    // the pending steps under the database's advisory lock, migrate() reports them.
    config::KernelConfig only = *cfg;
    for (auto& p : only.plugins) {
        p.enabled = std::find(wanted.begin(), wanted.end(), p.name) != wanted.end();
    }
    runtime::RuntimeOptions o = inspect_options(only);
    o.log_level = "warn";
    o.blocking_threads = 2;
    runtime::Runtime rt(o);
    plugin::PluginLoader loader(rt, only);
    if (auto st = loader.prepare(errors); !st.ok()) {
        print_errors(errors);
        return exit_usage;
    }
    rt.start_background();
    if (auto st = loader.start(); !st.ok()) {
        std::fprintf(stderr, "migrate: %s\n", st.message().c_str());
        rt.stop();
        return exit_failure;
    }
    int rc = exit_ok;
    for (auto* m : rt.services().find_all<sdk::SchemaMigrations>()) {
        auto report = m->migrate();
        if (!report.ok()) {
            std::fprintf(stderr, "migrate: %s\n", report.status().message().c_str());
            rc = exit_failure;
            continue;
        }
        for (const auto& step : report->applied) {
            std::printf("%s: applied %04d_%s\n", report->component.c_str(), step.version,
                        step.name.c_str());
        }
        std::printf("%s: schema at version %d (%zu applied now)\n", report->component.c_str(),
                    report->current_version, report->applied.size());
    }
    loader.stop_all();
    rt.stop();
    return rc;
}

}  // namespace agenthost::cli
