// collect_sys: descriptor and entry point only (logic in sys_collector.cpp).
#include <agenthost/sdk.hpp>

#include "sys_collector.hpp"

namespace agenthost::plugins::collect_sys {
namespace {

class CollectSysPlugin final : public sdk::Plugin {
public:
    CollectSysPlugin(sdk::PluginContext& ctx, CollectOptions options)
        : ctx_(ctx), collector_(ctx, std::move(options)) {}
    sdk::Status start() override {
        return ctx_.services().provide<sdk::TelemetryCollector>(&collector_);
    }
    void stop() noexcept override {}

private:
    sdk::PluginContext& ctx_;
    SysCollector collector_;
};

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d{
        .name = "collect_sys",
        .version = "1.0.0",
        .description = "System telemetry: cpu, memory, load, disk (from /proc and statvfs)",
        .provides = {std::string(sdk::capability::telemetry_collector)},
        .requires_capabilities = {},
        .config_schema =
            {
                sdk::integer_field("interval_s")
                    .describe("Seconds between samples")
                    .range(1, 86400)
                    .fallback(10),
                sdk::list_field("paths", sdk::string_field("path").matches("/.*"))
                    .describe("Filesystems reported by sys.disk.* (absolute paths)")
                    .fallback(sdk::json::array{"/"}),
                sdk::string_field("proc_root")
                    .describe("Where /proc is mounted (tests and containers)")
                    .fallback("/proc")
                    .check_file(sdk::FileCheck::directory),
            },
        .validate = {},
        .create = [](sdk::PluginContext& ctx,
                     const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            return std::unique_ptr<sdk::Plugin>(
                std::make_unique<CollectSysPlugin>(ctx, parse_options(config)));
        },
    };
    return d;
}

}  // namespace
}  // namespace agenthost::plugins::collect_sys

AGENTHOST_PLUGIN(agenthost::plugins::collect_sys::descriptor)
