// MemoryQueue, operator side: enqueue, get, list, cancel, shutdown, and the state
// bookkeeping shared with the session side (queue_delivery.cpp).
#include "plugins/queue_memory/memory_queue.hpp"

#include <algorithm>
#include <utility>

#include "kernel/util/ids.hpp"

namespace agenthost::plugins::queue_memory {

using sdk::CommandState;
using sdk::Errc;

namespace {

constexpr std::size_t state_index(CommandState s) {
    return static_cast<std::size_t>(s);
}

template <typename T>
void answer(const sdk::Callback<T>& done, T value) {
    if (done) {
        done(std::move(value));
    }
}

}  // namespace

std::shared_ptr<MemoryQueue> MemoryQueue::create(sdk::PluginContext& ctx,
                                                 const QueueConfig& config) {
    return std::shared_ptr<MemoryQueue>(new MemoryQueue(ctx, config));
}

MemoryQueue::MemoryQueue(sdk::PluginContext& ctx, const QueueConfig& config)
    : ctx_(ctx),
      config_(config),
      idempotency_(config.idempotency_ttl_s * 1000),
      depth_gauge_(ctx.metrics().gauge("queue_depth", "Unfinished commands in the queue")),
      full_total_(ctx.metrics().counter("queue_full_total",
                                        "Enqueues refused because the agent's queue was full")) {
    for (std::size_t i = 0; i < state_total_.size(); ++i) {
        const char* name = sdk::to_string(static_cast<CommandState>(i));
        state_total_[i] = &ctx.metrics().counter(
            "commands_total", "Command state transitions, by the state entered", {{"state", name}});
    }
}

MemoryQueue::~MemoryQueue() {
    shutdown();
}

std::int64_t MemoryQueue::now_ms() const noexcept {
    return ctx_.clock().now_unix_ms();
}

std::chrono::milliseconds MemoryQueue::backoff(std::int32_t attempts) const noexcept {
    // ack_timeout * 2^(attempts-1), capped; the shift is bounded so it cannot overflow.
    const std::int64_t base_ms = config_.ack_timeout_s * 1000;
    const std::int64_t cap_ms = std::max(config_.max_backoff_s, config_.ack_timeout_s) * 1000;
    const int shift = std::clamp(attempts - 1, 0, 30);
    return std::chrono::milliseconds(std::min(cap_ms, base_ms << shift));
}

// ------------------------------------------------------------------ operator side

void MemoryQueue::enqueue(sdk::NewCommand cmd,
                          sdk::Callback<sdk::Result<sdk::EnqueueOutcome>> done) {
    using Out = sdk::Result<sdk::EnqueueOutcome>;
    if (cmd.agent_id.empty() || cmd.name.empty() || cmd.timeout_s < 1) {
        return answer(done, Out(sdk::error(Errc::invalid_argument,
                                           "agent_id, name and timeout_s >= 1 are required")));
    }
    After after;
    std::optional<Out> result;
    {
        std::lock_guard lock(mu_);
        const std::int64_t now = now_ms();
        if (stopped_) {
            result.emplace(sdk::error(Errc::unavailable, "queue stopped"));
        } else if (!cmd.idempotency_key.empty()) {
            if (const auto* idem = idempotency_.find(cmd.agent_id, cmd.idempotency_key, now)) {
                auto it = commands_.find(idem->command_id);
                if (it == commands_.end()) {
                    // The record aged out of retention: the key no longer names anything.
                    idempotency_.erase(cmd.agent_id, cmd.idempotency_key);
                } else if (idem->request_digest != cmd.request_digest) {
                    result.emplace(sdk::error(Errc::conflict, "idempotency_conflict"));
                } else {
                    result.emplace(sdk::EnqueueOutcome{it->second.rec, false});
                }
            }
        }
        if (!result) {
            Agent& agent = agents_[cmd.agent_id];
            if (agent.active.size() >= static_cast<std::size_t>(config_.max_depth)) {
                full_total_.inc();
                result.emplace(sdk::error(Errc::exhausted, "queue_full"));
            } else {
                Entry e;
                e.seq = ++next_seq_;
                e.rec.command_id = util::uuid_v4();
                e.rec.agent_id = cmd.agent_id;
                e.rec.name = std::move(cmd.name);
                e.rec.args = std::move(cmd.args);
                e.rec.state = CommandState::queued;
                e.rec.created_ms = now;
                e.rec.updated_ms = now;
                e.rec.deadline_ms = now + cmd.timeout_s * 1000;
                const std::string id = e.rec.command_id;
                Entry& stored = commands_.emplace(id, std::move(e)).first->second;
                by_seq_.emplace(stored.seq, id);
                agent.active.emplace(stored.seq, id);
                depth_gauge_.set(static_cast<double>(++depth_));
                state_total_[state_index(CommandState::queued)]->inc();
                if (!cmd.idempotency_key.empty()) {
                    idempotency_.put(cmd.agent_id, cmd.idempotency_key, id,
                                     std::move(cmd.request_digest), now);
                }
                arm_deadline_timer_locked(stored);
                // The answer shows the command as accepted (API: 202 state "queued"),
                // even when it goes straight out to an attached session.
                result.emplace(sdk::EnqueueOutcome{stored.rec, true});
                if (agent.session) {
                    dispatch_locked(agent, stored, after);
                }
            }
        }
    }
    run_after(std::move(after));
    answer(done, std::move(*result));
}

void MemoryQueue::get(std::string command_id, sdk::Callback<sdk::Result<sdk::CommandRecord>> done) {
    std::optional<sdk::Result<sdk::CommandRecord>> result;
    {
        std::lock_guard lock(mu_);
        auto it = commands_.find(command_id);
        if (it == commands_.end()) {
            result.emplace(sdk::error(Errc::not_found, "command not found"));
        } else {
            result.emplace(it->second.rec);
        }
    }
    answer(done, std::move(*result));
}

void MemoryQueue::list(sdk::CommandFilter filter,
                       sdk::Callback<sdk::Result<std::vector<sdk::CommandRecord>>> done) {
    std::vector<sdk::CommandRecord> out;
    {
        std::lock_guard lock(mu_);
        for (auto it = by_seq_.rbegin(); it != by_seq_.rend() && out.size() < filter.limit; ++it) {
            const sdk::CommandRecord& rec = commands_.at(it->second).rec;
            if ((filter.agent_id && rec.agent_id != *filter.agent_id) ||
                (filter.state && rec.state != *filter.state)) {
                continue;
            }
            out.push_back(rec);
        }
    }
    answer(done, sdk::Result<std::vector<sdk::CommandRecord>>(std::move(out)));
}

void MemoryQueue::cancel(std::string command_id,
                         sdk::Callback<sdk::Result<sdk::CommandRecord>> done) {
    After after;
    std::optional<sdk::Result<sdk::CommandRecord>> result;
    {
        std::lock_guard lock(mu_);
        auto it = commands_.find(command_id);
        if (stopped_) {
            result.emplace(sdk::error(Errc::unavailable, "queue stopped"));
        } else if (it == commands_.end()) {
            result.emplace(sdk::error(Errc::not_found, "command not found"));
        } else if (it->second.rec.state != CommandState::queued) {
            // Once dispatched the agent may already run it: cancelling would lie.
            result.emplace(sdk::error(Errc::conflict, "not_cancellable"));
        } else {
            finish_locked(it->second, CommandState::cancelled, after);
            result.emplace(it->second.rec);
            trim_terminal_locked();
        }
    }
    run_after(std::move(after));
    answer(done, std::move(*result));
}

std::chrono::seconds MemoryQueue::retry_after(std::string_view) const {
    return std::chrono::seconds(config_.retry_after_s);
}

void MemoryQueue::shutdown() noexcept {
    std::vector<Session> dropped;
    std::lock_guard lock(mu_);
    if (stopped_) {
        return;
    }
    stopped_ = true;
    for (auto& [id, e] : commands_) {
        cancel_timers_locked(e);
    }
    for (auto& [id, a] : agents_) {
        if (a.session) {
            dropped.push_back(std::move(*a.session));
            a.session.reset();
        }
        a.outbox.clear();
    }
}

// ------------------------------------------------------------------ internals

void MemoryQueue::set_state_locked(Entry& e, CommandState state) {
    e.rec.state = state;
    e.rec.updated_ms = now_ms();
    state_total_[state_index(state)]->inc();
}

void MemoryQueue::finish_locked(Entry& e, CommandState state, After& after) {
    cancel_timers_locked(e);
    set_state_locked(e, state);
    agents_[e.rec.agent_id].active.erase(e.seq);
    depth_gauge_.set(static_cast<double>(--depth_));
    terminal_order_.push_back(e.rec.command_id);
    if (state == CommandState::dead_lettered) {
        sdk::json::object details;
        details["agent_id"] = e.rec.agent_id;
        details["name"] = e.rec.name;
        details["attempts"] = e.rec.attempts;
        after.audits.push_back(sdk::AuditEvent{"plugin:" + std::string(ctx_.plugin_name()),
                                               "command.dead_lettered", e.rec.command_id, "failure",
                                               std::move(details)});
    }
}

void MemoryQueue::trim_terminal_locked() {
    while (terminal_order_.size() > static_cast<std::size_t>(config_.retain_terminal)) {
        auto it = commands_.find(terminal_order_.front());
        terminal_order_.pop_front();
        if (it != commands_.end()) {
            by_seq_.erase(it->second.seq);
            commands_.erase(it);
        }
    }
}

void MemoryQueue::cancel_timers_locked(Entry& e) {
    for (sdk::TimerId* t : {&e.ack_timer, &e.deadline_timer}) {
        if (*t != 0) {
            ctx_.scheduler().cancel(*t);
            *t = 0;
        }
    }
}

void MemoryQueue::run_after(After after) {
    for (auto& event : after.audits) {
        ctx_.audit().record(std::move(event));
    }
    std::sort(after.pump_agents.begin(), after.pump_agents.end());
    after.pump_agents.erase(std::unique(after.pump_agents.begin(), after.pump_agents.end()),
                            after.pump_agents.end());
    for (auto& agent_id : after.pump_agents) {
        // Posted, never inline: the DeliverFn runs on a loop thread and not inside
        // the caller's stack (which may hold the caller's own locks).
        ctx_.scheduler().post([weak = weak_from_this(), agent_id = std::move(agent_id)] {
            if (auto self = weak.lock()) {
                self->pump(agent_id);
            }
        });
    }
}

}  // namespace agenthost::plugins::queue_memory
