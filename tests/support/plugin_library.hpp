#pragma once
// Loads a built plugin module (<AGENTHOST_PLUGIN_DIR>/agenthost_<name>.so) the way the
// kernel does — ABI tag first, then the entry alias — so a plugin's own tests can
// prove its descriptor and factory work from the shared object, without the kernel.
// The test target must depend on the module (add_dependencies(test agenthost_<name>)).

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <boost/dll/shared_library.hpp>

#include <agenthost/abi.hpp>
#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>
#include <agenthost/plugin.hpp>

namespace agenthost::testing {

struct PluginLibrary {
    boost::dll::shared_library library;  // keep alive while anything from it lives
    const sdk::PluginDescriptor* descriptor = nullptr;
};

// nullopt with `error` set when the module is missing, its ABI tag differs or it has
// no entry.
inline std::optional<PluginLibrary> load_plugin_library(std::string_view name, std::string& error) {
    const char* dir = std::getenv("AGENTHOST_PLUGIN_DIR");  // set by ctest
#ifdef AGENTHOST_TEST_PLUGIN_DIR
    if (dir == nullptr) {
        dir = AGENTHOST_TEST_PLUGIN_DIR;  // the build tree's, for running the binary by hand
    }
#endif
    if (dir == nullptr) {
        error = "AGENTHOST_PLUGIN_DIR is not set (run through ctest)";
        return std::nullopt;
    }
    const std::string path = std::string(dir) + "/agenthost_" + std::string(name) + ".so";
    PluginLibrary out;
    boost::system::error_code ec;
    out.library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec) {
        error = "cannot load " + path + ": " + ec.message();
        return std::nullopt;
    }
    if (!out.library.has(sdk::abi_tag_symbol)) {
        error = "no ABI tag in " + path;
        return std::nullopt;
    }
    const char* tag = &out.library.get<const char>(sdk::abi_tag_symbol);
    if (std::strcmp(tag, sdk::abi_tag) != 0) {
        error = std::string("ABI tag mismatch: ") + tag;
        return std::nullopt;
    }
    if (!out.library.has(sdk::entry_symbol)) {
        error = "no entry symbol in " + path;
        return std::nullopt;
    }
    out.descriptor = &out.library.get_alias<sdk::EntryFunction>(sdk::entry_symbol)();
    return out;
}

// The config object the kernel hands a plugin whose section is empty: every schema
// default filled in (nested objects recursively).
inline sdk::json::object schema_defaults(const sdk::Schema& schema) {
    sdk::json::object out;
    for (const auto& f : schema) {
        if (f.default_value) {
            out[f.key] = *f.default_value;
        } else if (f.type == sdk::FieldType::object) {
            out[f.key] = schema_defaults(f.fields);
        }
    }
    return out;
}

}  // namespace agenthost::testing
