// start() reports an error: stage "start".
#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
class FailingStart final : public agenthost::sdk::Plugin {
public:
    agenthost::sdk::Status start() override {
        return agenthost::sdk::error(agenthost::sdk::Errc::unavailable, "backing store is down");
    }
    void stop() noexcept override {}
};

const agenthost::sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        auto d = agenthost::test::simple_descriptor("bad_failing_start");
        d.create = [](agenthost::sdk::PluginContext&, const agenthost::sdk::json::object&)
            -> agenthost::sdk::Result<std::unique_ptr<agenthost::sdk::Plugin>> {
            return std::unique_ptr<agenthost::sdk::Plugin>(std::make_unique<FailingStart>());
        };
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
