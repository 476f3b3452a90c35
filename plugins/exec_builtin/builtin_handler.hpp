#pragma once
// The built-in command handler: builtin.echo, builtin.sleep, builtin.sysinfo.
// Nothing here blocks a loop thread: sleep is a scheduler timer, sysinfo reads /proc
// on the blocking pool. Thread-safe (the kernel calls in from any loop thread).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/sdk.hpp>

namespace agenthost::plugins::exec_builtin {

struct BuiltinOptions {
    std::int64_t max_sleep_ms = 3'600'000;
    std::string proc_root = "/proc";  // tests point this at a fixture directory
};

// Parses the plugin's (schema-checked) config section.
BuiltinOptions parse_options(const sdk::json::object& config);

// The sysinfo document built from `proc_root` and uname(2); blocking (file reads).
sdk::Result<std::string> read_sysinfo(const std::string& proc_root);

class BuiltinHandler final : public sdk::CommandHandler {
public:
    BuiltinHandler(sdk::PluginContext& ctx, BuiltinOptions options);
    ~BuiltinHandler() override;

    std::vector<std::string> commands() const override;
    sdk::Status validate(const sdk::CommandRequest& request) const override;
    void execute(sdk::CommandRequest request, sdk::Callback<sdk::ExecResult> done) override;
    void cancel(std::string_view command_id) override;

    // Cancels every pending sleep without completing it (plugin stop).
    void shutdown() noexcept;

private:
    struct Sleeper {
        sdk::TimerId timer = 0;
        sdk::Callback<sdk::ExecResult> done;
        std::int64_t started_ms = 0;
    };
    // Shared with timer tasks so a late timer after shutdown finds nothing to do.
    struct State {
        std::mutex mu;
        bool stopped = false;
        std::map<std::string, Sleeper, std::less<>> sleepers;
    };
    void run_sleep(sdk::CommandRequest request, sdk::Callback<sdk::ExecResult> done);
    // Completes the sleeper `command_id` if still pending (timer fired or cancelled).
    static void finish_sleep(const std::shared_ptr<State>& state, const sdk::Clock& clock,
                             std::string_view command_id, bool cancelled);

    sdk::PluginContext& ctx_;
    BuiltinOptions options_;
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace agenthost::plugins::exec_builtin
