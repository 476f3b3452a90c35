#pragma once
// The CLI's commands (internal to kernel/cli). Each returns the process exit code:
// 0 ok, 1 runtime failure, 2 config or usage error.

#include <string>
#include <vector>

#include <agenthost/config_schema.hpp>

namespace agenthost::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

int cmd_run(const std::string& config_file);
int cmd_check_config(const std::string& config_file);
int cmd_plugins(const std::string& config_file);
int cmd_migrate(const std::string& config_file);
int cmd_version();
int cmd_pin(const std::string& file);
int cmd_keys_derive(const std::string& kid, const std::string& agent, const std::string& master);
// `key_file` and `checkpoints` may be empty (unkeyed chain / no truncation check).
int cmd_audit_verify(const std::vector<std::string>& files, const std::string& key_file,
                     const std::string& checkpoints);

// Prints "<path>: <message>" per error to stderr.
void print_errors(const sdk::ConfigErrors& errors);
// Prints a plugin's config schema, indented, with types, defaults, bounds and
// descriptions; defaults of secret fields are hidden.
void print_schema(const sdk::Schema& schema, const std::string& indent);
// A field's type ("list of string") and its constraints ("required, default 10,
// range 1..100, one of: a|b"); secret defaults hidden. Shared with the generated
// configuration reference (tests/docs).
std::string field_type(const sdk::Field& f);
std::string field_constraints(const sdk::Field& f);

}  // namespace agenthost::cli
