// The factory throws: the loader turns it into a failure at stage "create".
#include <stdexcept>

#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        auto d = agenthost::test::simple_descriptor("bad_throwing_factory");
        d.create = [](agenthost::sdk::PluginContext&, const agenthost::sdk::json::object&)
            -> agenthost::sdk::Result<std::unique_ptr<agenthost::sdk::Plugin>> {
            throw std::runtime_error("factory exploded");
        };
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
