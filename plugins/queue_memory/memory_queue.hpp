#pragma once
// MemoryQueue: the "queue" capability held in process memory (embedded profile).
// NOT durable: a restart loses every command (README.md says so).
//
// State machine (sdk/capabilities/queue.hpp):
//   queued -> dispatched (delivered; attempts++) -> acked -> succeeded|failed|rejected|timed_out
//   queued -> cancelled; queued|dispatched -> timed_out at the deadline
//   dispatched, no ack after max_attempts deliveries -> dead_lettered (audited)
// Redelivery: an unacked delivery is retried after ack_timeout * 2^(attempts-1),
// capped at max_backoff. Without an attached session the command waits for attach.
//
// Threading: one mutex guards all state. Deliveries are queued per agent in an
// outbox and handed to the session's DeliverFn by a task posted to the loop, outside
// the lock and one at a time per agent, so they arrive in enqueue order. Completions
// run inline on the caller's thread after the lock is released. Timers and posted
// tasks hold a weak_ptr, so they are harmless after shutdown() or destruction.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/container/devector.hpp>

#include <agenthost/audit.hpp>
#include <agenthost/capabilities/queue.hpp>
#include <agenthost/context.hpp>

#include "plugins/queue_memory/idempotency_table.hpp"
#include "plugins/queue_memory/queue_config.hpp"

namespace agenthost::plugins::queue_memory {

class MemoryQueue final : public sdk::CommandQueue,
                          public std::enable_shared_from_this<MemoryQueue> {
public:
    static std::shared_ptr<MemoryQueue> create(sdk::PluginContext& ctx, const QueueConfig& config);
    ~MemoryQueue() override;

    // sdk::CommandQueue
    void enqueue(sdk::NewCommand command,
                 sdk::Callback<sdk::Result<sdk::EnqueueOutcome>> done) override;
    void get(std::string command_id, sdk::Callback<sdk::Result<sdk::CommandRecord>> done) override;
    void list(sdk::CommandFilter filter,
              sdk::Callback<sdk::Result<std::vector<sdk::CommandRecord>>> done) override;
    void cancel(std::string command_id,
                sdk::Callback<sdk::Result<sdk::CommandRecord>> done) override;
    std::chrono::seconds retry_after(std::string_view agent_id) const override;
    void attach(std::string agent_id, std::string session_id, sdk::DeliverFn deliver) override;
    void detach(std::string agent_id, std::string session_id) override;
    void acked(std::string agent_id, std::string command_id,
               sdk::Callback<sdk::Status> done) override;
    void completed(std::string agent_id, std::string command_id, sdk::CommandState terminal,
                   sdk::Callback<sdk::Status> done) override;

    // Cancels every timer and drops sessions; afterwards nothing is delivered and no
    // timer acts. Calls after shutdown answer Errc::unavailable.
    void shutdown() noexcept;

    // Unfinished commands across all agents (lock-free; for metrics and health).
    std::int64_t depth() const noexcept { return depth_.load(); }
    // Delay before redelivering after `attempts` deliveries.
    std::chrono::milliseconds backoff(std::int32_t attempts) const noexcept;

private:
    MemoryQueue(sdk::PluginContext& ctx, const QueueConfig& config);

    struct Entry {
        sdk::CommandRecord rec;
        std::uint64_t seq = 0;
        sdk::TimerId ack_timer = 0;
        sdk::TimerId deadline_timer = 0;
    };
    struct Session {
        std::string session_id;
        std::shared_ptr<const sdk::DeliverFn> deliver;
    };
    struct Agent {
        std::map<std::uint64_t, std::string> active;  // unfinished, in enqueue order
        std::optional<Session> session;
        // ids to hand to the session, in order; no allocation until used (one per agent)
        boost::container::devector<std::string> outbox;
        bool pumping = false;
    };
    // Work decided under the lock and done after it is released.
    struct After {
        std::vector<std::string> pump_agents;
        std::vector<sdk::AuditEvent> audits;
    };

    void dispatch_locked(Agent& agent, Entry& e, After& after);
    void finish_locked(Entry& e, sdk::CommandState state, After& after);
    void set_state_locked(Entry& e, sdk::CommandState state);
    void trim_terminal_locked();
    void arm_ack_timer_locked(Entry& e);
    void arm_deadline_timer_locked(Entry& e);
    void cancel_timers_locked(Entry& e);
    void on_ack_timeout(const std::string& command_id, std::int32_t attempt);
    void on_deadline(const std::string& command_id);
    void run_after(After after);
    void pump(const std::string& agent_id);
    std::int64_t now_ms() const noexcept;

    sdk::PluginContext& ctx_;
    const QueueConfig config_;

    mutable std::mutex mu_;
    bool stopped_ = false;
    std::uint64_t next_seq_ = 0;
    std::unordered_map<std::string, Entry> commands_;
    std::map<std::uint64_t, std::string> by_seq_;    // every retained command, for list()
    std::unordered_map<std::string, Agent> agents_;  // never erased: references stay valid
    std::deque<std::string> terminal_order_;         // retention, oldest finished first
    IdempotencyTable idempotency_;

    std::atomic<std::int64_t> depth_{0};
    sdk::Gauge& depth_gauge_;
    sdk::Counter& full_total_;
    std::array<sdk::Counter*, 9> state_total_{};
};

}  // namespace agenthost::plugins::queue_memory
