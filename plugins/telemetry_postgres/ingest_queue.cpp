#include "plugins/telemetry_postgres/ingest_queue.hpp"

#include <exception>
#include <utility>

namespace agenthost::telemetry_postgres {

using sdk::Errc;
using sdk::Status;

namespace {
// The queue whose drain runs on this thread: close() from a completion must not
// wait for itself.
thread_local const IngestQueue* t_draining = nullptr;
}  // namespace

IngestQueue::IngestQueue(sdk::BlockingPool& pool, std::shared_ptr<GroupWriter> writer,
                         IngestOptions options, Observer observer)
    : pool_(pool), writer_(std::move(writer)), options_(options), observer_(std::move(observer)) {}

IngestQueue::~IngestQueue() {
    close();
}

void IngestQueue::submit(PreparedBatch batch, Done done) {
    if (batch.rows.empty()) {
        sdk::IngestOutcome none;
        none.duplicates = batch.points;  // only possible for an empty batch
        done(none);
        return;
    }
    {
        std::unique_lock lk(mu_);
        if (closed_) {
            lk.unlock();
            done(Status(Errc::unavailable, "telemetry store stopped"));
            return;
        }
        const std::size_t n = batch.rows.size();
        // An oversized batch is admitted into an empty queue, or it could never pass.
        if (queued_points_ + n > options_.max_queue_points && !queue_.empty()) {
            ++rejected_;
            lk.unlock();
            done(Status(Errc::exhausted, "telemetry ingest queue full"));
            return;
        }
        queued_points_ += n;
        queue_.push_back(Item{std::move(batch), std::move(done)});
        if (active_ >= options_.workers) {
            return;  // a running drain picks it up
        }
        ++active_;
    }
    spawn_locked();
}

// Called with active_ already counted for the new task, and without the lock held
// (an inline pool runs the task right here).
void IngestQueue::spawn_locked() {
    pool_.submit([self = shared_from_this()] { self->drain(); });
}

void IngestQueue::drain() {
    const IngestQueue* outer = t_draining;
    t_draining = this;
    struct Restore {
        const IngestQueue* prev;
        ~Restore() { t_draining = prev; }
    } restore{outer};

    for (unsigned turn = 0; turn < options_.groups_per_turn; ++turn) {
        std::vector<PreparedBatch> batches;
        std::vector<Done> dones;
        std::size_t points = 0;
        {
            std::lock_guard lk(mu_);
            if (closed_ || queue_.empty()) {
                --active_;
                idle_cv_.notify_all();
                return;
            }
            while (!queue_.empty()) {
                const std::size_t n = queue_.front().batch.rows.size();
                if (!batches.empty() && points + n > options_.max_group_points) {
                    break;
                }
                points += n;
                batches.push_back(std::move(queue_.front().batch));
                dones.push_back(std::move(queue_.front().done));
                queue_.pop_front();
            }
            queued_points_ -= points;
            ++writing_;
        }

        const auto t0 = std::chrono::steady_clock::now();
        sdk::Result<std::vector<sdk::IngestOutcome>> written =
            Status(Errc::internal, "group not written");
        try {
            written = writer_->write(batches);
        } catch (const std::exception& e) {
            written = Status(Errc::internal, e.what());
        } catch (...) {
            written = Status(Errc::internal, "unknown exception");
        }
        if (written.ok() && written->size() != batches.size()) {
            written = Status(Errc::internal, "writer returned the wrong number of outcomes");
        }
        if (observer_) {
            observer_(GroupReport{batches.size(), points, std::chrono::steady_clock::now() - t0,
                                  written.status()});
        }

        bool closed = false;
        {
            std::lock_guard lk(mu_);
            closed = closed_;
        }
        // After close() no completion runs (the SDK's stop() contract).
        for (std::size_t i = 0; i < dones.size() && !closed; ++i) {
            try {
                if (written.ok()) {
                    dones[i]((*written)[i]);
                } else {
                    dones[i](written.status());
                }
            } catch (...) {  // NOLINT(bugprone-empty-catch): the caller's bug, not ours
            }
        }
        {
            std::lock_guard lk(mu_);
            --writing_;
            idle_cv_.notify_all();
        }
    }
    // Give the pool thread back so other blocking work interleaves; active_ stays
    // counted for the continuation.
    pool_.submit([self = shared_from_this()] { self->drain(); });
}

void IngestQueue::close() {
    std::deque<Item> dropped;
    {
        std::unique_lock lk(mu_);
        closed_ = true;
        dropped.swap(queue_);
        queued_points_ = 0;
        const unsigned mine = (t_draining == this) ? 1u : 0u;
        idle_cv_.wait(lk, [&] { return writing_ <= mine; });
    }
    // `dropped` goes out of scope without calling anything: completions are dropped.
}

std::size_t IngestQueue::queued_points() const {
    std::lock_guard lk(mu_);
    return queued_points_;
}

std::size_t IngestQueue::queued_batches() const {
    std::lock_guard lk(mu_);
    return queue_.size();
}

std::size_t IngestQueue::rejected() const {
    std::lock_guard lk(mu_);
    return rejected_;
}

}  // namespace agenthost::telemetry_postgres
