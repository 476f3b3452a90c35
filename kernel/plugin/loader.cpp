// Plugin loader: resolve → load → ABI tag → entry → descriptor → config → validate,
// then exclusive/requires checks, dependency order, create, start, provide check.
#include "kernel/plugin/loader.hpp"

#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>

#include <dlfcn.h>

#include <boost/dll/shared_library.hpp>
#include <boost/json/serialize.hpp>

#include <agenthost/abi.hpp>
#include <agenthost/plugin.hpp>

#include "kernel/config/schema_validator.hpp"
#include "kernel/plugin/plugin_context.hpp"
#include "kernel/plugin/start_order.hpp"

namespace agenthost::plugin {
namespace fs = std::filesystem;

namespace {

bool valid_name(const std::string& s) {
    static const std::regex re("^[a-z][a-z0-9_]*$");
    return std::regex_match(s, re);
}

std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) {
            out += sep;
        }
        out += s;
    }
    return out;
}

std::string exception_text(std::exception_ptr ep) {
    try {
        std::rethrow_exception(ep);
    } catch (const std::exception& e) {
        return std::string("threw: ") + e.what();
    } catch (...) {
        return "threw an unknown exception";
    }
}

// Libraries are never unloaded: this process-wide list is deliberately leaked.
// Unloading at loader destruction is not safe in general: handlers that plugins
// posted to the loop (timer tasks, completions) are destroyed with the Runtime, which
// often outlives the loader, and destroying them runs code from the library. So the
// rule of plugin.hpp applies literally: a library stays loaded until the process exits.
void keep_loaded_until_exit(const boost::dll::shared_library& lib) {
    static std::mutex mu;
    static auto* libraries = new std::vector<boost::dll::shared_library>();
    std::lock_guard lock(mu);
    libraries->push_back(lib);
}

}  // namespace

std::string expand_plugin_dir(const std::string& dir, const std::string& config_dir) {
    static const std::string exe_token = "${exe_dir}";
    std::string out = dir;
    if (out.rfind(exe_token, 0) == 0) {
        std::error_code ec;
        fs::path exe = fs::read_symlink("/proc/self/exe", ec);
        out = (ec ? std::string(".") : exe.parent_path().string()) + out.substr(exe_token.size());
    }
    if (!out.empty() && fs::path(out).is_relative() && !config_dir.empty()) {
        out = (fs::path(config_dir) / out).lexically_normal().string();
    }
    return out;
}

struct PluginLoader::Entry {
    config::PluginEntry cfg;
    std::string path;  // resolved library path
    const sdk::PluginDescriptor* desc = nullptr;
    sdk::json::object config;
    std::string error;
    std::unique_ptr<PluginContextImpl> ctx;
    std::unique_ptr<sdk::Plugin> plugin;
};

struct PluginLoader::Impl {
    runtime::Runtime& rt;
    config::KernelConfig config;
    std::string config_dir;
    std::shared_ptr<sdk::Logger> log;
    std::vector<Entry> entries;
    std::vector<std::size_t> started;  // indices into entries, in start order
    bool prepared = false;
    bool prepared_ok = false;

    Impl(runtime::Runtime& r, const config::KernelConfig& c)
        : rt(r), config(c), log(r.logger("plugin-loader")) {
        // Relative plugin paths resolve against the config file's directory.
        config_dir = config.config_dir;
        if (config_dir.empty() && !config.source_path.empty()) {
            config_dir = fs::path(config.source_path).parent_path().string();
        }
    }

    // Formats the one failure message of the loader and remembers it on the entry.
    std::string failure(Entry& e, const char* stage, const std::string& detail) {
        std::string where = !e.path.empty()       ? e.path
                            : !e.cfg.path.empty() ? e.cfg.path
                                                  : "agenthost_" + e.cfg.name + ".so";
        std::string msg = "plugin '" + e.cfg.name + "' (" + where + "): " + stage + ": " + detail;
        if (e.error.empty()) {
            e.error = msg;
        }
        return msg;
    }

    void audit(const Entry& e, const std::string& action, const std::string& outcome,
               const std::string& detail) {
        sdk::AuditEvent ev;
        ev.actor = "kernel";
        ev.action = action;
        ev.target = e.cfg.name;
        ev.outcome = outcome;
        ev.details["path"] = e.path;
        if (e.desc != nullptr) {
            ev.details["version"] = e.desc->version;
        }
        if (!detail.empty()) {
            ev.details["error"] = detail;
        }
        rt.audit().record(std::move(ev));
    }

    bool resolve(Entry& e, std::vector<std::string>& failures);
    bool load(Entry& e, std::vector<std::string>& failures);
    bool check_descriptor(Entry& e, std::vector<std::string>& failures);
    void validate_config(Entry& e, sdk::ConfigErrors& errors, std::vector<std::string>& failures);
    bool start_one(Entry& e, std::vector<std::string>& failures);
    void stop_one(Entry& e) noexcept;
};

