#pragma once
// The one schema mechanism for the kernel's own config and every plugin section
// (sdk/include/agenthost/config_schema.hpp): a YAML node is checked against a list of
// sdk::Field declarations and converted into a json::object whose values already
// have the declared types, with defaults filled in.
//
// Fail-closed and exhaustive: every problem is appended to `errors` with its YAML
// path ("plugins.queue_memory.config.max_depth", list items as "keys[1].file") and
// validation carries on, so one run reports everything. Values of secret fields never
// appear in messages.

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>

namespace agenthost::config {

struct ValidateOptions {
    // Relative paths in fields with a FileCheck are resolved against this directory
    // (the config file's directory); the resolved path is what the caller receives.
    // Empty: paths are used as written (relative to the working directory).
    std::string base_dir;
    // Keys accepted at the top level of the section without validation (the caller
    // validates them itself, e.g. the kernel's opaque `plugins` map). They are listed
    // among the valid keys in "unknown key" messages and left out of the result.
    std::vector<std::string> passthrough_keys;
};

// Validates the mapping `node` (null or undefined counts as empty) against `schema`.
// `path` is the YAML path of the section ("" for the document root).
sdk::json::object validate_section(const YAML::Node& node, const sdk::Schema& schema,
                                   const std::string& path, sdk::ConfigErrors& errors);
sdk::json::object validate_section(const YAML::Node& node, const sdk::Schema& schema,
                                   const std::string& path, sdk::ConfigErrors& errors,
                                   const ValidateOptions& options);

// "a" + "b" → "a.b"; "" + "b" → "b".
std::string join_path(const std::string& base, const std::string& key);
// Absolute paths unchanged; relative ones joined to `base_dir` (if not empty).
std::string resolve_path(const std::string& base_dir, const std::string& path);
// Applies one FileCheck to `file`; appends at most one error at `path`.
void check_file(const std::string& file, sdk::FileCheck check, const std::string& path,
                sdk::ConfigErrors& errors);

}  // namespace agenthost::config
