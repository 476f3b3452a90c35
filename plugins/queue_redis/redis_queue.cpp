// RedisQueue, operator side: lifecycle, enqueue, get, list, cancel, record parsing.
// The session side (attach/detach, acks, results, delivery, sweep) is in
// queue_delivery.cpp.
#include "plugins/queue_redis/redis_queue.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "kernel/util/ids.hpp"
#include "plugins/queue_redis/queue_scripts.hpp"

namespace agenthost::plugins::queue_redis {

using sdk::CommandState;
using sdk::Errc;

namespace {

template <typename T>
void answer(const sdk::Callback<T>& done, T value) {
    if (done) {
        done(std::move(value));
    }
}

std::int64_t to_i64(const std::string& s) {
    std::int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

// A failed call or an error reply, as the Status the SDK caller sees: a lost
// connection stays Errc::unavailable (API 503); a script error is internal.
sdk::Status failure(const sdk::Result<redis::Reply>& r) {
    if (!r.ok()) {
        return r.status();
    }
    return redis::reply_status(*r);
}

}  // namespace

std::optional<sdk::CommandRecord> parse_record(const redis::Reply& flat) {
    if (!flat.is_array() || flat.size() < 2 || flat.size() % 2 != 0) {
        return std::nullopt;
    }
    sdk::CommandRecord rec;
    bool have_state = false;
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
        const std::string& k = flat.at(i).text();
        const std::string& v = flat.at(i + 1).text();
        if (k == "id") {
            rec.command_id = v;
        } else if (k == "agent") {
            rec.agent_id = v;
        } else if (k == "name") {
            rec.name = v;
        } else if (k == "args") {
            boost::system::error_code ec;
            auto parsed = boost::json::parse(v, ec);
            if (!ec && parsed.is_object()) {
                rec.args = std::move(parsed.as_object());
            }
        } else if (k == "state") {
            auto st = sdk::command_state_from(v);
            if (!st) {
                return std::nullopt;
            }
            rec.state = *st;
            have_state = true;
        } else if (k == "attempts") {
            rec.attempts = static_cast<std::int32_t>(to_i64(v));
        } else if (k == "created") {
            rec.created_ms = to_i64(v);
        } else if (k == "updated") {
            rec.updated_ms = to_i64(v);
        } else if (k == "deadline") {
            rec.deadline_ms = to_i64(v);
        }
    }
    if (rec.command_id.empty() || !have_state) {
        return std::nullopt;
    }
    return rec;
}

std::shared_ptr<RedisQueue> RedisQueue::create(sdk::PluginContext& ctx, const QueueConfig& config,
                                               redis::Endpoint endpoint) {
    return std::shared_ptr<RedisQueue>(new RedisQueue(ctx, config, std::move(endpoint)));
}

RedisQueue::RedisQueue(sdk::PluginContext& ctx, const QueueConfig& config,
                       redis::Endpoint endpoint)
    : ctx_(ctx),
      config_(config),
      endpoint_(std::move(endpoint)),
      host_(ctx.host_id()),
      depth_gauge_(ctx.metrics().gauge("queue_depth", "Unfinished commands in the queue")),
      full_total_(ctx.metrics().counter("queue_full_total",
                                        "Enqueues refused because the agent's queue was full")),
      unavailable_total_(ctx.metrics().counter(
          "queue_unavailable_total", "Queue calls refused because Redis was unreachable")) {
    for (std::size_t i = 0; i < state_total_.size(); ++i) {
        const char* name = sdk::to_string(static_cast<CommandState>(i));
        state_total_[i] = &ctx.metrics().counter(
            "commands_total", "Command state transitions, by the state entered", {{"state", name}});
    }
}

RedisQueue::~RedisQueue() {
    shutdown();
}

sdk::Status RedisQueue::start() {
    void* loop = ctx_.scheduler().native_loop();
    if (loop == nullptr) {
        return sdk::error(Errc::unsupported,
                          "queue_redis needs the kernel's event loop (Scheduler::native_loop)");
    }
    redis::ClientOptions o;
    o.endpoint = endpoint_;
    o.command_timeout = std::chrono::milliseconds(config_.command_timeout_ms);
    o.name = "agenthost-queue-" + host_;
    std::replace(o.name.begin(), o.name.end(), ' ', '_');
    cmd_ = redis::Client::create(loop, o, ctx_.logger());
    o.name += "-sub";
    sub_ = redis::Client::create(loop, o, ctx_.logger());

    std::weak_ptr<RedisQueue> weak = weak_from_this();
    // Every (re)connect re-registers this host's sessions: Redis may have restarted
    // (owner keys lost with an un-synced AOF tail) or another host may have swept them.
    cmd_->on_ready([weak] {
        if (auto self = weak.lock()) {
            self->on_ready();
        }
    });
    sub_->subscribe({config_.key_prefix + "notify:" + host_},
                    [weak](const std::string&, const std::string& agent_id) {
                        if (auto self = weak.lock()) {
                            self->pull(agent_id);
                        }
                    });
    // A re-subscribe may have missed notifications: read every stream once.
    sub_->on_ready([weak] {
        if (auto self = weak.lock()) {
            std::vector<std::string> ids;
            {
                std::lock_guard lock(self->mu_);
                for (const auto& [id, a] : self->agents_) {
                    ids.push_back(id);
                }
            }
            for (const auto& id : ids) {
                self->pull(id);
            }
        }
    });
    cmd_->start();
    sub_->start();
    std::lock_guard lock(mu_);
    arm_sweep();
    return {};
}

void RedisQueue::shutdown() noexcept {
    std::unordered_map<std::string, Agent> dropped;  // destroyed outside the lock
    {
        std::lock_guard lock(mu_);
        if (stopped_) {
            return;
        }
        stopped_ = true;
        if (sweep_timer_ != 0) {
            ctx_.scheduler().cancel(sweep_timer_);
            sweep_timer_ = 0;
        }
        dropped.swap(agents_);
    }
    {
        // A DeliverFn running on another thread finishes before we return.
        std::unique_lock lock(mu_);
        const int own = in_delivery() ? 1 : 0;
        idle_.wait(lock, [&] { return delivering_ <= own; });
    }
    if (cmd_) {
        cmd_->stop();
    }
    if (sub_) {
        sub_->stop();
    }
}

bool RedisQueue::is_stopped() const {
    std::lock_guard lock(mu_);
    return stopped_ || !cmd_;
}

bool RedisQueue::healthy() const noexcept {
    return cmd_ && cmd_->healthy();
}

std::optional<double> RedisQueue::ping_latency_ms() const noexcept {
    return cmd_ ? cmd_->ping_latency_ms() : std::nullopt;
}

std::string RedisQueue::last_error() const {
    return cmd_ ? cmd_->last_error() : std::string("not started");
}

std::string RedisQueue::now_arg() const {
    return std::to_string(ctx_.clock().now_unix_ms());
}

std::string RedisQueue::base_ms() const {
    return std::to_string(config_.ack_timeout_s * 1000);
}

std::string RedisQueue::cap_ms() const {
    return std::to_string(std::max(config_.max_backoff_s, config_.ack_timeout_s) * 1000);
}

void RedisQueue::count(CommandState s, std::uint64_t n) {
    if (n > 0) {
        state_total_[static_cast<std::size_t>(s)]->inc(n);
    }
}

// ------------------------------------------------------------------ operator side

void RedisQueue::enqueue(sdk::NewCommand cmd,
                         sdk::Callback<sdk::Result<sdk::EnqueueOutcome>> done) {
    using Out = sdk::Result<sdk::EnqueueOutcome>;
    if (cmd.agent_id.empty() || cmd.name.empty() || cmd.timeout_s < 1) {
        return answer(done, Out(sdk::error(Errc::invalid_argument,
                                           "agent_id, name and timeout_s >= 1 are required")));
    }
    if (is_stopped()) {
        return answer(done, Out(sdk::error(Errc::unavailable, "queue stopped")));
    }
    const std::int64_t now = ctx_.clock().now_unix_ms();
    const std::string agent_id = cmd.agent_id;
    // The agent's session is here and no read is in flight: the enqueue script does the
    // read too (one round trip instead of enqueue + pull), standing for the pull that a
    // local enqueue would otherwise trigger, so the per-agent read order is kept.
    std::optional<std::string> reading_for;  // the session this read is for
    {
        std::lock_guard lock(mu_);
        auto it = agents_.find(agent_id);
        if (!stopped_ && it != agents_.end() && !it->second.attaching && !it->second.pulling) {
            it->second.pulling = true;
            reading_for = it->second.session_id;
        }
    }
    redis::Argv args{config_.key_prefix,
                     cmd.agent_id,
                     util::uuid_v4(),
                     cmd.name,
                     boost::json::serialize(cmd.args),
                     std::to_string(now),
                     std::to_string(now + cmd.timeout_s * 1000),
                     std::to_string(config_.max_depth),
                     cmd.idempotency_key,
                     cmd.request_digest,
                     std::to_string(config_.idempotency_ttl_s * 1000),
                     host_,
                     reading_for ? "1" : "0",
                     std::to_string(pull_batch),
                     base_ms(),
                     cap_ms()};
    auto self = shared_from_this();
    cmd_->eval(scripts::enqueue(), {}, std::move(args),
               [self, done, agent_id, reading_for](sdk::Result<redis::Reply> r) {
                   const bool ok = failure(r).ok();
                   const bool read = ok && r->size() >= 4 && r->at(0).text() == "ok";
                   if (reading_for) {
                       // Ends the read this call stood for (empty when the script
                       // refused the command or failed, like a failed pull).
                       self->take_pulled(agent_id, *reading_for, ok,
                                         read ? records_of(r->at(3))
                                              : std::vector<sdk::CommandRecord>{},
                                         false);
                   }
                   if (auto st = failure(r); !st.ok()) {
                       self->unavailable_total_.inc(st.code() == Errc::unavailable ? 1 : 0);
                       return answer(done, Out(st));
                   }
                   const std::string& verdict = r->at(0).text();
                   if (verdict == "full") {
                       self->full_total_.inc();
                       return answer(done, Out(sdk::error(Errc::exhausted, "queue_full")));
                   }
                   if (verdict == "conflict") {
                       return answer(done,
                                     Out(sdk::error(Errc::conflict, "idempotency_conflict")));
                   }
                   auto rec = parse_record(r->at(1));
                   if (!rec) {
                       return answer(done, Out(sdk::error(Errc::internal,
                                                          "malformed command record")));
                   }
                   if (verdict == "repeat") {
                       return answer(done, Out(sdk::EnqueueOutcome{std::move(*rec), false}));
                   }
                   self->count(CommandState::queued);
                   if (!reading_for && r->at(2).as_integer().value_or(0) == 1) {
                       self->pull(agent_id);  // the agent's session is on this host
                   }
                   answer(done, Out(sdk::EnqueueOutcome{std::move(*rec), true}));
               });
}

void RedisQueue::get(std::string command_id, sdk::Callback<sdk::Result<sdk::CommandRecord>> done) {
    using Out = sdk::Result<sdk::CommandRecord>;
    if (is_stopped()) {
        return answer(done, Out(sdk::error(Errc::unavailable, "queue stopped")));
    }
    cmd_->command({"HGETALL", config_.key_prefix + "cmd:" + command_id},
                  [done](sdk::Result<redis::Reply> r) {
                      if (auto st = failure(r); !st.ok()) {
                          return answer(done, Out(st));
                      }
                      if (r->size() == 0) {
                          return answer(done, Out(sdk::error(Errc::not_found,
                                                             "command not found")));
                      }
                      auto rec = parse_record(*r);
                      if (!rec) {
                          return answer(done, Out(sdk::error(Errc::internal,
                                                             "malformed command record")));
                      }
                      answer(done, Out(std::move(*rec)));
                  });
}

void RedisQueue::list(sdk::CommandFilter filter,
                      sdk::Callback<sdk::Result<std::vector<sdk::CommandRecord>>> done) {
    using Out = sdk::Result<std::vector<sdk::CommandRecord>>;
    if (is_stopped()) {
        return answer(done, Out(sdk::error(Errc::unavailable, "queue stopped")));
    }
    const std::size_t limit = std::clamp<std::size_t>(filter.limit, 1, 10000);
    cmd_->eval(scripts::list(), {},
               {config_.key_prefix, filter.agent_id.value_or(""),
                filter.state ? sdk::to_string(*filter.state) : "", std::to_string(limit)},
               [done](sdk::Result<redis::Reply> r) {
                   if (auto st = failure(r); !st.ok()) {
                       return answer(done, Out(st));
                   }
                   std::vector<sdk::CommandRecord> out;
                   for (const auto& flat : r->elements) {
                       if (auto rec = parse_record(flat)) {
                           out.push_back(std::move(*rec));
                       }
                   }
                   answer(done, Out(std::move(out)));
               });
}

void RedisQueue::cancel(std::string command_id,
                        sdk::Callback<sdk::Result<sdk::CommandRecord>> done) {
    using Out = sdk::Result<sdk::CommandRecord>;
    if (is_stopped()) {
        return answer(done, Out(sdk::error(Errc::unavailable, "queue stopped")));
    }
    auto self = shared_from_this();
    cmd_->eval(scripts::cancel(), {},
               {config_.key_prefix, command_id, now_arg(), std::to_string(config_.retain_terminal)},
               [self, done](sdk::Result<redis::Reply> r) {
                   if (auto st = failure(r); !st.ok()) {
                       return answer(done, Out(st));
                   }
                   const std::string& verdict = r->at(0).text();
                   if (verdict == "not_found") {
                       return answer(done, Out(sdk::error(Errc::not_found, "command not found")));
                   }
                   if (verdict != "ok") {
                       // Once dispatched the agent may already run it: cancelling would lie.
                       return answer(done, Out(sdk::error(Errc::conflict, "not_cancellable")));
                   }
                   auto rec = parse_record(r->at(1));
                   if (!rec) {
                       return answer(done, Out(sdk::error(Errc::internal,
                                                          "malformed command record")));
                   }
                   self->count(CommandState::cancelled);
                   answer(done, Out(std::move(*rec)));
               });
}

std::chrono::seconds RedisQueue::retry_after(std::string_view) const {
    return std::chrono::seconds(config_.retry_after_s);
}

}  // namespace agenthost::plugins::queue_redis
