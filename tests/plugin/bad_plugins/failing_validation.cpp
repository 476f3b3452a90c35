// The plugin's cross-field validator reports an error: stage "validate".
#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        auto d = agenthost::test::simple_descriptor("bad_failing_validation");
        d.validate = [](const agenthost::sdk::json::object&, const std::string& path,
                        agenthost::sdk::ConfigErrors& errors) {
            errors.push_back({path + ".low", "must be below high"});
        };
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
