#include "program_spec.hpp"

#include <unistd.h>

#include <filesystem>
#include <set>

namespace agenthost::plugins::exec_allowlist {

namespace json = sdk::json;
using sdk::Errc;

std::vector<std::string> placeholders(const std::string& element) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while ((pos = element.find('{', pos)) != std::string::npos) {
        const std::size_t end = element.find('}', pos + 1);
        if (end == std::string::npos) {
            break;
        }
        out.push_back(element.substr(pos + 1, end - pos - 1));
        pos = end + 1;
    }
    return out;
}

void validate_config(const json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors) {
    const auto* programs = config.if_contains("programs");
    if (programs == nullptr || !programs->is_object()) {
        return;  // the schema already reported it
    }
    static const std::regex name_re("^[a-z0-9][a-z0-9_-]{0,62}$");
    for (const auto& [name, value] : programs->as_object()) {
        const std::string p = path + ".programs." + std::string(name);
        if (!std::regex_match(std::string(name), name_re)) {
            errors.push_back({p, "program name must match ^[a-z0-9][a-z0-9_-]{0,62}$"});
        }
        if (!value.is_object()) {
            continue;
        }
        const json::object& prog = value.as_object();
        std::set<std::string> declared;
        if (const auto* a = prog.if_contains("args"); a && a->is_object()) {
            for (const auto& [arg, spec] : a->as_object()) {
                declared.insert(std::string(arg));
                const auto* pat =
                    spec.is_object() ? spec.as_object().if_contains("pattern") : nullptr;
                if (pat == nullptr || !pat->is_string()) {
                    continue;
                }
                try {
                    std::regex re(std::string(pat->as_string()), std::regex::ECMAScript);
                } catch (const std::regex_error& e) {
                    errors.push_back({p + ".args." + std::string(arg) + ".pattern",
                                      std::string("invalid regular expression: ") + e.what()});
                }
            }
        }
        const auto* argv = prog.if_contains("argv");
        if (argv == nullptr || !argv->is_array() || argv->as_array().empty()) {
            continue;
        }
        const auto& items = argv->as_array();
        const std::string program = items[0].is_string() ? std::string(items[0].as_string()) : "";
        const std::string p0 = p + ".argv[0]";
        if (program.empty() || program.front() != '/') {
            errors.push_back({p0, "program must be an absolute path"});
        } else if (!placeholders(program).empty()) {
            errors.push_back({p0, "the program path cannot contain placeholders"});
        } else if (!std::filesystem::is_regular_file(program)) {
            errors.push_back({p0, "program " + program + " does not exist"});
        } else if (access(program.c_str(), X_OK) != 0) {
            errors.push_back({p0, "program " + program + " is not executable"});
        }
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (!items[i].is_string()) {
                continue;
            }
            for (const auto& ph : placeholders(std::string(items[i].as_string()))) {
                if (declared.count(ph) == 0) {
                    errors.push_back({p + ".argv[" + std::to_string(i) + "]",
                                      "placeholder {" + ph + "} is not declared under args"});
                }
            }
        }
    }
}

std::map<std::string, ProgramSpec> parse_programs(const json::object& config) {
    std::map<std::string, ProgramSpec> out;
    const auto* programs = config.if_contains("programs");
    if (programs == nullptr || !programs->is_object()) {
        return out;
    }
    for (const auto& [name, value] : programs->as_object()) {
        const json::object& prog = value.as_object();
        ProgramSpec spec;
        spec.name = std::string(name);
        for (const auto& a : prog.at("argv").as_array()) {
            spec.argv.emplace_back(a.as_string());
        }
        if (const auto* args = prog.if_contains("args"); args && args->is_object()) {
            for (const auto& [arg, s] : args->as_object()) {
                ArgSpec as;
                const json::object& so = s.as_object();
                as.pattern = std::string(so.at("pattern").as_string());
                if (const auto* r = so.if_contains("required"); r && r->is_bool()) {
                    as.required = r->as_bool();
                }
                as.re = std::make_shared<const std::regex>(as.pattern, std::regex::ECMAScript);
                spec.args.emplace(std::string(arg), std::move(as));
            }
        }
        if (const auto* t = prog.if_contains("timeout_s"); t && t->is_int64()) {
            spec.timeout = std::chrono::seconds(t->as_int64());
        }
        if (const auto* env = prog.if_contains("env"); env && env->is_object()) {
            for (const auto& [k, v] : env->as_object()) {
                spec.env.push_back(std::string(k) + "=" + std::string(v.as_string()));
            }
        }
        out.emplace(spec.name, std::move(spec));
    }
    return out;
}

sdk::Status check_args(const ProgramSpec& spec, const json::object& args) {
    for (const auto& [key, value] : args) {
        auto it = spec.args.find(std::string(key));
        if (it == spec.args.end()) {
            return sdk::error(Errc::invalid_argument,
                              "argument '" + std::string(key) + "' is not declared");
        }
        if (!value.is_string()) {
            return sdk::error(Errc::invalid_argument,
                              "argument '" + std::string(key) + "' must be a string");
        }
        const std::string v(value.as_string());
        // Bounded length keeps the regex's worst case bounded too; NUL cannot reach argv.
        if (v.size() > kMaxArgBytes || v.find('\0') != std::string::npos) {
            return sdk::error(Errc::invalid_argument,
                              "argument '" + std::string(key) + "' is too long or contains NUL");
        }
        if (!std::regex_match(v, *it->second.re)) {
            return sdk::error(Errc::invalid_argument, "argument '" + std::string(key) +
                                                          "' does not match " + it->second.pattern);
        }
    }
    for (const auto& [name, as] : spec.args) {
        if (as.required && !args.contains(name)) {
            return sdk::error(Errc::invalid_argument, "argument '" + name + "' is required");
        }
    }
    return {};
}

std::vector<std::string> build_argv(const ProgramSpec& spec, const json::object& args) {
    std::vector<std::string> out;
    for (const auto& element : spec.argv) {
        std::string result;
        bool drop = false;
        std::size_t pos = 0;
        while (pos < element.size()) {
            const std::size_t open = element.find('{', pos);
            const std::size_t close =
                open == std::string::npos ? std::string::npos : element.find('}', open + 1);
            if (open == std::string::npos || close == std::string::npos) {
                result.append(element, pos, std::string::npos);
                break;
            }
            result.append(element, pos, open - pos);
            const std::string name = element.substr(open + 1, close - open - 1);
            const auto* v = args.if_contains(name);
            if (v == nullptr) {
                drop = true;
                break;
            }
            // Substituted text is never rescanned, so a value cannot inject a placeholder.
            result.append(v->as_string().data(), v->as_string().size());
            pos = close + 1;
        }
        if (!drop) {
            out.push_back(std::move(result));
        }
    }
    return out;
}

}  // namespace agenthost::plugins::exec_allowlist
