#include "kernel/cli/cli.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/cli/commands.hpp"

namespace agenthost::cli {

namespace {

constexpr const char* usage_text =
    "usage: agenthost <command> [options]\n"
    "\n"
    "commands:\n"
    "  run -c FILE                  start (role from the file)\n"
    "  check-config -c FILE         validate only; exit 0 or 2 with all errors\n"
    "  version                      version, SDK ABI, dependency versions\n"
    "  plugins -c FILE              list plugins found/enabled, capabilities, config keys\n"
    "  keys derive --kid K --agent ID --master FILE\n"
    "                               print the per-agent HMAC key (base64)\n"
    "  pin CERT_OR_KEY_FILE         print the sha256/<base64> SPKI pin\n"
    "  migrate -c FILE              apply storage plugins' schema migrations only\n"
    "  audit verify [--key FILE] [--checkpoints FILE] FILE...\n"
    "                               verify the keyed audit chain; exit 1 on tamper\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 config/usage error\n";

int usage_error(const std::string& message) {
    if (!message.empty()) {
        std::fprintf(stderr, "agenthost: %s\n", message.c_str());
    }
    std::fputs(usage_text, stderr);
    return exit_usage;
}

// Parsed `--name VALUE` / `--name=VALUE` / `-c VALUE` options and positional arguments.
struct Options {
    std::vector<std::pair<std::string, std::string>> named;
    std::vector<std::string> positional;
    std::string error;

    std::optional<std::string> get(std::string_view name) const {
        for (const auto& [k, v] : named) {
            if (k == name) {
                return v;
            }
        }
        return std::nullopt;
    }
};

// `allowed` lists the option names (without dashes) a command accepts; "c" is an
// alias of "config".
Options parse(const std::vector<std::string>& args, const std::vector<std::string>& allowed) {
    Options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() < 2 || a[0] != '-') {
            o.positional.push_back(a);
            continue;
        }
        std::string name = a[1] == '-' ? a.substr(2) : a.substr(1);
        std::optional<std::string> value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (name == "c") {
            name = "config";
        }
        bool known = false;
        for (const auto& n : allowed) {
            known = known || n == name;
        }
        if (!known) {
            o.error = "unknown option '" + a + "'";
            return o;
        }
        if (!value) {
            if (i + 1 >= args.size()) {
                o.error = "option '" + a + "' needs a value";
                return o;
            }
            value = args[++i];
        }
        if (o.get(name)) {
            o.error = "option '" + a + "' given twice";
            return o;
        }
        o.named.emplace_back(name, *value);
    }
    return o;
}

// Commands taking exactly `-c FILE`.
int with_config(const std::string& command, const std::vector<std::string>& args,
                int (*fn)(const std::string&)) {
    Options o = parse(args, {"config"});
    if (!o.error.empty()) {
        return usage_error(command + ": " + o.error);
    }
    if (!o.positional.empty()) {
        return usage_error(command + ": unexpected argument '" + o.positional.front() + "'");
    }
    auto file = o.get("config");
    if (!file || file->empty()) {
        return usage_error(command + ": -c FILE is required");
    }
    return fn(*file);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    if (args.empty()) {
        return usage_error("");
    }
    const std::string command = args.front();
    args.erase(args.begin());

    if (command == "help" || command == "--help" || command == "-h") {
        std::fputs(usage_text, stdout);
        return exit_ok;
    }
    if (command == "run") {
        return with_config(command, args, cmd_run);
    }
    if (command == "check-config") {
        return with_config(command, args, cmd_check_config);
    }
    if (command == "plugins") {
        return with_config(command, args, cmd_plugins);
    }
    if (command == "migrate") {
        return with_config(command, args, cmd_migrate);
    }
    if (command == "version" || command == "--version") {
        if (!args.empty()) {
            return usage_error("version takes no arguments");
        }
        return cmd_version();
    }
    if (command == "pin") {
        if (args.size() != 1 || (args[0].size() > 1 && args[0][0] == '-')) {
            return usage_error("pin: expected exactly one CERT_OR_KEY_FILE");
        }
        return cmd_pin(args[0]);
    }
    if (command == "keys") {
        if (args.empty() || args.front() != "derive") {
            return usage_error("keys: expected 'keys derive --kid K --agent ID --master FILE'");
        }
        args.erase(args.begin());
        Options o = parse(args, {"kid", "agent", "master"});
        if (!o.error.empty()) {
            return usage_error("keys derive: " + o.error);
        }
        if (!o.positional.empty()) {
            return usage_error("keys derive: unexpected argument '" + o.positional.front() + "'");
        }
        auto kid = o.get("kid");
        auto agent = o.get("agent");
        auto master = o.get("master");
        if (!kid || !agent || !master) {
            return usage_error("keys derive: --kid, --agent and --master are required");
        }
        return cmd_keys_derive(*kid, *agent, *master);
    }
    if (command == "audit") {
        if (args.empty() || args.front() != "verify") {
            return usage_error(
                "audit: expected 'audit verify [--key FILE] [--checkpoints FILE] "
                "FILE...'");
        }
        args.erase(args.begin());
        Options o = parse(args, {"key", "checkpoints"});
        if (!o.error.empty()) {
            return usage_error("audit verify: " + o.error);
        }
        if (o.positional.empty()) {
            return usage_error("audit verify: at least one FILE is required");
        }
        return cmd_audit_verify(o.positional, o.get("key").value_or(""),
                                o.get("checkpoints").value_or(""));
    }
    return usage_error("unknown command '" + command + "'");
}

}  // namespace agenthost::cli