bool PluginLoader::Impl::resolve(Entry& e, std::vector<std::string>& failures) {
    std::error_code ec;
    if (!e.cfg.path.empty()) {
        std::string p = expand_plugin_dir(e.cfg.path, config_dir);
        if (!fs::is_regular_file(p, ec)) {
            failures.push_back(failure(e, "resolve", "library " + p + " does not exist"));
            return false;
        }
        e.path = p;
        return true;
    }
    std::string file = "agenthost_" + e.cfg.name + ".so";
    std::vector<std::string> searched;
    for (const auto& dir : config.plugin_paths) {
        std::string d = expand_plugin_dir(dir, config_dir);
        searched.push_back(d);
        fs::path candidate = fs::path(d) / file;
        if (fs::is_regular_file(candidate, ec)) {
            e.path = candidate.string();
            return true;
        }
    }
    failures.push_back(failure(e, "resolve",
                               searched.empty() ? file + " not found: no plugin_paths configured"
                                                : file + " not found in: " + join(searched, ", ")));
    return false;
}

bool PluginLoader::Impl::load(Entry& e, std::vector<std::string>& failures) {
    boost::dll::shared_library lib;
    std::error_code ec;
    ::dlerror();  // clear, so the text below is this load's
    lib.load(e.path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec || !lib.is_loaded()) {
        const char* why = ::dlerror();
        failures.push_back(failure(e, "load", why != nullptr ? why : ec.message()));
        return false;
    }
    // Every library stays loaded, even refused ones: their static initialisers already
    // ran and may have left state pointing into their code.
    keep_loaded_until_exit(lib);

    // ABI first: nothing of the plugin is called before its tag matches ours.
    if (!lib.has(sdk::abi_tag_symbol)) {
        failures.push_back(failure(e, "abi",
                                   std::string("symbol '") + sdk::abi_tag_symbol +
                                       "' is not exported (not built with "
                                       "AGENTHOST_PLUGIN?)"));
        return false;
    }
    const char* tag = &lib.get<const char>(sdk::abi_tag_symbol);
    std::string_view theirs(tag, ::strnlen(tag, 512));
    if (theirs != sdk::abi_tag) {
        failures.push_back(failure(e, "abi",
                                   "plugin was built for '" + std::string(theirs) +
                                       "', this kernel is '" + sdk::abi_tag +
                                       "'; rebuild it against this SDK"));
        return false;
    }

    if (!lib.has(sdk::entry_symbol)) {
        failures.push_back(
            failure(e, "entry", std::string("symbol '") + sdk::entry_symbol + "' is not exported"));
        return false;
    }
    try {
        auto& entry = lib.get_alias<sdk::EntryFunction>(sdk::entry_symbol);
        e.desc = &entry();
    } catch (...) {
        failures.push_back(failure(e, "entry", exception_text(std::current_exception())));
        return false;
    }
    return true;
}

bool PluginLoader::Impl::check_descriptor(Entry& e, std::vector<std::string>& failures) {
    const auto& d = *e.desc;
    std::vector<std::string> problems;
    if (d.name != e.cfg.name) {
        problems.push_back("descriptor name '" + d.name + "' does not match the entry name");
    } else if (!valid_name(d.name)) {
        problems.push_back("name '" + d.name + "' does not match ^[a-z][a-z0-9_]*$");
    }
    if (d.version.empty()) {
        problems.push_back("version is empty");
    }
    if (!d.create) {
        problems.push_back("no factory (create) set");
    }
    for (const auto* list : {&d.provides, &d.requires_capabilities}) {
        for (const auto& cap : *list) {
            if (!valid_name(cap)) {
                problems.push_back("capability name '" + cap + "' is invalid");
            }
        }
    }
    for (auto& p : problems) {
        failures.push_back(failure(e, "descriptor", p));
    }
    return problems.empty();
}

void PluginLoader::Impl::validate_config(Entry& e, sdk::ConfigErrors& errors,
                                         std::vector<std::string>& failures) {
    std::string path =
        e.cfg.yaml_path.empty() ? "plugins." + e.cfg.name + ".config" : e.cfg.yaml_path;
    config::ValidateOptions opts;
    opts.base_dir = config_dir;
    std::size_t before = errors.size();
    e.config = config::validate_section(e.cfg.config, e.desc->config_schema, path, errors, opts);
    if (errors.size() != before) {
        for (std::size_t i = before; i < errors.size(); ++i) {
            failures.push_back(failure(e, "config", errors[i].path + ": " + errors[i].message));
        }
        return;  // cross-field checks assume a schema-valid section
    }
    if (!e.desc->validate) {
        return;
    }
    try {
        e.desc->validate(e.config, path, errors);
    } catch (...) {
        std::string msg = failure(e, "validate", exception_text(std::current_exception()));
        errors.push_back({path, msg});
        failures.push_back(msg);
        return;
    }
    for (std::size_t i = before; i < errors.size(); ++i) {
        failures.push_back(failure(e, "validate", errors[i].path + ": " + errors[i].message));
    }
}

