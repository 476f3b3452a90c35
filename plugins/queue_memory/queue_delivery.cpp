// MemoryQueue, session side: attach/detach, acks and results, delivery (the per-agent
// pump) and the redelivery and deadline timers. See memory_queue.hpp for the model.
#include "plugins/queue_memory/memory_queue.hpp"

#include <utility>

namespace agenthost::plugins::queue_memory {

using sdk::CommandState;
using sdk::Errc;

namespace {

bool is_agent_result_state(CommandState s) {
    return s == CommandState::succeeded || s == CommandState::failed ||
           s == CommandState::rejected || s == CommandState::timed_out;
}

template <typename T>
void answer(const sdk::Callback<T>& done, T value) {
    if (done) {
        done(std::move(value));
    }
}

}  // namespace

// ------------------------------------------------------------------ session side

void MemoryQueue::attach(std::string agent_id, std::string session_id, sdk::DeliverFn deliver) {
    After after;
    std::optional<Session> replaced;
    {
        std::lock_guard lock(mu_);
        if (stopped_) {
            return;
        }
        Agent& agent = agents_[agent_id];
        replaced = std::move(agent.session);
        agent.session = Session{std::move(session_id),
                                std::make_shared<const sdk::DeliverFn>(std::move(deliver))};
        agent.outbox.clear();
        for (const auto& [seq, id] : agent.active) {
            Entry& e = commands_.at(id);
            // Queued commands go out now; unacked ones are resent to the new session
            // (the agent executes a command_id at most once) while attempts remain.
            // Acked ones are running on the agent and only wait for their result.
            if (e.rec.state == CommandState::queued || (e.rec.state == CommandState::dispatched &&
                                                        e.rec.attempts < config_.max_attempts)) {
                dispatch_locked(agent, e, after);
            }
        }
    }
    run_after(std::move(after));
}

void MemoryQueue::detach(std::string agent_id, std::string session_id) {
    std::optional<Session> dropped;  // destroyed outside the lock
    std::lock_guard lock(mu_);
    auto it = agents_.find(agent_id);
    if (it == agents_.end() || !it->second.session ||
        it->second.session->session_id != session_id) {
        return;  // a stale detach of a session already replaced
    }
    dropped = std::move(it->second.session);
    it->second.session.reset();
    it->second.outbox.clear();
}

void MemoryQueue::acked(std::string agent_id, std::string command_id,
                        sdk::Callback<sdk::Status> done) {
    sdk::Status st;
    {
        std::lock_guard lock(mu_);
        auto it = commands_.find(command_id);
        if (it == commands_.end() || it->second.rec.agent_id != agent_id) {
            st = sdk::error(Errc::not_found, "command not found for this agent");
        } else if (it->second.rec.state == CommandState::queued ||
                   it->second.rec.state == CommandState::dispatched) {
            Entry& e = it->second;
            if (e.ack_timer != 0) {
                ctx_.scheduler().cancel(e.ack_timer);
                e.ack_timer = 0;
            }
            set_state_locked(e, CommandState::acked);
        }
        // A repeated ack, or one after the result, changes nothing.
    }
    answer(done, std::move(st));
}

void MemoryQueue::completed(std::string agent_id, std::string command_id, CommandState terminal,
                            sdk::Callback<sdk::Status> done) {
    if (!is_agent_result_state(terminal)) {
        return answer(done, sdk::error(Errc::invalid_argument, std::string("not a result state: ") +
                                                                   sdk::to_string(terminal)));
    }
    After after;
    sdk::Status st;
    {
        std::lock_guard lock(mu_);
        auto it = commands_.find(command_id);
        if (it == commands_.end() || it->second.rec.agent_id != agent_id) {
            st = sdk::error(Errc::not_found, "command not found for this agent");
        } else if (!sdk::is_terminal(it->second.rec.state)) {
            finish_locked(it->second, terminal, after);
            trim_terminal_locked();
        }
        // Already terminal: a resent result is accepted and ignored.
    }
    run_after(std::move(after));
    answer(done, std::move(st));
}

void MemoryQueue::dispatch_locked(Agent& agent, Entry& e, After& after) {
    if (e.ack_timer != 0) {
        ctx_.scheduler().cancel(e.ack_timer);
        e.ack_timer = 0;
    }
    ++e.rec.attempts;
    set_state_locked(e, CommandState::dispatched);
    arm_ack_timer_locked(e);
    agent.outbox.push_back(e.rec.command_id);
    after.pump_agents.push_back(e.rec.agent_id);
}

void MemoryQueue::arm_ack_timer_locked(Entry& e) {
    std::weak_ptr<MemoryQueue> weak = weak_from_this();
    e.ack_timer = ctx_.scheduler().schedule(
        backoff(e.rec.attempts), [weak, id = e.rec.command_id, attempt = e.rec.attempts] {
            if (auto self = weak.lock()) {
                self->on_ack_timeout(id, attempt);
            }
        });
}

void MemoryQueue::arm_deadline_timer_locked(Entry& e) {
    std::weak_ptr<MemoryQueue> weak = weak_from_this();
    const std::int64_t delay = std::max<std::int64_t>(0, e.rec.deadline_ms - now_ms());
    e.deadline_timer =
        ctx_.scheduler().schedule(std::chrono::milliseconds(delay), [weak, id = e.rec.command_id] {
            if (auto self = weak.lock()) {
                self->on_deadline(id);
            }
        });
}

void MemoryQueue::on_ack_timeout(const std::string& command_id, std::int32_t attempt) {
    After after;
    {
        std::lock_guard lock(mu_);
        auto it = commands_.find(command_id);
        if (stopped_ || it == commands_.end()) {
            return;
        }
        Entry& e = it->second;
        if (e.rec.state != CommandState::dispatched || e.rec.attempts != attempt) {
            return;  // acked, finished or redelivered since this timer was armed
        }
        e.ack_timer = 0;
        Agent& agent = agents_[e.rec.agent_id];
        if (e.rec.attempts >= config_.max_attempts) {
            finish_locked(e, CommandState::dead_lettered, after);
            trim_terminal_locked();
        } else if (agent.session) {
            dispatch_locked(agent, e, after);
        }
        // No session: the command stays dispatched and goes out again on attach.
    }
    run_after(std::move(after));
}

void MemoryQueue::on_deadline(const std::string& command_id) {
    After after;
    {
        std::lock_guard lock(mu_);
        auto it = commands_.find(command_id);
        if (stopped_ || it == commands_.end()) {
            return;
        }
        Entry& e = it->second;
        e.deadline_timer = 0;
        // An acked command is the agent's to finish: it enforces the deadline itself
        // and reports timed_out.
        if (e.rec.state == CommandState::queued || e.rec.state == CommandState::dispatched) {
            finish_locked(e, CommandState::timed_out, after);
            trim_terminal_locked();
        }
    }
    run_after(std::move(after));
}

void MemoryQueue::pump(const std::string& agent_id) {
    std::unique_lock lock(mu_);
    auto ait = agents_.find(agent_id);
    if (stopped_ || ait == agents_.end() || ait->second.pumping) {
        return;  // the running pump picks up whatever was added
    }
    Agent& agent = ait->second;
    agent.pumping = true;
    while (!stopped_ && agent.session && !agent.outbox.empty()) {
        const std::string id = std::move(agent.outbox.front());
        agent.outbox.pop_front();
        auto it = commands_.find(id);
        if (it == commands_.end() || it->second.rec.state != CommandState::dispatched) {
            continue;  // acked, cancelled or finished meanwhile
        }
        const sdk::CommandRecord rec = it->second.rec;
        const std::shared_ptr<const sdk::DeliverFn> deliver = agent.session->deliver;
        lock.unlock();
        bool taken = false;
        try {
            taken = (*deliver)(rec);
        } catch (...) {
            taken = false;  // a defect of the session; treated like a full write queue
        }
        lock.lock();
        if (!taken) {
            // The session refused (closing or full): the ack timer redelivers.
            ctx_.logger().debug("delivery refused by session", {{"command_id", rec.command_id}});
        }
    }
    if (!agent.session) {
        agent.outbox.clear();
    }
    agent.pumping = false;
}

}  // namespace agenthost::plugins::queue_memory
