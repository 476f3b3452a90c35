#include "kernel/gateway/executor.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>

#include "kernel/gateway/result_body.hpp"

namespace agenthost::gateway {

using sdk::CommandState;
using sdk::ExecResult;

struct Executor::Job {
    sdk::CommandRequest request;
    sdk::CommandHandler* handler = nullptr;
    sdk::TimerId deadline_timer = 0;
    sdk::TimerId grace_timer = 0;
    bool timed_out = false;
    bool completed = false;
};

namespace {

const char* audit_outcome(CommandState s) {
    switch (s) {
        case CommandState::succeeded:
            return "success";
        case CommandState::rejected:
            return "denied";
        default:
            return "failure";
    }
}

}  // namespace

Executor::Executor(ExecutorDeps deps, ExecutorOptions options,
                   std::vector<sdk::CommandHandler*> handlers, ResultReady on_result)
    : d_(deps), options_(options), on_result_(std::move(on_result)) {
    options_.concurrency = std::max(1u, options_.concurrency);
    for (auto* h : handlers) {
        for (const auto& name : h->commands()) {
            // The first handler to claim a name keeps it; a clash is a config smell.
            if (!handlers_.emplace(name, h).second) {
                d_.logger.warn("command claimed by two handlers; the first one runs it",
                               {{"command", name}});
            }
        }
    }
}

Executor::~Executor() {
    std::unique_lock lk(life_->mu);
    life_->alive = false;
}

sdk::Task Executor::guarded(std::function<void()> fn) {
    return [life = life_, fn = std::move(fn)] {
        std::shared_lock lk(life->mu);
        if (life->alive) {
            fn();
        }
    };
}

std::vector<std::string> Executor::command_names() const {
    std::vector<std::string> out;
    for (const auto& [name, h] : handlers_) {
        out.push_back(name);
    }
    return out;
}

std::size_t Executor::queued() const {
    std::lock_guard lk(mu_);
    return queue_.size();
}

std::size_t Executor::running() const {
    std::lock_guard lk(mu_);
    return running_.size();
}

bool Executor::idle() const {
    std::lock_guard lk(mu_);
    return queue_.empty() && running_.empty() && active_.empty() && writes_in_flight_ == 0;
}

void Executor::count(CommandState status) {
    d_.metrics
        .counter("agenthost_gateway_commands_total",
                 "Commands finished by the executor, by outcome",
                 {{"outcome", sdk::to_string(status)}})
        .inc();
}

void Executor::submit(sdk::CommandRequest request) {
    const std::string id = request.command_id;
    request.output_cap_bytes = options_.output_cap_bytes;
    {
        std::lock_guard lk(mu_);
        if (active_.count(id) != 0) {
            // Redelivered while queued or running: the ack already went out; one run only.
            d_.logger.info("command redelivered while in progress", {{"command_id", id}});
            return;
        }
        if (auto state = d_.store.lookup(id)) {
            d_.metrics
                .counter("agenthost_gateway_commands_redelivered_total",
                         "Redeliveries of commands already executed (answered, not rerun)")
                .inc();
            if (*state == RecordState::finished) {
                // Answer with the stored result: it may have been acked and dropped.
                ++writes_in_flight_;
                d_.blocking.submit(guarded([this, id] {
                    sdk::Status s = d_.store.respool_result(id);
                    if (!s.ok()) {
                        d_.logger.error("cannot respool stored result",
                                        {{"command_id", id}, {"error", s.message()}});
                    }
                    d_.scheduler.post(guarded([this, id, ok = s.ok()] {
                        {
                            std::lock_guard lk2(mu_);
                            --writes_in_flight_;
                        }
                        if (ok && on_result_) {
                            on_result_(id);
                        }
                    }));
                }));
            }
            return;
        }
        active_.insert(id);
    }
    const std::int64_t now = d_.clock.now_unix_ms();
    if (request.deadline_ms > 0 && now >= request.deadline_ms) {
        finish_unrun(request, CommandState::timed_out, "deadline passed before execution");
        return;
    }
    auto it = handlers_.find(request.name);
    if (it == handlers_.end()) {
        finish_unrun(request, CommandState::rejected, "no handler for command " + request.name);
        return;
    }
    if (sdk::Status v = it->second->validate(request); !v.ok()) {
        finish_unrun(request, CommandState::rejected, "invalid arguments: " + v.message());
        return;
    }
    auto job = std::make_shared<Job>();
    job->request = std::move(request);
    job->handler = it->second;
    const char* refused = nullptr;
    {
        std::lock_guard lk(mu_);
        if (stopping_) {
            refused = "gateway shutting down";
        } else if (queue_.size() >= options_.max_queue) {
            refused = "executor queue full";
        } else {
            queue_.push_back(job);
        }
    }
    if (refused != nullptr) {
        finish_unrun(job->request, CommandState::rejected, refused);
        return;
    }
    pump();
}

void Executor::pump() {
    std::vector<JobPtr> ready;
    {
        std::lock_guard lk(mu_);
        while (!stopping_ && !queue_.empty() && running_.size() < options_.concurrency) {
            JobPtr job = queue_.front();
            queue_.pop_front();
            running_[job->request.command_id] = job;
            ready.push_back(std::move(job));
        }
    }
    for (auto& job : ready) {
        start(std::move(job));
    }
}

void Executor::start(JobPtr job) {
    // A command may have waited in the queue past its deadline.
    const std::int64_t now = d_.clock.now_unix_ms();
    const auto& req = job->request;
    if (req.deadline_ms > 0 && now >= req.deadline_ms) {
        {
            std::lock_guard lk(mu_);
            running_.erase(req.command_id);
        }
        finish_unrun(req, CommandState::timed_out, "deadline passed before execution");
        pump();
        return;
    }
    // At most once: the durable "started" row comes before any handler code runs.
    d_.blocking.submit(guarded([this, job] {
        sdk::Status s = d_.store.mark_started(job->request.command_id, job->request.name,
                                              d_.clock.now_unix_ms());
        d_.scheduler.post(guarded([this, job, s] {
            if (!s.ok()) {
                d_.logger.error("cannot record command start; not running it",
                                {{"command_id", job->request.command_id}, {"error", s.message()}});
                {
                    std::lock_guard lk(mu_);
                    running_.erase(job->request.command_id);
                }
                finish_unrun(job->request, CommandState::failed,
                             "gateway state store unavailable: " + s.message());
                pump();
                return;
            }
            run(job);
        }));
    }));
}

void Executor::run(JobPtr job) {
    const std::int64_t now = d_.clock.now_unix_ms();
    bool stopped = false;
    {
        // execute() runs under the lock so shutdown() either sees this job stopped
        // here or cancels it after the handler has it; never a cancel before execute.
        // Safe: handlers complete through a callback that only posts to the loop.
        std::lock_guard lk(mu_);
        if (stopping_) {
            running_.erase(job->request.command_id);
            stopped = true;
        } else {
            if (job->request.deadline_ms > 0) {
                const auto delay = std::chrono::milliseconds(
                    std::max<std::int64_t>(0, job->request.deadline_ms - now));
                job->deadline_timer =
                    d_.scheduler.schedule(delay, guarded([this, job] { on_deadline(job); }));
            }
            d_.logger.info("executing command",
                           {{"command_id", job->request.command_id}, {"name", job->request.name}});
            job->handler->execute(job->request, [this, job, life = life_](ExecResult r) {
                // Any thread; continue on the loop.
                std::shared_lock life_lock(life->mu);
                if (life->alive) {
                    d_.scheduler.post(guarded(
                        [this, job, r = std::move(r)]() mutable { complete(job, std::move(r)); }));
                }
            });
        }
    }
    if (stopped) {
        finish_unrun(job->request, CommandState::failed, "gateway shut down before execution");
    }
}

void Executor::on_deadline(JobPtr job) {
    {
        std::lock_guard lk(mu_);
        if (job->completed) {
            return;
        }
        job->timed_out = true;
        job->deadline_timer = 0;
        job->grace_timer = d_.scheduler.schedule(
            options_.cancel_grace, guarded([this, job] {
                ExecResult r =
                    unrun_result(CommandState::timed_out, "handler did not stop after cancel",
                                 d_.clock.now_unix_ms());
                complete(job, std::move(r));
            }));
    }
    d_.logger.warn("command deadline reached; cancelling",
                   {{"command_id", job->request.command_id}});
    job->handler->cancel(job->request.command_id);
}

void Executor::complete(JobPtr job, ExecResult result) {
    {
        std::lock_guard lk(mu_);
        if (job->completed) {
            return;  // the grace timer or the handler was first
        }
        job->completed = true;
        if (job->deadline_timer != 0) {
            d_.scheduler.cancel(job->deadline_timer);
        }
        if (job->grace_timer != 0) {
            d_.scheduler.cancel(job->grace_timer);
        }
        running_.erase(job->request.command_id);
    }
    if (job->timed_out) {
        result.status = CommandState::timed_out;
        result.exit_code.reset();
    }
    record(job->request.command_id, job->request.name, result, job->request.attempt);
    pump();
}

void Executor::finish_unrun(const sdk::CommandRequest& request, CommandState status,
                            std::string message) {
    d_.logger.info("command not run", {{"command_id", request.command_id},
                                       {"status", sdk::to_string(status)},
                                       {"reason", message}});
    record(request.command_id, request.name,
           unrun_result(status, std::move(message), d_.clock.now_unix_ms()), request.attempt);
}

void Executor::record(const std::string& command_id, const std::string& name,
                      const ExecResult& result, std::int32_t attempt) {
    count(result.status);
    sdk::json::object details{{"name", name},
                              {"status", sdk::to_string(result.status)},
                              {"attempt", attempt},
                              {"duration_ms", result.finished_ms - result.started_ms}};
    details["exit_code"] = result.exit_code ? sdk::json::value(*result.exit_code) : nullptr;
    d_.audit.record(sdk::AuditEvent{"kernel", "command.execute", command_id,
                                    audit_outcome(result.status), std::move(details)});
    std::string body =
        boost::json::serialize(make_result_body(command_id, result, options_.output_cap_bytes));
    {
        std::lock_guard lk(mu_);
        ++writes_in_flight_;
    }
    d_.blocking.submit(guarded([this, command_id, name, body = std::move(body)] {
        sdk::Status s = d_.store.finish(command_id, name, body, d_.clock.now_unix_ms());
        d_.scheduler.post(guarded([this, command_id, s] {
            if (!s.ok()) {
                // The result stays unrecorded; the id leaves `active_` so a redelivery
                // is answered from the record, which says "started": never rerun.
                d_.logger.error("cannot record command result",
                                {{"command_id", command_id}, {"error", s.message()}});
            }
            {
                std::lock_guard lk(mu_);
                --writes_in_flight_;
                active_.erase(command_id);
            }
            if (s.ok() && on_result_) {
                on_result_(command_id);
            }
        }));
    }));
}

void Executor::shutdown() {
    std::deque<JobPtr> queued;
    std::vector<JobPtr> running;
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
        queued.swap(queue_);
        for (auto& [id, job] : running_) {
            running.push_back(job);
        }
    }
    for (auto& job : queued) {
        finish_unrun(job->request, CommandState::failed, "gateway shut down before execution");
    }
    for (auto& job : running) {
        job->handler->cancel(job->request.command_id);
    }
}

}  // namespace agenthost::gateway