PluginLoader::PluginLoader(runtime::Runtime& rt, const config::KernelConfig& config)
    : impl_(std::make_unique<Impl>(rt, config)) {
    for (const auto& pe : impl_->config.plugins) {
        Entry e;
        e.cfg = pe;
        impl_->entries.push_back(std::move(e));
    }
}

PluginLoader::~PluginLoader() {
    stop_all();
}

sdk::Status PluginLoader::prepare(sdk::ConfigErrors& errors) {
    std::vector<std::string> failures;
    for (auto& e : impl_->entries) {
        std::size_t before = failures.size();
        std::size_t errors_before = errors.size();
        if (impl_->resolve(e, failures) && impl_->load(e, failures) &&
            impl_->check_descriptor(e, failures)) {
            impl_->validate_config(e, errors, failures);
        }
        bool config_stage = errors.size() != errors_before;
        for (std::size_t i = before; i < failures.size(); ++i) {
            // Schema/validator errors are already in `errors` with their own paths.
            if (!config_stage) {
                errors.push_back({"plugins." + e.cfg.name, failures[i]});
            }
        }
        if (failures.size() != before) {
            impl_->audit(e, "plugin.load", "denied", failures[before]);
            impl_->log->error("plugin refused", {{"error", failures[before]}});
        }
    }
    impl_->prepared = true;
    impl_->prepared_ok = failures.empty();
    if (!failures.empty()) {
        return sdk::error(sdk::Errc::invalid_argument, join(failures, "\n"));
    }
    return sdk::Status::success();
}

bool PluginLoader::Impl::start_one(Entry& e, std::vector<std::string>& failures) {
    auto dir = make_state_dir(config.state_dir, e.cfg.name);
    if (!dir.ok()) {
        failures.push_back(failure(e, "create", dir.status().message()));
        return false;
    }
    e.ctx = std::make_unique<PluginContextImpl>(rt, e.cfg.name, dir.value());
    try {
        auto made = e.desc->create(*e.ctx, e.config);
        if (!made.ok()) {
            failures.push_back(failure(e, "create", made.status().message()));
        } else if (!made.value()) {
            failures.push_back(failure(e, "create", "factory returned no object"));
        } else {
            e.plugin = std::move(made.value());
        }
    } catch (...) {
        failures.push_back(failure(e, "create", exception_text(std::current_exception())));
    }
    if (!e.plugin) {
        e.ctx->drop_callbacks();
        e.ctx->withdraw_all();
        e.ctx.reset();
        return false;
    }
    sdk::Status st;
    try {
        st = e.plugin->start();
    } catch (...) {
        st = sdk::error(sdk::Errc::internal, exception_text(std::current_exception()));
    }
    if (!st.ok()) {
        // A plugin whose start() failed is not stopped, only withdrawn and destroyed.
        failures.push_back(
            failure(e, "start", st.message().empty() ? sdk::errc_name(st.code()) : st.message()));
        e.ctx->drop_callbacks();
        e.ctx->withdraw_all();
        e.plugin.reset();
        e.ctx.reset();
        return false;
    }
    bool all_provided = true;
    for (const auto& cap : e.desc->provides) {
        if (!e.ctx->provided(cap)) {
            all_provided = false;
            failures.push_back(
                failure(e, "provide",
                        "declared capability '" + cap + "' but did not register it" +
                            (cap == sdk::capability::http_routes ? " (no route added)"
                                                                 : " with the service registry")));
        }
    }
    if (!all_provided) {
        stop_one(e);
        e.plugin.reset();
        e.ctx.reset();
        return false;
    }
    return true;
}

void PluginLoader::Impl::stop_one(Entry& e) noexcept {
    if (!e.plugin) {
        return;
    }
    e.ctx->drop_callbacks();
    e.plugin->stop();
    e.ctx->withdraw_all();
}

