#pragma once
// The hello plugin: answers GET /hello on the kernel's plain health listener.

#include <string>

#include <agenthost/sdk.hpp>

namespace hello {

class HelloPlugin final : public agenthost::sdk::Plugin {
public:
    HelloPlugin(agenthost::sdk::PluginContext& ctx, std::string greeting);
    // Registers the route (and counts requests); the route is withdrawn by the kernel
    // when it stops the plugin.
    agenthost::sdk::Status start() override;
    void stop() noexcept override;

private:
    agenthost::sdk::PluginContext& ctx_;
    std::string greeting_;
    agenthost::sdk::Counter* requests_ = nullptr;
};

}  // namespace hello
