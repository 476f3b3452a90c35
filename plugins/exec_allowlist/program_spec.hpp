#pragma once
// Parsed allowlist configuration and argv construction (pure: no I/O besides the
// program-path checks in validate_config). One ProgramSpec per configured program;
// the command name is "allowlist.<name>".

#include <chrono>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <agenthost/sdk.hpp>

namespace agenthost::plugins::exec_allowlist {

struct ArgSpec {
    std::string pattern;  // ECMAScript, must match the whole value
    bool required = false;
    std::shared_ptr<const std::regex> re;
};

struct ProgramSpec {
    std::string name;               // config key; command "allowlist.<name>"
    std::vector<std::string> argv;  // templates; argv[0] is an absolute path
    std::map<std::string, ArgSpec> args;
    std::chrono::seconds timeout{60};
    std::vector<std::string> env;  // "K=V": the child's whole environment
};

inline constexpr std::string_view kCommandPrefix = "allowlist.";
inline constexpr std::size_t kMaxArgBytes = 4096;

// Cross-field checks of the (schema-checked) config: program paths absolute, existing
// and executable; every "{placeholder}" declared; patterns compile.
void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors);

// Builds the specs from a config that passed validate_config.
std::map<std::string, ProgramSpec> parse_programs(const sdk::json::object& config);

// Placeholders ("{name}") used in one argv template element.
std::vector<std::string> placeholders(const std::string& element);

// Checks `args` against the spec: only declared names, string values, full-match
// patterns, required present.
sdk::Status check_args(const ProgramSpec& spec, const sdk::json::object& args);

// The argv for a run: each placeholder replaced by its (validated) value; an
// element referring to an absent optional argument is left out entirely.
std::vector<std::string> build_argv(const ProgramSpec& spec, const sdk::json::object& args);

}  // namespace agenthost::plugins::exec_allowlist
