#pragma once
// Cross-field rules of the kernel config that a per-field schema cannot express
// (loader.cpp runs them after the schema). Internal to kernel/config.

#include <string>

#include <yaml-cpp/yaml.h>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>

namespace agenthost::config {

// `root` is the raw document, `kernel` the schema-validated result, `base_dir` the
// directory relative paths resolve against.
void check_kernel_rules(const YAML::Node& root, const sdk::json::object& kernel,
                        const std::string& role, const std::string& base_dir,
                        sdk::ConfigErrors& errors);

// "${exe_dir}/x" → "<directory of the running executable>/x", then resolved against
// `base_dir` if relative (the plugin loader expands plugin paths the same way).
std::string expand_exe_dir(const std::string& path, const std::string& base_dir);

// Checks plugin_paths[i] (directories) and plugins.<name>.path (files) after expansion.
void check_plugin_locations(const YAML::Node& root, const std::string& base_dir,
                            sdk::ConfigErrors& errors);

bool has_error_at(const sdk::ConfigErrors& errors, const std::string& path);

}  // namespace agenthost::config
