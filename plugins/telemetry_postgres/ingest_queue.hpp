#pragma once
// IngestQueue: group commit in front of the database. store_batch() calls from every
// session land in one bounded queue; up to `workers` drain tasks on the blocking pool
// each take what has accumulated (up to `max_group_points`) and hand it to the
// GroupWriter as ONE transaction. While one group commits, the next accumulates, so
// under load many sessions share each commit (and its fsync) without any timer.
//
// Bounded: when the queued points would exceed `max_queue_points`, submit() fails
// fast with Errc::exhausted. The backend then withholds the telemetry ack and the
// gateway keeps the batch spooled, so memory never grows with a slow database.
//
// Completions run on the pool thread after the writer returned, i.e. after the
// commit (or with the error when it failed: nothing of that group is acked).
// Threading: submit() from any thread; the writer is called from pool threads, at
// most `workers` at once. After close() no completion runs.

#include <chrono>
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

#include "plugins/telemetry_postgres/rows.hpp"

namespace agenthost::telemetry_postgres {

// Writes a group in one transaction; returns one outcome per batch, in order. Blocking.
class GroupWriter {
public:
    virtual ~GroupWriter() = default;
    virtual sdk::Result<std::vector<sdk::IngestOutcome>> write(
        std::span<const PreparedBatch> group) = 0;
};

struct IngestOptions {
    std::size_t max_queue_points = 200'000;  // the bound; beyond it submit() is refused
    std::size_t max_group_points = 20'000;   // rows per transaction (one batch may exceed)
    unsigned workers = 2;                    // concurrent group transactions
    unsigned groups_per_turn = 8;            // then the drain task yields its pool thread
};

// What one group did, for metrics (called on the pool thread after the write).
struct GroupReport {
    std::size_t batches = 0;
    std::size_t points = 0;
    std::chrono::steady_clock::duration elapsed{};
    sdk::Status status;
};

class IngestQueue : public std::enable_shared_from_this<IngestQueue> {
public:
    using Done = sdk::Callback<sdk::Result<sdk::IngestOutcome>>;
    using Observer = std::function<void(const GroupReport&)>;

    IngestQueue(sdk::BlockingPool& pool, std::shared_ptr<GroupWriter> writer, IngestOptions options,
                Observer observer = {});
    ~IngestQueue();
    IngestQueue(const IngestQueue&) = delete;
    IngestQueue& operator=(const IngestQueue&) = delete;

    // Queues `batch`, or calls `done` inline with Errc::exhausted (queue full) or
    // Errc::unavailable (closed). A batch with no rows completes inline.
    void submit(PreparedBatch batch, Done done);

    // Stops accepting, drops the queued batches' completions, and waits for the
    // groups being written (except one on the calling thread).
    void close();

    std::size_t queued_points() const;
    std::size_t queued_batches() const;
    std::size_t capacity_points() const noexcept { return options_.max_queue_points; }
    std::size_t rejected() const;  // submits refused because the queue was full

private:
    struct Item {
        PreparedBatch batch;
        Done done;
    };

    void spawn_locked();
    void drain();

    sdk::BlockingPool& pool_;
    std::shared_ptr<GroupWriter> writer_;
    const IngestOptions options_;
    Observer observer_;

    mutable std::mutex mu_;
    std::condition_variable idle_cv_;
    std::deque<Item> queue_;
    std::size_t queued_points_ = 0;
    std::size_t rejected_ = 0;
    unsigned active_ = 0;   // drain tasks submitted and not finished
    unsigned writing_ = 0;  // drain tasks inside a write or its completions
    bool closed_ = false;
};

}  // namespace agenthost::telemetry_postgres
