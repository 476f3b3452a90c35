#pragma once
// ResultQueue: group commit for command results, the same shape as IngestQueue.
// store_result() calls land in one bounded queue; up to `workers` drain tasks on the
// blocking pool each take what has accumulated (up to `max_group`) and hand it to the
// ResultWriter as ONE statement (one commit). While one group commits the next
// accumulates, so under load many results share a commit without any timer.
//
// Bounded: beyond `max_queue` queued results submit() fails fast with
// Errc::unavailable; the backend then withholds the result ack and the agent resends.
// Completions run on the pool thread after the writer returned, i.e. after the commit
// (or with the error when it failed: nothing of that group is acked). After close()
// no completion runs. Threading: submit() from any thread.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/scheduler.hpp>
#include <agenthost/status.hpp>

namespace agenthost::telemetry_postgres {

// Writes a group atomically; returns one flag per result, in order (true: stored now,
// false: a duplicate that changed nothing). Blocking.
class ResultWriter {
public:
    virtual ~ResultWriter() = default;
    virtual sdk::Result<std::vector<bool>> write(std::span<const sdk::CommandResult> group) = 0;
};

struct ResultQueueOptions {
    std::size_t max_queue = 10'000;  // the bound; beyond it submit() is refused
    std::size_t max_group = 1'000;   // results per statement
    unsigned workers = 1;            // concurrent group statements
    unsigned groups_per_turn = 8;    // then the drain task yields its pool thread
};

class ResultQueue : public std::enable_shared_from_this<ResultQueue> {
public:
    using Done = sdk::Callback<sdk::Result<bool>>;
    // Called on the pool thread after each group: (results, status of the write).
    using Observer = std::function<void(std::size_t, const sdk::Status&)>;

    ResultQueue(sdk::BlockingPool& pool, std::shared_ptr<ResultWriter> writer,
                ResultQueueOptions options, Observer observer = {});
    ~ResultQueue();
    ResultQueue(const ResultQueue&) = delete;
    ResultQueue& operator=(const ResultQueue&) = delete;

    // Queues `result`, or calls `done` inline with Errc::unavailable (full or closed).
    void submit(sdk::CommandResult result, Done done);
    // Stops accepting, drops the queued completions, waits for the groups being written
    // (except one on the calling thread).
    void close();

    std::size_t queued() const;
    std::size_t rejected() const;  // submits refused because the queue was full

private:
    struct Item {
        sdk::CommandResult result;
        Done done;
    };
    void drain();

    sdk::BlockingPool& pool_;
    std::shared_ptr<ResultWriter> writer_;
    const ResultQueueOptions options_;
    Observer observer_;

    mutable std::mutex mu_;
    std::condition_variable idle_cv_;
    std::deque<Item> queue_;
    std::size_t rejected_ = 0;
    unsigned active_ = 0;   // drain tasks submitted and not finished
    unsigned writing_ = 0;  // drain tasks inside a write or its completions
    bool closed_ = false;
};

}  // namespace agenthost::telemetry_postgres
