// exec_builtin: descriptor and entry point only (logic in builtin_handler.cpp).
#include <agenthost/sdk.hpp>

#include "builtin_handler.hpp"

namespace agenthost::plugins::exec_builtin {
namespace {

class BuiltinPlugin final : public sdk::Plugin {
public:
    BuiltinPlugin(sdk::PluginContext& ctx, BuiltinOptions options)
        : ctx_(ctx), handler_(ctx, std::move(options)) {}
    sdk::Status start() override { return ctx_.services().provide<sdk::CommandHandler>(&handler_); }
    void stop() noexcept override { handler_.shutdown(); }

private:
    sdk::PluginContext& ctx_;
    BuiltinHandler handler_;
};

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d{
        .name = "exec_builtin",
        .version = "1.0.0",
        .description = "Built-in gateway commands: builtin.echo, builtin.sleep, builtin.sysinfo",
        .provides = {std::string(sdk::capability::command_handler)},
        .requires_capabilities = {},
        .config_schema =
            {
                sdk::integer_field("max_sleep_s")
                    .describe("Longest builtin.sleep accepted, in seconds")
                    .range(0, 86400)
                    .fallback(3600),
                sdk::string_field("proc_root")
                    .describe("Where /proc is mounted (tests and containers)")
                    .fallback("/proc")
                    .check_file(sdk::FileCheck::directory),
            },
        .validate = {},
        .create = [](sdk::PluginContext& ctx,
                     const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            return std::unique_ptr<sdk::Plugin>(
                std::make_unique<BuiltinPlugin>(ctx, parse_options(config)));
        },
    };
    return d;
}

}  // namespace
}  // namespace agenthost::plugins::exec_builtin

AGENTHOST_PLUGIN(agenthost::plugins::exec_builtin::descriptor)
