#pragma once
// The validation half of a live reload, shared by both roles: re-read the file the
// process started from with the start-up loader, validate every plugin section the
// way start-up does (a dry PluginLoader::prepare in a throwaway runtime), then refuse
// start-up-only changes (kernel/config/reload_rules.hpp). Nothing is applied here.

#include <string>

#include <agenthost/status.hpp>

#include "kernel/config/kernel_config.hpp"

namespace agenthost::plugin {

// The new config, or an error whose message lists the problems (YAML path: message;
// at most a few, then "and N more").
sdk::Result<config::KernelConfig> load_for_reload(const config::KernelConfig& running);

}  // namespace agenthost::plugin
