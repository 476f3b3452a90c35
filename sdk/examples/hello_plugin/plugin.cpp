// Descriptor and export only; the logic is in hello.cpp.
#include "hello.hpp"

namespace {
namespace sdk = agenthost::sdk;

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d = [] {
        sdk::PluginDescriptor d;
        d.name = "hello";
        d.version = "1.0.0";
        d.description = "Example plugin: GET /hello on the health listener";
        d.provides = {std::string(sdk::capability::http_routes)};
        d.config_schema = {
            sdk::string_field("greeting")
                .fallback("hello")
                .range(1, 64)
                .describe("The message returned by GET /hello"),
        };
        d.create =
            [](sdk::PluginContext& ctx,
               const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            std::string greeting(config.at("greeting").as_string());
            return std::unique_ptr<sdk::Plugin>(
                std::make_unique<hello::HelloPlugin>(ctx, std::move(greeting)));
        };
        return d;
    }();
    return d;
}

}  // namespace

AGENTHOST_PLUGIN(descriptor)
