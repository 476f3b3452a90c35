#pragma once
// The fail-closed kernel config loader: YAML file → KernelConfig. Validates the
// kernel's own sections against kernel_schema(role), then cross-field rules (key
// files decode to ≥ 32 bytes, operator tokens stored as SHA-256 hex, timer
// relations, role-specific sections). Plugin sections stay opaque (PluginEntry) and
// are validated by the plugin loader. Every problem is appended to `errors` with its
// YAML path; the result is an error if there is any.

#include <string>

#include <agenthost/config_schema.hpp>
#include <agenthost/status.hpp>

#include "kernel/config/kernel_config.hpp"

namespace agenthost::config {

// `partial` (optional) receives what could be read even when there are errors (notably
// the plugin entries), so `check-config` can still validate every plugin section and
// report all errors in one run. It is left untouched if the file is unreadable or not
// YAML. Never start anything from a partial config.
sdk::Result<KernelConfig> load_kernel_config(const std::string& file, sdk::ConfigErrors& errors,
                                             KernelConfig* partial = nullptr);

// Same, from YAML text; relative paths resolve against `base_dir`. For tests and for
// validating a reloaded config before it replaces the running one.
sdk::Result<KernelConfig> load_kernel_config_text(const std::string& yaml,
                                                  const std::string& base_dir,
                                                  sdk::ConfigErrors& errors);

}  // namespace agenthost::config
