#pragma once
// The single executor (DESIGN.md "Single executor"): the one path every command
// takes, whoever sent it and whatever handler runs it:
//
//   submit → dedup by command_id (finished: its stored result is spooled again;
//   queued or running: nothing more) → deadline passed? timed_out, unrun → handler
//   lookup (none: rejected) → validate (bad: rejected) → bounded queue (full:
//   rejected) → concurrency cap → record "started" durably → handler.execute with a
//   deadline timer (fires: handler.cancel → timed_out) → output cap → audit
//   "command.execute" → result recorded and spooled in one transaction → on_result.
//
// Threading: thread-safe; submit() never blocks (store writes go to the blocking
// pool). on_result runs on a loop thread after the result is durable.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include <agenthost/sdk.hpp>

#include "kernel/gateway/store.hpp"

namespace agenthost::gateway {

struct ExecutorOptions {
    unsigned concurrency = 4;
    std::size_t output_cap_bytes = 64 * 1024;
    std::size_t max_queue = 256;
    // How long a cancelled handler may take to report before the executor finishes
    // the command as timed_out on its own (a handler that ignores cancel()).
    std::chrono::milliseconds cancel_grace{5000};
};

struct ExecutorDeps {
    sdk::Scheduler& scheduler;
    sdk::BlockingPool& blocking;
    sdk::Clock& clock;
    sdk::Logger& logger;
    sdk::Metrics& metrics;
    sdk::AuditSink& audit;
    GatewayStore& store;
};

class Executor {
public:
    // Called once a result (new, or a stored one spooled again) is durable in the
    // spool; the uplink then sends what the spool holds.
    using ResultReady = std::function<void(const std::string& command_id)>;

    Executor(ExecutorDeps deps, ExecutorOptions options, std::vector<sdk::CommandHandler*> handlers,
             ResultReady on_result);
    ~Executor();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    void submit(sdk::CommandRequest request);

    // Refuses new commands, finishes queued ones as failed (unrun) and cancels the
    // running ones; their results are still recorded. Poll idle() to wait for that.
    void shutdown();
    bool idle() const;

    // Every command name some handler runs (hello.capabilities), sorted.
    std::vector<std::string> command_names() const;
    std::size_t queued() const;
    std::size_t running() const;

private:
    struct Job;
    using JobPtr = std::shared_ptr<Job>;

    void pump();
    void start(JobPtr job);
    void run(JobPtr job);
    void on_deadline(JobPtr job);
    void complete(JobPtr job, sdk::ExecResult result);
    void finish_unrun(const sdk::CommandRequest& request, sdk::CommandState status,
                      std::string message);
    void record(const std::string& command_id, const std::string& name,
                const sdk::ExecResult& result, std::int32_t attempt);
    void count(sdk::CommandState status);

    ExecutorDeps d_;
    ExecutorOptions options_;
    std::map<std::string, sdk::CommandHandler*, std::less<>> handlers_;
    ResultReady on_result_;
    // Shared with tasks posted to the loop/pool, so late completions after
    // destruction find `alive == false` and do nothing.
    struct Life {
        std::shared_mutex mu;  // tasks hold it shared; the destructor exclusively
        bool alive = true;
    };
    // Wraps `fn` so it runs only while this executor is alive.
    sdk::Task guarded(std::function<void()> fn);
    std::shared_ptr<Life> life_ = std::make_shared<Life>();

    mutable std::mutex mu_;
    bool stopping_ = false;
    std::deque<JobPtr> queue_;
    std::map<std::string, JobPtr, std::less<>> running_;
    // Every id between submit() and its result being durable (dedup of redeliveries).
    std::set<std::string, std::less<>> active_;
    std::size_t writes_in_flight_ = 0;
};

}  // namespace agenthost::gateway
