#pragma once
// RedisQueue: the "queue" capability kept in Redis (streams, consumer groups, Lua), so
// that every host of a cluster sees the same commands and a command enqueued through
// any host reaches the host holding the agent's session. Behaves like queue_memory
// (sdk/capabilities/queue.hpp state machine); see README.md and queue_scripts.hpp.
//
// Threading: Redis I/O runs on ah_redis' I/O thread through redis::Client (never
// blocking); completions run there.
// Local state (attached sessions, per-agent outboxes) is guarded by one mutex; the
// DeliverFn runs in a task posted to the loop, outside the lock, one command at a time
// per agent, in the order Redis dispatched them.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <agenthost/capabilities/queue.hpp>
#include <agenthost/context.hpp>

#include "plugins/_common_redis/client.hpp"
#include "plugins/queue_redis/queue_config.hpp"

namespace agenthost::plugins::queue_redis {

class RedisQueue final : public sdk::CommandQueue,
                         public std::enable_shared_from_this<RedisQueue> {
public:
    static std::shared_ptr<RedisQueue> create(sdk::PluginContext& ctx, const QueueConfig& config,
                                              redis::Endpoint endpoint);
    ~RedisQueue() override;

    // Connects (asynchronously) and starts the sweep. Errc::unsupported when the
    // scheduler has no native loop.
    sdk::Status start();
    // Stops the sweep, drops sessions, waits for a DeliverFn running on another thread
    // and closes the connections; afterwards no completion or DeliverFn runs and calls
    // answer Errc::unavailable.
    void shutdown() noexcept;

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

    // Redis reachable and answering (readiness).
    bool healthy() const noexcept;
    std::optional<double> ping_latency_ms() const noexcept;
    std::string last_error() const;
    // Unfinished commands across the cluster, as of the last sweep.
    std::int64_t depth() const noexcept { return depth_.load(); }
    // Runs one sweep now (tests; the timer runs it every sweep_interval_ms).
    void sweep_now();

private:
    RedisQueue(sdk::PluginContext& ctx, const QueueConfig& config, redis::Endpoint endpoint);

    struct Agent {
        std::string session_id;
        std::shared_ptr<const sdk::DeliverFn> deliver;
        std::deque<sdk::CommandRecord> outbox;
        bool attaching = false;  // the attach script is in flight: no pulls before it
        bool pulling = false;
        bool pull_again = false;
        bool pumping = false;
    };

    bool is_stopped() const;
    static bool in_delivery() noexcept;
    std::string now_arg() const;
    std::string base_ms() const;
    std::string cap_ms() const;
    void count(sdk::CommandState s, std::uint64_t n = 1);

    void release(const std::string& agent_id);
    void run_attach(const std::string& agent_id, const std::string& session_id);
    void pull(const std::string& agent_id);
    void on_pulled(const std::string& agent_id, const std::string& session_id,
                   sdk::Result<redis::Reply> r, bool was_attach);
    // Ends a read (attach, pull, or an enqueue that read too): queues what it
    // dispatched for the session and starts the next read if one was asked meanwhile.
    void take_pulled(const std::string& agent_id, const std::string& session_id, bool ok,
                     std::vector<sdk::CommandRecord> recs, bool was_attach);
    void pump(const std::string& agent_id);
    void on_tick(sdk::Result<redis::Reply> r);
    void on_ready();
    void arm_sweep();

    sdk::PluginContext& ctx_;
    const QueueConfig config_;
    const redis::Endpoint endpoint_;
    const std::string host_;
    std::shared_ptr<redis::Client> cmd_;
    std::shared_ptr<redis::Client> sub_;

    mutable std::mutex mu_;
    std::condition_variable idle_;  // signalled when `delivering_` drops to 0
    int delivering_ = 0;            // DeliverFn calls running (outside mu_)
    bool stopped_ = false;
    std::unordered_map<std::string, Agent> agents_;  // attached on this host
    std::set<std::string> released_;                 // detached; ownership not yet released
    sdk::TimerId sweep_timer_ = 0;
    std::chrono::steady_clock::time_point next_rescan_{};

    std::atomic<std::int64_t> depth_{0};
    sdk::Gauge& depth_gauge_;
    sdk::Counter& full_total_;
    sdk::Counter& unavailable_total_;
    std::array<sdk::Counter*, 9> state_total_{};
};

// Commands read per pull; a full batch triggers another pull at once.
constexpr std::size_t pull_batch = 100;

// Converts an HGETALL-style flat array into a command record (nullopt if malformed).
std::optional<sdk::CommandRecord> parse_record(const redis::Reply& flat);
// An array of such flat arrays (malformed ones skipped).
std::vector<sdk::CommandRecord> records_of(const redis::Reply& arr);

}  // namespace agenthost::plugins::queue_redis
