#pragma once
// Capability "command_handler" (gateway): runs commands by name. Handlers never run
// commands on their own: the kernel's single executor calls them, enforces the
// deadline (calling cancel()), caps concurrency and output, and audits.
// Threading: execute/cancel are called on loop threads and must not block; the
// handler runs blocking work on the blocking pool or in a child process.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/queue.hpp>
#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

namespace agenthost::sdk {

struct CommandRequest {
    std::string command_id;
    std::string name;
    json::object args;
    std::int64_t deadline_ms = 0;  // Unix ms; the executor cancels at this time
    std::int32_t attempt = 1;
    std::size_t output_cap_bytes = 64 * 1024;
};

struct ExecResult {
    CommandState status = CommandState::succeeded;  // succeeded/failed/rejected/timed_out
    std::optional<std::int64_t> exit_code;          // null unless it ran to completion
    std::string output;                             // raw bytes, at most output_cap_bytes
    bool truncated = false;
    std::int64_t started_ms = 0;
    std::int64_t finished_ms = 0;
};

class CommandHandler {
public:
    static constexpr std::string_view capability = "command_handler";
    virtual ~CommandHandler() = default;

    // Command names this handler runs, e.g. "builtin.echo".
    virtual std::vector<std::string> commands() const = 0;
    // Checks the arguments; a non-ok Status makes the command `rejected` unrun.
    virtual Status validate(const CommandRequest& request) const = 0;
    // Starts the command; `done` is called exactly once, from any thread.
    virtual void execute(CommandRequest request, Callback<ExecResult> done) = 0;
    // Stops a running command (deadline, shutdown); `done` still follows.
    virtual void cancel(std::string_view command_id) = 0;
};

}  // namespace agenthost::sdk
