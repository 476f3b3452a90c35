#pragma once
// A do-nothing plugin object and descriptor helper for the deliberately broken test
// plugins: each bad plugin differs from a valid one in exactly one way.

#include <memory>
#include <string>

#include <agenthost/plugin.hpp>

namespace agenthost::test {

class SimplePlugin : public sdk::Plugin {
public:
    sdk::Status start() override { return sdk::Status::success(); }
    void stop() noexcept override {}
};

inline sdk::PluginDescriptor simple_descriptor(std::string name) {
    sdk::PluginDescriptor d;
    d.name = std::move(name);
    d.version = "0.0.1";
    d.description = "deliberately broken test plugin";
    d.create = [](sdk::PluginContext&,
                  const sdk::json::object&) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
        return std::unique_ptr<sdk::Plugin>(std::make_unique<SimplePlugin>());
    };
    return d;
}

}  // namespace agenthost::test
