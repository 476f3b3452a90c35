#include "kernel/config/kernel_rules.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>

#include "kernel/config/schema_validator.hpp"
#include "kernel/crypto/keyring.hpp"

namespace agenthost::config {

namespace json = sdk::json;

namespace {

constexpr std::size_t min_key_bytes = 32;

const json::object* member_object(const json::object& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_object() ? &it->value().as_object() : nullptr;
}

std::optional<std::int64_t> member_int(const json::object* o, const char* key) {
    if (o == nullptr) {
        return std::nullopt;
    }
    auto it = o->find(key);
    if (it == o->end() || !it->value().is_int64()) {
        return std::nullopt;
    }
    return it->value().as_int64();
}

bool is_lower_hex_sha256(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char ch) {
               return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
           });
}

std::string scalar_at(const YAML::Node& map, const char* key) {
    if (!map.IsDefined() || !map.IsMap()) {
        return {};
    }
    const YAML::Node v = map[key];
    return v.IsDefined() && v.IsScalar() ? v.Scalar() : std::string();
}

// A key file that passed the file checks must also decode to enough key material.
void check_key_file(const YAML::Node& entry, const char* key, const std::string& path,
                    const std::string& base_dir, const char* what, sdk::ConfigErrors& errors) {
    const std::string file = scalar_at(entry, key);
    if (file.empty() || has_error_at(errors, path)) {
        return;  // already reported (missing, unreadable, world-readable ...)
    }
    auto k = crypto::read_key_file(resolve_path(base_dir, file), min_key_bytes);
    if (!k) {
        errors.push_back({path, std::string(what) + ": " + k.status().message()});
    }
}

void check_master_keys(const YAML::Node& keys, const std::string& base_dir,
                       sdk::ConfigErrors& errors) {
    if (!keys.IsDefined() || !keys.IsSequence()) {
        return;
    }
    std::set<std::string> kids;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::string item = "keys[" + std::to_string(i) + "]";
        const std::string kid = scalar_at(keys[i], "kid");
        if (!kid.empty() && !kids.insert(kid).second) {
            errors.push_back({item + ".kid", "duplicate kid '" + kid + "'"});
        }
        check_key_file(keys[i], "file", item + ".file", base_dir, "master key file", errors);
    }
}

void check_operators(const YAML::Node& ops, sdk::ConfigErrors& errors) {
    if (!ops.IsDefined() || !ops.IsSequence()) {
        return;
    }
    std::set<std::string> names;
    std::set<std::string> hashes;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        const std::string item = "operators[" + std::to_string(i) + "]";
        const std::string name = scalar_at(ops[i], "name");
        if (!name.empty() && !names.insert(name).second) {
            errors.push_back({item + ".name", "duplicate operator name '" + name + "'"});
        }
        const std::string path = item + ".token_sha256";
        const std::string token = scalar_at(ops[i], "token_sha256");
        if (token.empty() || has_error_at(errors, path)) {
            continue;
        }
        // Never echo the value: it may be a token pasted in clear.
        if (!is_lower_hex_sha256(token)) {
            errors.push_back({path,
                              "must be the SHA-256 of the token as 64 lower-case hex characters "
                              "(a token stored in clear is refused; use: printf %s TOKEN | "
                              "sha256sum)"});
        } else if (!hashes.insert(token).second) {
            errors.push_back({path, "the same token is configured twice"});
        }
    }
}

void check_protocol(const json::object& kernel, sdk::ConfigErrors& errors) {
    const json::object* p = member_object(kernel, "protocol");
    const auto skew = member_int(p, "max_skew_s");
    const auto window = member_int(p, "replay_window_s");
    if (skew && window && *window < 2 * *skew) {
        errors.push_back({"protocol.replay_window_s", "must be at least 2 x max_skew_s (" +
                                                          std::to_string(2 * *skew) + "), got " +
                                                          std::to_string(*window)});
    }
    const auto heartbeat = member_int(p, "heartbeat_s");
    const auto idle = member_int(p, "idle_timeout_s");
    if (heartbeat && idle && *idle < *heartbeat) {
        errors.push_back({"protocol.idle_timeout_s", "must be at least heartbeat_s (" +
                                                         std::to_string(*heartbeat) + "), got " +
                                                         std::to_string(*idle)});
    }
}

void check_tls_pairs(const YAML::Node& tls, sdk::ConfigErrors& errors) {
    const bool cert = !scalar_at(tls, "admin_cert").empty();
    const bool key = !scalar_at(tls, "admin_key").empty();
    if (cert && !key) {
        errors.push_back({"tls.admin_key", "required when tls.admin_cert is set"});
    } else if (key && !cert) {
        errors.push_back({"tls.admin_cert", "required when tls.admin_key is set"});
    }
}

