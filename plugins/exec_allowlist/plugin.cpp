// exec_allowlist: descriptor and entry point only (logic in the other files).
#include <agenthost/sdk.hpp>

#include "allowlist_handler.hpp"
#include "program_spec.hpp"

namespace agenthost::plugins::exec_allowlist {
namespace {

class AllowlistPlugin final : public sdk::Plugin {
public:
    AllowlistPlugin(sdk::PluginContext& ctx, std::map<std::string, ProgramSpec> programs)
        : ctx_(ctx), handler_(ctx, std::move(programs)) {}
    sdk::Status start() override { return ctx_.services().provide<sdk::CommandHandler>(&handler_); }
    void stop() noexcept override { handler_.shutdown(); }

private:
    sdk::PluginContext& ctx_;
    AllowlistHandler handler_;
};

sdk::Schema schema() {
    using namespace sdk;
    Field arg = object_field(
        "arg", {
                   string_field("pattern")
                       .describe("ECMAScript regex the whole value must match")
                       .mandatory()
                       .at_least(1),
                   bool_field("required").describe("The argument must be given").fallback(false),
               });
    Field program = object_field(
        "program", {
                       list_field("argv", string_field("item"))
                           .describe("argv template; argv[0] an absolute path; {name} placeholders")
                           .mandatory()
                           .at_least(1),
                       map_field("args", std::move(arg))
                           .describe("Declared arguments")
                           .fallback(json::object{}),
                       integer_field("timeout_s")
                           .describe("Kill the process group after this many seconds")
                           .range(1, 86400)
                           .fallback(60),
                       map_field("env", string_field("value"))
                           .describe("The child's entire environment (nothing is inherited)")
                           .fallback(json::object{}),
                   });
    return {
        map_field("programs", std::move(program))
            .describe("Allowlisted programs by name (command allowlist.<name>)")
            .fallback(json::object{}),
    };
}

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d{
        .name = "exec_allowlist",
        .version = "1.0.0",
        .description = "Runs configured programs with validated argv templates, no shell",
        .provides = {std::string(sdk::capability::command_handler)},
        .requires_capabilities = {},
        .config_schema = schema(),
        .validate = validate_config,
        .create = [](sdk::PluginContext& ctx,
                     const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            sdk::ConfigErrors errors;
            validate_config(config, "config", errors);
            if (!errors.empty()) {
                return sdk::error(sdk::Errc::invalid_argument,
                                  errors.front().path + ": " + errors.front().message);
            }
            return std::unique_ptr<sdk::Plugin>(
                std::make_unique<AllowlistPlugin>(ctx, parse_programs(config)));
        },
    };
    return d;
}

}  // namespace
}  // namespace agenthost::plugins::exec_allowlist

AGENTHOST_PLUGIN(agenthost::plugins::exec_allowlist::descriptor)