sdk::Status PluginLoader::start(const std::vector<std::string>& role_required_capabilities) {
    auto& im = *impl_;
    if (!im.prepared || !im.prepared_ok) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "plugins cannot start: prepare() was not called or failed");
    }
    if (!im.started.empty()) {
        return sdk::error(sdk::Errc::conflict, "plugins are already started");
    }
    std::vector<std::size_t> enabled;
    for (std::size_t i = 0; i < im.entries.size(); ++i) {
        if (im.entries[i].cfg.enabled) {
            enabled.push_back(i);
        }
    }
    std::vector<std::string> failures;

    std::map<std::string, std::string> exclusive_owner;
    for (std::size_t i : enabled) {
        auto& e = im.entries[i];
        for (const auto& cap : e.desc->provides) {
            if (!sdk::is_exclusive_capability(cap)) {
                continue;
            }
            auto [it, fresh] = exclusive_owner.emplace(cap, e.cfg.name);
            if (!fresh) {
                failures.push_back(im.failure(e, "exclusive",
                                              "capability '" + cap +
                                                  "' is exclusive and already provided by "
                                                  "plugin '" +
                                                  it->second + "'"));
            }
        }
    }
    auto provided_by_other = [&](const std::string& cap, std::size_t self) {
        for (std::size_t j : enabled) {
            const auto& p = im.entries[j].desc->provides;
            if (j != self && std::find(p.begin(), p.end(), cap) != p.end()) {
                return true;
            }
        }
        return false;
    };
    for (std::size_t i : enabled) {
        auto& e = im.entries[i];
        for (const auto& cap : e.desc->requires_capabilities) {
            if (!provided_by_other(cap, i)) {
                failures.push_back(im.failure(
                    e, "requires",
                    "capability '" + cap + "' is not provided by any other enabled plugin"));
            }
        }
    }
    for (const auto& cap : role_required_capabilities) {
        if (!provided_by_other(cap, static_cast<std::size_t>(-1))) {
            failures.push_back("role '" + im.config.role + "' requires capability '" + cap +
                               "', which no enabled plugin provides");
        }
    }
    std::vector<std::size_t> order;
    if (failures.empty()) {
        std::vector<OrderNode> nodes;
        for (std::size_t i : enabled) {
            const auto& d = *im.entries[i].desc;
            nodes.push_back({d.name, d.provides, d.requires_capabilities});
        }
        auto result = dependency_order(nodes);
        if (!result.cycle.empty()) {
            for (std::size_t k = 0; k < nodes.size(); ++k) {
                if (std::find(result.cycle.begin(), result.cycle.end(), nodes[k].name) !=
                    result.cycle.end()) {
                    failures.push_back(
                        im.failure(im.entries[enabled[k]], "requires",
                                   "dependency cycle among plugins: " + join(result.cycle, ", ")));
                }
            }
        }
        for (std::size_t k : result.order) {
            order.push_back(enabled[k]);
        }
    }
    if (!failures.empty()) {
        im.log->error("plugins refused", {{"errors", join(failures, "; ")}});
        return sdk::error(sdk::Errc::invalid_argument, join(failures, "\n"));
    }

    for (std::size_t i : order) {
        auto& e = im.entries[i];
        if (!im.start_one(e, failures)) {
            im.audit(e, "plugin.start", "failure", e.error);
            im.log->error("plugin failed to start", {{"error", e.error}});
            stop_all();
            return sdk::error(sdk::Errc::unavailable, join(failures, "\n"));
        }
        im.started.push_back(i);
        im.audit(e, "plugin.start", "success", "");
        im.log->info("plugin started",
                     {{"plugin", e.cfg.name}, {"version", e.desc->version}, {"path", e.path}});
    }
    return sdk::Status::success();
}

void PluginLoader::stop_all() noexcept {
    auto& im = *impl_;
    for (auto it = im.started.rbegin(); it != im.started.rend(); ++it) {
        auto& e = im.entries[*it];
        im.stop_one(e);
        im.log->info("plugin stopped", {{"plugin", e.cfg.name}});
    }
    // Objects go only after every plugin stopped: a consumer's stop() may still use a
    // provider's service, and contexts outlive their plugins.
    for (auto it = im.started.rbegin(); it != im.started.rend(); ++it) {
        im.entries[*it].plugin.reset();
    }
    for (auto it = im.started.rbegin(); it != im.started.rend(); ++it) {
        im.entries[*it].ctx.reset();
    }
    im.started.clear();
}

std::vector<PluginInfo> PluginLoader::describe() const {
    std::vector<PluginInfo> out;
    for (const auto& e : impl_->entries) {
        PluginInfo info;
        info.name = e.cfg.name;
        info.path = e.path;
        info.enabled = e.cfg.enabled;
        info.started = e.plugin != nullptr;
        info.error = e.error;
        if (e.desc != nullptr) {
            info.version = e.desc->version;
            info.description = e.desc->description;
            info.provides = e.desc->provides;
            info.requires_capabilities = e.desc->requires_capabilities;
            info.schema = e.desc->config_schema;
        }
        out.push_back(std::move(info));
    }
    return out;
}

std::vector<std::string> PluginLoader::start_order() const {
    std::vector<std::string> out;
    for (std::size_t i : impl_->started) {
        out.push_back(impl_->entries[i].cfg.name);
    }
    return out;
}

}  // namespace agenthost::plugin