void check_gateway(const YAML::Node& gw, const json::object& kernel, const std::string& base_dir,
                   sdk::ConfigErrors& errors) {
    if (!gw.IsDefined() || !gw.IsMap()) {
        return;
    }
    check_key_file(gw, "key_file", "gateway.key_file", base_dir, "agent key file", errors);
    const json::object* g = member_object(kernel, "gateway");
    const json::object* r = g != nullptr ? member_object(*g, "reconnect") : nullptr;
    const auto initial = member_int(r, "initial_ms");
    const auto max = member_int(r, "max_ms");
    if (initial && max && *initial > *max) {
        errors.push_back({"gateway.reconnect.max_ms",
                          "must be at least initial_ms (" + std::to_string(*initial) + ")"});
    }
}

// audit.fail_closed promises that nothing happens unaudited; an unkeyed chain could be
// rewritten by whoever can edit the file, so every enabled audit plugin (by the
// plugins/<kind>_<impl> convention: "audit_*") must be keyed, and one must exist.
void check_audit_policy(const YAML::Node& root, const json::object& kernel,
                        sdk::ConfigErrors& errors) {
    const json::object* audit = member_object(kernel, "audit");
    const json::value* on = audit != nullptr ? audit->if_contains("fail_closed") : nullptr;
    if (on == nullptr || !on->is_bool() || !on->as_bool()) {
        return;
    }
    const YAML::Node plugins = root["plugins"];
    bool any = false;
    if (plugins.IsDefined() && plugins.IsMap()) {
        for (auto it = plugins.begin(); it != plugins.end(); ++it) {
            if (!it->first.IsScalar() || it->first.Scalar().rfind("audit_", 0) != 0 ||
                !it->second.IsMap()) {
                continue;
            }
            const YAML::Node enabled = it->second["enabled"];
            bool on = true;
            if (enabled.IsDefined() && enabled.IsScalar()) {
                on = enabled.as<bool>(true);  // yes/no/on/off too
            }
            if (!on) {
                continue;
            }
            any = true;
            const std::string path = "plugins." + it->first.Scalar() + ".config.key_file";
            if (scalar_at(it->second["config"], "key_file").empty()) {
                errors.push_back({path,
                                  "required when audit.fail_closed is true: the audit "
                                  "chain must be keyed (base64 of >= 32 random bytes, "
                                  "mode 0600; e.g. openssl rand -base64 32)"});
            }
        }
    }
    if (!any) {
        errors.push_back({"audit.fail_closed",
                          "true requires an enabled audit plugin "
                          "(e.g. plugins.audit_file) with a key_file"});
    }
}

}  // namespace

std::string expand_exe_dir(const std::string& path, const std::string& base_dir) {
    static const std::string token = "${exe_dir}";
    std::string out = path;
    if (out.rfind(token, 0) == 0) {
        std::error_code ec;
        auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
        out = (ec ? std::string(".") : exe.parent_path().string()) + out.substr(token.size());
    }
    return resolve_path(base_dir, out);
}

void check_plugin_locations(const YAML::Node& root, const std::string& base_dir,
                            sdk::ConfigErrors& errors) {
    const YAML::Node dirs = root["plugin_paths"];
    if (dirs.IsDefined() && dirs.IsSequence()) {
        for (std::size_t i = 0; i < dirs.size(); ++i) {
            const std::string path = "plugin_paths[" + std::to_string(i) + "]";
            if (dirs[i].IsScalar() && !dirs[i].Scalar().empty() && !has_error_at(errors, path)) {
                check_file(expand_exe_dir(dirs[i].Scalar(), base_dir), sdk::FileCheck::directory,
                           path, errors);
            }
        }
    }
    const YAML::Node plugins = root["plugins"];
    if (plugins.IsDefined() && plugins.IsMap()) {
        for (auto it = plugins.begin(); it != plugins.end(); ++it) {
            if (!it->first.IsScalar()) {
                continue;
            }
            const std::string path = "plugins." + it->first.Scalar() + ".path";
            const std::string file = scalar_at(it->second, "path");
            if (!file.empty() && !has_error_at(errors, path)) {
                check_file(expand_exe_dir(file, base_dir), sdk::FileCheck::readable_file, path,
                           errors);
            }
        }
    }
}

bool has_error_at(const sdk::ConfigErrors& errors, const std::string& path) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const sdk::ConfigError& e) { return e.path == path; });
}

void check_kernel_rules(const YAML::Node& root, const json::object& kernel, const std::string& role,
                        const std::string& base_dir, sdk::ConfigErrors& errors) {
    check_protocol(kernel, errors);
    check_audit_policy(root, kernel, errors);
    if (role == "backend") {
        check_master_keys(root["keys"], base_dir, errors);
        check_operators(root["operators"], errors);
        check_tls_pairs(root["tls"], errors);
    } else if (role == "gateway") {
        check_gateway(root["gateway"], kernel, base_dir, errors);
    }
}

}  // namespace agenthost::config
