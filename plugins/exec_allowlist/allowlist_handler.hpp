#pragma once
// The allowlist command handler: runs only configured programs ("allowlist.<name>"),
// with argv built from templates after every argument matched its pattern. No shell
// is ever involved; processes run through ProcessRunner.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/sdk.hpp>

#include "process_runner.hpp"
#include "program_spec.hpp"

namespace agenthost::plugins::exec_allowlist {

class AllowlistHandler final : public sdk::CommandHandler {
public:
    AllowlistHandler(sdk::PluginContext& ctx, std::map<std::string, ProgramSpec> programs);

    std::vector<std::string> commands() const override;
    sdk::Status validate(const sdk::CommandRequest& request) const override;
    void execute(sdk::CommandRequest request, sdk::Callback<sdk::ExecResult> done) override;
    void cancel(std::string_view command_id) override;

    // Kills every running program; their completions are not delivered.
    void shutdown() noexcept { runner_.stop(); }
    std::size_t running() const { return runner_.active(); }

private:
    const ProgramSpec* find(std::string_view command) const;

    sdk::PluginContext& ctx_;
    std::map<std::string, ProgramSpec> programs_;
    ProcessRunner runner_;
};

}  // namespace agenthost::plugins::exec_allowlist
