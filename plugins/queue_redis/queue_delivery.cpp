// RedisQueue, session side: attach/detach, acks and results, delivery to this host's
// sessions (pull on notification, per-agent outbox, pump) and the periodic sweep
// (redeliveries, dead-letters, deadlines, rescans). See redis_queue.hpp for the model.
#include "plugins/queue_redis/redis_queue.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "plugins/queue_redis/queue_scripts.hpp"

namespace agenthost::plugins::queue_redis {

using sdk::CommandState;
using sdk::Errc;

namespace {

// Redeliveries / deadlines handled per sweep (the rest on the next one).
constexpr int sweep_limit = 500;

// True on a thread inside a DeliverFn (shutdown() from there must not wait for itself).
thread_local bool tls_delivering = false;

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

sdk::Status failure(const sdk::Result<redis::Reply>& r) {
    if (!r.ok()) {
        return r.status();
    }
    return redis::reply_status(*r);
}

}  // namespace

std::vector<sdk::CommandRecord> records_of(const redis::Reply& arr) {
    std::vector<sdk::CommandRecord> out;
    for (const auto& flat : arr.elements) {
        if (auto rec = parse_record(flat)) {
            out.push_back(std::move(*rec));
        }
    }
    return out;
}

// ------------------------------------------------------------------ sessions

void RedisQueue::attach(std::string agent_id, std::string session_id, sdk::DeliverFn deliver) {
    {
        std::lock_guard lock(mu_);
        if (stopped_) {
            return;
        }
        Agent& a = agents_[agent_id];
        a.session_id = session_id;
        a.deliver = std::make_shared<const sdk::DeliverFn>(std::move(deliver));
        a.outbox.clear();
        a.attaching = true;
        a.pulling = false;
        a.pull_again = false;
    }
    run_attach(agent_id, session_id);
}

void RedisQueue::run_attach(const std::string& agent_id, const std::string& session_id) {
    auto self = shared_from_this();
    cmd_->eval(scripts::attach(), {},
               {config_.key_prefix, agent_id, host_, now_arg(), std::to_string(pull_batch),
                base_ms(), cap_ms(), std::to_string(config_.max_attempts)},
               [self, agent_id, session_id](sdk::Result<redis::Reply> r) {
                   self->on_pulled(agent_id, session_id, std::move(r), true);
               });
}

void RedisQueue::detach(std::string agent_id, std::string session_id) {
    {
        std::lock_guard lock(mu_);
        auto it = agents_.find(agent_id);
        if (stopped_ || it == agents_.end() || it->second.session_id != session_id) {
            return;  // a stale detach of a session already replaced
        }
        agents_.erase(it);
    }
    release(agent_id);
}

void RedisQueue::release(const std::string& agent_id) {
    // Releases the ownership so that enqueues stop notifying this host and the sweep
    // stops redelivering here. Failed (Redis down): retried by the reconnect hook.
    auto self = shared_from_this();
    cmd_->eval(scripts::detach(), {}, {config_.key_prefix, agent_id, host_},
               [self, agent_id](sdk::Result<redis::Reply> r) {
                   if (!failure(r).ok()) {
                       std::lock_guard lock(self->mu_);
                       self->released_.insert(agent_id);
                   }
               });
}

void RedisQueue::acked(std::string agent_id, std::string command_id,
                       sdk::Callback<sdk::Status> done) {
    if (is_stopped()) {
        return answer(done, sdk::error(Errc::unavailable, "queue stopped"));
    }
    auto self = shared_from_this();
    cmd_->eval(scripts::ack(), {}, {config_.key_prefix, agent_id, command_id, now_arg()},
               [self, done](sdk::Result<redis::Reply> r) {
                   if (auto st = failure(r); !st.ok()) {
                       return answer(done, st);
                   }
                   if (r->text() == "not_found") {
                       return answer(done, sdk::error(Errc::not_found,
                                                      "command not found for this agent"));
                   }
                   if (r->text() == "acked") {
                       self->count(CommandState::acked);
                   }
                   answer(done, sdk::Status{});
               });
}

void RedisQueue::completed(std::string agent_id, std::string command_id, CommandState terminal,
                           sdk::Callback<sdk::Status> done) {
    if (!is_agent_result_state(terminal)) {
        return answer(done, sdk::error(Errc::invalid_argument, std::string("not a result state: ") +
                                                                   sdk::to_string(terminal)));
    }
    if (is_stopped()) {
        return answer(done, sdk::error(Errc::unavailable, "queue stopped"));
    }
    auto self = shared_from_this();
    cmd_->eval(scripts::complete(), {},
               {config_.key_prefix, agent_id, command_id, sdk::to_string(terminal), now_arg(),
                std::to_string(config_.retain_terminal)},
               [self, done, terminal](sdk::Result<redis::Reply> r) {
                   if (auto st = failure(r); !st.ok()) {
                       return answer(done, st);
                   }
                   if (r->text() == "not_found") {
                       return answer(done, sdk::error(Errc::not_found,
                                                      "command not found for this agent"));
                   }
                   if (r->text() == "finished") {
                       self->count(terminal);
                   }
                   // "ok": already final; a resent result is accepted and ignored.
                   answer(done, sdk::Status{});
               });
}

// ------------------------------------------------------------------ delivery

void RedisQueue::pull(const std::string& agent_id) {
    std::string session_id;
    {
        std::lock_guard lock(mu_);
        auto it = agents_.find(agent_id);
        if (stopped_ || it == agents_.end()) {
            return;
        }
        Agent& a = it->second;
        if (a.attaching || a.pulling) {
            a.pull_again = true;  // the reply in flight triggers one more pull
            return;
        }
        a.pulling = true;
        session_id = a.session_id;
    }
    auto self = shared_from_this();
    cmd_->eval(scripts::pull(), {},
               {config_.key_prefix, agent_id, host_, now_arg(), std::to_string(pull_batch),
                base_ms(), cap_ms()},
               [self, agent_id, session_id](sdk::Result<redis::Reply> r) {
                   self->on_pulled(agent_id, session_id, std::move(r), false);
               });
}

void RedisQueue::on_pulled(const std::string& agent_id, const std::string& session_id,
                           sdk::Result<redis::Reply> r, bool was_attach) {
    const bool ok = failure(r).ok();
    if (!ok) {
        ctx_.logger().debug("queue read failed", {{"agent", agent_id},
                                                   {"error", failure(r).message()}});
    }
    take_pulled(agent_id, session_id, ok,
                ok ? records_of(*r) : std::vector<sdk::CommandRecord>{}, was_attach);
}

void RedisQueue::take_pulled(const std::string& agent_id, const std::string& session_id,
                             bool ok, std::vector<sdk::CommandRecord> recs, bool was_attach) {
    bool again = false;
    {
        std::lock_guard lock(mu_);
        auto it = agents_.find(agent_id);
        if (stopped_ || it == agents_.end() || it->second.session_id != session_id) {
            // The session ended meanwhile: the commands stay dispatched and go out
            // again on the next attach (or by the redelivery sweep).
            return;
        }
        Agent& a = it->second;
        (was_attach ? a.attaching : a.pulling) = false;
        // A failed read is retried by the reconnect hook (which re-attaches) or the
        // rescan; a full batch means more is waiting.
        again = ok && (a.pull_again || recs.size() >= pull_batch);
        a.pull_again = false;
        for (auto& rec : recs) {
            a.outbox.push_back(std::move(rec));
        }
    }
    count(CommandState::dispatched, recs.size());
    if (!recs.empty()) {
        auto weak = weak_from_this();
        ctx_.scheduler().post([weak, agent_id] {
            if (auto self = weak.lock()) {
                self->pump(agent_id);
            }
        });
    }
    if (again) {
        pull(agent_id);
    }
}

void RedisQueue::pump(const std::string& agent_id) {
    std::unique_lock lock(mu_);
    auto ait = agents_.find(agent_id);
    if (stopped_ || ait == agents_.end() || ait->second.pumping) {
        return;  // the running pump picks up whatever was added
    }
    ait->second.pumping = true;
    for (;;) {
        ait = agents_.find(agent_id);
        if (stopped_ || ait == agents_.end() || ait->second.outbox.empty()) {
            break;
        }
        Agent& a = ait->second;
        const sdk::CommandRecord rec = std::move(a.outbox.front());
        a.outbox.pop_front();
        const std::shared_ptr<const sdk::DeliverFn> deliver = a.deliver;
        ++delivering_;
        tls_delivering = true;
        lock.unlock();
        bool taken = false;
        try {
            taken = (*deliver)(rec);
        } catch (...) {
            taken = false;  // a defect of the session; treated like a full write queue
        }
        tls_delivering = false;
        if (!taken) {
            // The session refused (closing or full): the redelivery sweep resends it.
            ctx_.logger().debug("delivery refused by session", {{"command_id", rec.command_id}});
        }
        lock.lock();
        if (--delivering_ == 0) {
            idle_.notify_all();
        }
    }
    if (ait != agents_.end()) {
        ait->second.pumping = false;
    }
}

bool RedisQueue::in_delivery() noexcept {
    return tls_delivering;
}

// ------------------------------------------------------------------ sweep

void RedisQueue::arm_sweep() {
    // Called with mu_ held.
    if (stopped_) {
        return;
    }
    std::weak_ptr<RedisQueue> weak = weak_from_this();
    sweep_timer_ =
        ctx_.scheduler().schedule(std::chrono::milliseconds(config_.sweep_interval_ms), [weak] {
            if (auto self = weak.lock()) {
                self->sweep_now();
                std::lock_guard lock(self->mu_);
                self->arm_sweep();
            }
        });
}

void RedisQueue::sweep_now() {
    std::vector<std::string> rescan;
    {
        std::lock_guard lock(mu_);
        if (stopped_ || !cmd_ || !cmd_->healthy()) {
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_rescan_) {
            next_rescan_ = now + std::chrono::seconds(config_.rescan_interval_s);
            for (const auto& [id, a] : agents_) {
                rescan.push_back(id);
            }
        }
    }
    // Liveness of this host: a few sweeps, so a dead host's agents stop waiting on it.
    const std::int64_t host_ttl_ms = 3 * config_.sweep_interval_ms + 2000;
    auto self = shared_from_this();
    cmd_->eval(scripts::tick(), {},
               {config_.key_prefix, host_, now_arg(), std::to_string(sweep_limit),
                std::to_string(config_.max_attempts), base_ms(), cap_ms(),
                std::to_string(config_.retain_terminal), std::to_string(host_ttl_ms),
                std::to_string(config_.dead_letter_max)},
               [self](sdk::Result<redis::Reply> r) { self->on_tick(std::move(r)); });
    for (const auto& id : rescan) {
        pull(id);
    }
}

void RedisQueue::on_tick(sdk::Result<redis::Reply> r) {
    if (auto st = failure(r); !st.ok()) {
        ctx_.logger().debug("queue sweep failed", {{"error", st.message()}});
        return;
    }
    auto deliver = records_of(r->at(0));
    auto dead = records_of(r->at(1));
    count(CommandState::timed_out, static_cast<std::uint64_t>(r->at(2).as_integer().value_or(0)));
    const auto depth = r->at(3).as_integer().value_or(0);
    depth_ = depth;
    depth_gauge_.set(static_cast<double>(depth));

    count(CommandState::dead_lettered, dead.size());
    for (const auto& rec : dead) {
        // The Lua script moved it exactly once, so exactly one host audits it.
        sdk::json::object details;
        details["agent_id"] = rec.agent_id;
        details["name"] = rec.name;
        details["attempts"] = rec.attempts;
        ctx_.audit().record(sdk::AuditEvent{"plugin:" + std::string(ctx_.plugin_name()),
                                            "command.dead_lettered", rec.command_id, "failure",
                                            std::move(details)});
    }

    count(CommandState::dispatched, deliver.size());
    std::vector<std::string> pumps;
    {
        std::lock_guard lock(mu_);
        for (auto& rec : deliver) {
            auto it = agents_.find(rec.agent_id);
            if (stopped_ || it == agents_.end()) {
                continue;  // detached meanwhile: the next attach resends it
            }
            pumps.push_back(rec.agent_id);
            it->second.outbox.push_back(std::move(rec));
        }
    }
    std::sort(pumps.begin(), pumps.end());
    pumps.erase(std::unique(pumps.begin(), pumps.end()), pumps.end());
    for (auto& agent_id : pumps) {
        ctx_.scheduler().post([weak = weak_from_this(), agent_id = std::move(agent_id)] {
            if (auto self = weak.lock()) {
                self->pump(agent_id);
            }
        });
    }
}

void RedisQueue::on_ready() {
    // (Re)connected: re-register every session of this host (ownership, unacked
    // commands, anything enqueued while the notifications could not arrive).
    std::vector<std::pair<std::string, std::string>> sessions;
    std::set<std::string> released;
    {
        std::lock_guard lock(mu_);
        if (stopped_) {
            return;
        }
        released.swap(released_);
        for (const auto& [id, a] : agents_) {
            released.erase(id);  // attached again since: the attach below re-owns it
        }
        for (auto& [id, a] : agents_) {
            a.attaching = true;
            a.pulling = false;
            a.pull_again = false;
            sessions.emplace_back(id, a.session_id);
        }
    }
    for (const auto& agent_id : released) {
        release(agent_id);
    }
    for (const auto& [agent_id, session_id] : sessions) {
        run_attach(agent_id, session_id);
    }
}

}  // namespace agenthost::plugins::queue_redis
