#pragma once
// Capability "queue": the bounded per-agent command queue with retries and a
// dead-letter state (API.md). It owns the command record and its state machine:
//   queued -> dispatched -> acked -> succeeded | failed | rejected | timed_out
//   queued -> cancelled;  queued/dispatched -> timed_out (deadline passed)
//   dispatched (no ack within ack_timeout, max_attempts reached) -> dead_lettered
// The host holding an agent's session attaches a delivery function; the queue
// calls it for each command to (re)deliver, in enqueue order.
// Threading: thread-safe; completions run on any thread, possibly inline. The
// DeliverFn is called on a loop thread and must not block.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

namespace agenthost::sdk {

enum class CommandState {
    queued,
    dispatched,
    acked,
    succeeded,
    failed,
    rejected,
    timed_out,
    cancelled,
    dead_lettered,
};

inline const char* to_string(CommandState s) noexcept {
    switch (s) {
        case CommandState::queued: return "queued";
        case CommandState::dispatched: return "dispatched";
        case CommandState::acked: return "acked";
        case CommandState::succeeded: return "succeeded";
        case CommandState::failed: return "failed";
        case CommandState::rejected: return "rejected";
        case CommandState::timed_out: return "timed_out";
        case CommandState::cancelled: return "cancelled";
        case CommandState::dead_lettered: return "dead_lettered";
    }
    return "unknown";
}

inline std::optional<CommandState> command_state_from(std::string_view s) noexcept {
    for (int i = 0; i <= static_cast<int>(CommandState::dead_lettered); ++i) {
        auto st = static_cast<CommandState>(i);
        if (s == to_string(st)) return st;
    }
    return std::nullopt;
}

inline bool is_terminal(CommandState s) noexcept {
    return s != CommandState::queued && s != CommandState::dispatched &&
           s != CommandState::acked;
}

struct NewCommand {
    std::string agent_id;
    std::string name;
    json::object args;
    std::int64_t timeout_s = 300;
    std::string idempotency_key;  // empty: none
    std::string request_digest;   // SHA-256 of the canonical request body, for 409 checks
};

struct CommandRecord {
    std::string command_id;  // UUID
    std::string agent_id;
    std::string name;
    json::object args;
    CommandState state = CommandState::queued;
    std::int32_t attempts = 0;  // deliveries so far
    std::int64_t created_ms = 0;
    std::int64_t updated_ms = 0;
    std::int64_t deadline_ms = 0;  // created_ms + timeout_s * 1000
};

struct EnqueueOutcome {
    CommandRecord command;
    bool created = true;  // false: an Idempotency-Key repeat with the same body
};

// Errors of enqueue: Errc::exhausted (queue full; retry_after() tells when),
// Errc::conflict with message "idempotency_conflict" (same key, different body),
// Errc::unavailable (backend down).
struct CommandFilter {
    std::optional<std::string> agent_id;
    std::optional<CommandState> state;
    std::size_t limit = 100;
};

// Sends one command to the agent. Returns false when the session cannot take it
// (closing, write queue full); the queue then retries later as for a missing ack.
using DeliverFn = std::function<bool(const CommandRecord& command)>;

class CommandQueue {
public:
    static constexpr std::string_view capability = "queue";
    virtual ~CommandQueue() = default;

    virtual void enqueue(NewCommand command, Callback<Result<EnqueueOutcome>> done) = 0;
    virtual void get(std::string command_id, Callback<Result<CommandRecord>> done) = 0;
    // Newest first.
    virtual void list(CommandFilter filter, Callback<Result<std::vector<CommandRecord>>> done) = 0;
    // Errc::conflict ("not_cancellable") once dispatched or finished.
    virtual void cancel(std::string command_id, Callback<Result<CommandRecord>> done) = 0;
    // Seconds an operator should wait before retrying a full queue for this agent.
    virtual std::chrono::seconds retry_after(std::string_view agent_id) const = 0;

    // The session for `agent_id` on this host starts (attach) or ends (detach).
    // After attach the queue delivers queued and unacked commands through `deliver`.
    virtual void attach(std::string agent_id, std::string session_id, DeliverFn deliver) = 0;
    virtual void detach(std::string agent_id, std::string session_id) = 0;
    // The agent acked `command_id` (state -> acked). Errc::not_found when the command
    // is unknown or belongs to another agent.
    virtual void acked(std::string agent_id, std::string command_id, Callback<Status> done) = 0;
    // The agent reported a terminal result (state -> `terminal`). A result for a
    // command already terminal is accepted and ignored (idempotent).
    virtual void completed(std::string agent_id, std::string command_id, CommandState terminal,
                           Callback<Status> done) = 0;
};

}  // namespace agenthost::sdk
