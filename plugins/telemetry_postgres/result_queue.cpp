#include "plugins/telemetry_postgres/result_queue.hpp"

#include <exception>
#include <utility>

namespace agenthost::telemetry_postgres {

using sdk::Errc;
using sdk::Status;

namespace {
// The queue whose drain runs on this thread: close() from a completion must not
// wait for itself.
thread_local const ResultQueue* t_draining = nullptr;
}  // namespace

ResultQueue::ResultQueue(sdk::BlockingPool& pool, std::shared_ptr<ResultWriter> writer,
                         ResultQueueOptions options, Observer observer)
    : pool_(pool), writer_(std::move(writer)), options_(options), observer_(std::move(observer)) {}

ResultQueue::~ResultQueue() {
    close();
}

void ResultQueue::submit(sdk::CommandResult result, Done done) {
    {
        std::unique_lock lk(mu_);
        if (closed_) {
            lk.unlock();
            done(Status(Errc::unavailable, "telemetry store stopped"));
            return;
        }
        if (queue_.size() >= options_.max_queue) {
            ++rejected_;
            lk.unlock();
            done(Status(Errc::unavailable, "result queue full"));
            return;
        }
        queue_.push_back(Item{std::move(result), std::move(done)});
        if (active_ >= options_.workers) {
            return;  // a running drain picks it up
        }
        ++active_;
    }
    // Outside the lock: an inline pool runs the task right here.
    pool_.submit([self = shared_from_this()] { self->drain(); });
}

void ResultQueue::drain() {
    const ResultQueue* outer = t_draining;
    t_draining = this;
    struct Restore {
        const ResultQueue* prev;
        ~Restore() { t_draining = prev; }
    } restore{outer};

    for (unsigned turn = 0; turn < options_.groups_per_turn; ++turn) {
        std::vector<sdk::CommandResult> results;
        std::vector<Done> dones;
        {
            std::lock_guard lk(mu_);
            if (closed_ || queue_.empty()) {
                --active_;
                idle_cv_.notify_all();
                return;
            }
            while (!queue_.empty() && results.size() < options_.max_group) {
                results.push_back(std::move(queue_.front().result));
                dones.push_back(std::move(queue_.front().done));
                queue_.pop_front();
            }
            ++writing_;
        }

        sdk::Result<std::vector<bool>> written = Status(Errc::internal, "group not written");
        try {
            written = writer_->write(results);
        } catch (const std::exception& e) {
            written = Status(Errc::internal, e.what());
        } catch (...) {
            written = Status(Errc::internal, "unknown exception");
        }
        if (written.ok() && written->size() != results.size()) {
            written = Status(Errc::internal, "writer returned the wrong number of outcomes");
        }
        if (observer_) {
            observer_(results.size(), written.status());
        }

        bool closed = false;
        {
            std::lock_guard lk(mu_);
            closed = closed_;
        }
        for (std::size_t i = 0; i < dones.size() && !closed; ++i) {
            try {
                if (written.ok()) {
                    dones[i](static_cast<bool>((*written)[i]));
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
    // Give the pool thread back; active_ stays counted for the continuation.
    pool_.submit([self = shared_from_this()] { self->drain(); });
}

void ResultQueue::close() {
    std::deque<Item> dropped;
    {
        std::unique_lock lk(mu_);
        closed_ = true;
        dropped.swap(queue_);
        const unsigned mine = (t_draining == this) ? 1u : 0u;
        idle_cv_.wait(lk, [&] { return writing_ <= mine; });
    }
}

std::size_t ResultQueue::queued() const {
    std::lock_guard lk(mu_);
    return queue_.size();
}

std::size_t ResultQueue::rejected() const {
    std::lock_guard lk(mu_);
    return rejected_;
}

}  // namespace agenthost::telemetry_postgres
