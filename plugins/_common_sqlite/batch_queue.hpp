#pragma once
// BatchQueue: group commit for a store's small, frequent writes.
//
// Callers queue an item and get its result later. One drain task at a time runs on
// the blocking pool: it takes up to `max_batch` queued items, hands them to
// `run_batch` (one transaction or one statement for all of them), completes each
// caller with its own result only after that returns, and repeats while items are
// queued. While one batch commits, the next one gathers, so the commit cost is shared
// by everything that arrived meanwhile; an idle store still answers a lone item at
// once (no timer, no added wait).
//
// Bounded: past `max_queued` waiting items a call is refused with unavailable at once,
// so a stalled database never grows memory without limit. Behind the plugin's
// AsyncGate like every other pool task: after the gate closed nothing runs and no
// completion is invoked; clear() then drops what is still queued.
//
// `Result` must be constructible from an sdk::Status (the refusals and a throwing
// `run_batch` become one). Used by identity_sqlite (lease writes) and
// identity_postgres (lease renewals).

#include <algorithm>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <agenthost/metrics.hpp>
#include <agenthost/scheduler.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_sqlite/async_gate.hpp"

namespace agenthost::sqlite {

struct BatchLimits {
    std::size_t max_batch = 256;     // items per batch (1 = one per call)
    std::size_t max_queued = 16384;  // waiting items before calls are refused
};

// Optional counters (each may be null): batches run, items in them, items refused
// because the queue was full.
struct BatchCounters {
    sdk::Counter* batches = nullptr;
    sdk::Counter* items = nullptr;
    sdk::Counter* refused = nullptr;
};

template <typename Item, typename Result>
class BatchQueue : public std::enable_shared_from_this<BatchQueue<Item, Result>> {
public:
    using Done = std::function<void(Result)>;
    // Runs a batch (blocking, on a pool thread); returns one result per item, in order.
    using RunBatch = std::function<std::vector<Result>(std::vector<Item>&)>;

    BatchQueue(sdk::BlockingPool& pool, std::shared_ptr<AsyncGate> gate, BatchLimits limits,
               RunBatch run_batch, BatchCounters counters = {})
        : pool_(pool),
          gate_(std::move(gate)),
          limits_(limits),
          run_batch_(std::move(run_batch)),
          counters_(counters) {
        limits_.max_batch = std::max<std::size_t>(limits_.max_batch, 1);
        limits_.max_queued = std::max<std::size_t>(limits_.max_queued, 1);
    }

    // Queues `item`; `done` runs on a pool thread once its batch ran. Answered inline
    // with unavailable when the gate is closed or the queue is full. An exception from
    // `done` is swallowed (there is nobody left to tell).
    void submit(Item item, Done done) {
        if (gate_->closed()) {
            complete(done, Result(sdk::Status(sdk::Errc::unavailable, "store stopped")));
            return;
        }
        bool accepted = false;
        bool schedule = false;
        {
            std::lock_guard lock(mu_);
            if (queue_.size() < limits_.max_queued) {
                queue_.push_back(Pending{std::move(item), std::move(done)});
                accepted = true;
                schedule = !scheduled_;
                scheduled_ = true;
            }
        }
        if (!accepted) {
            if (counters_.refused != nullptr) {
                counters_.refused->inc();
            }
            complete(done, Result(sdk::Status(sdk::Errc::unavailable, "write queue full")));
            return;
        }
        if (schedule) {
            pool_.submit([self = this->shared_from_this()] { self->drain(); });
        }
    }

    // Drops the queued items without completing them; call after the gate closed.
    void clear() {
        std::deque<Pending> dropped;
        {
            std::lock_guard lock(mu_);
            dropped.swap(queue_);
        }
        // Destroyed outside the lock: a completion's captures may call back into us.
    }

    std::size_t queued() const {
        std::lock_guard lock(mu_);
        return queue_.size();
    }

private:
    struct Pending {
        Item item;
        Done done;
    };

    // Batches one drain task runs before it hands the pool thread back (re-queueing
    // itself), so a steady stream of items cannot monopolise a pool thread.
    static constexpr int kBatchesPerTask = 8;

    static void complete(const Done& done, Result result) {
        try {
            done(std::move(result));
        } catch (...) {  // NOLINT(bugprone-empty-catch): the caller's bug, not ours
        }
    }

    void drain() {
        AsyncGate::Pass pass(*gate_);
        if (!pass) {
            return;  // stopped while queued: the queued items are dropped by contract
        }
        for (int round = 0; round < kBatchesPerTask; ++round) {
            std::vector<Item> items;
            std::vector<Done> dones;
            {
                std::lock_guard lock(mu_);
                if (queue_.empty()) {
                    scheduled_ = false;
                    return;
                }
                const std::size_t n = std::min(queue_.size(), limits_.max_batch);
                items.reserve(n);
                dones.reserve(n);
                for (std::size_t i = 0; i < n; ++i) {
                    items.push_back(std::move(queue_.front().item));
                    dones.push_back(std::move(queue_.front().done));
                    queue_.pop_front();
                }
            }
            run(items, dones);
            if (gate_->closed()) {
                return;  // stop() is waiting for us; what is left is dropped
            }
        }
        pool_.submit([self = this->shared_from_this()] { self->drain(); });
    }

    void run(std::vector<Item>& items, std::vector<Done>& dones) {
        const std::size_t n = items.size();
        std::vector<Result> results;
        try {
            results = run_batch_(items);
        } catch (const std::exception& e) {
            results.clear();
            results.resize(n, Result(sdk::Status(sdk::Errc::internal, e.what())));
        } catch (...) {
            results.clear();
            results.resize(n, Result(sdk::Status(sdk::Errc::internal, "unknown exception")));
        }
        if (results.size() != n) {
            results.assign(n, Result(sdk::Status(sdk::Errc::internal, "batch result count")));
        }
        if (counters_.batches != nullptr) {
            counters_.batches->inc();
        }
        if (counters_.items != nullptr) {
            counters_.items->inc(n);
        }
        for (std::size_t i = 0; i < n; ++i) {
            complete(dones[i], std::move(results[i]));
        }
    }

    sdk::BlockingPool& pool_;
    std::shared_ptr<AsyncGate> gate_;
    BatchLimits limits_;
    RunBatch run_batch_;
    BatchCounters counters_;

    mutable std::mutex mu_;
    std::deque<Pending> queue_;
    bool scheduled_ = false;  // a drain task is queued or running
};

}  // namespace agenthost::sqlite
