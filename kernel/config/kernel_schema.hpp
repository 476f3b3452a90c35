#pragma once
// The kernel's own config schema (the YAML shape in kernel_config.hpp), declared with
// the same sdk::Field mechanism plugins use. Role-dependent: for "backend" the
// listen/tls/keys/operators sections are required, for "gateway" the gateway
// section; for any other role nothing role-specific is required (the role error is
// reported and everything else is still checked).

#include <string_view>

#include <agenthost/config_schema.hpp>

namespace agenthost::config {

// PROTOCOL.md §1.
inline constexpr const char* agent_id_pattern = "^[a-z0-9][a-z0-9._-]{0,62}$";
// PROTOCOL.md §1: sha256/ + padded standard base64 of 32 bytes.
inline constexpr const char* pin_pattern = "^sha256/[A-Za-z0-9+/]{43}=$";
inline constexpr const char* kid_pattern = "^[A-Za-z0-9._-]{1,64}$";
inline constexpr const char* plugin_name_pattern = "^[a-z][a-z0-9_]*$";

sdk::Schema kernel_schema(std::string_view role);
// One entry of the `plugins` map, without its opaque `config` (validated by the
// plugin loader against the plugin's own schema).
sdk::Schema plugin_entry_schema();

}  // namespace agenthost::config
