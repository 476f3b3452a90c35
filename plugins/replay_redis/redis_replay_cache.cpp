#include "plugins/_common_redis/url_config.hpp"
#include "plugins/replay_redis/redis_replay_cache.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace agenthost::plugins::replay_redis {

namespace {

constexpr const char* checks_help = "Replay checks by verdict";

// KEYS[1] nonce key, KEYS[2] epoch key; ARGV[1] ts, ARGV[2] ttl ms, ARGV[3] the epoch
// to record when none exists. One script so the epoch check and the SET NX are one
// atomic step on the server. The epoch is when the cluster's record of nonces begins:
// older frames are `stale` (as replay_memory answers for frames from before its start).
// A host proposes its own start time until it has seen the key once, so frames signed
// after the first host started are judged by their nonce; after that it proposes `now`,
// so a Redis that lost its data refuses every frame signed before the loss.
const char* const script_text = R"lua(
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
if tonumber(ARGV[1]) < tonumber(epoch) then
  return 2
end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then
  return 0
end
return 1
)lua";

}  // namespace

std::string nonce_key(std::string_view prefix, std::string_view agent, std::string_view nonce) {
    std::string key;
    key.reserve(prefix.size() + agent.size() + nonce.size() + 16);
    key.append(prefix);
    key.append("n:");
    key.append(std::to_string(agent.size()));
    key.push_back(':');
    key.append(agent);
    key.push_back(':');
    key.append(nonce);
    return key;
}

std::string epoch_key(std::string_view prefix) {
    return std::string(prefix) + "epoch";
}

std::int64_t entry_ttl_ms(std::int64_t ts_ms, std::int64_t now_ms, std::int64_t window_ms) {
    const std::int64_t expiry = std::max(ts_ms, now_ms) + std::max<std::int64_t>(1, window_ms);
    return std::max<std::int64_t>(1, expiry - now_ms);
}

sdk::Result<sdk::ReplayVerdict> verdict_of(const redis::Reply& reply) {
    if (reply.is_error()) {
        // maxmemory reached with noeviction: the cache is full of live entries. Refuse
        // (1013) rather than forget; an eviction policy would reopen replay holes.
        if (reply.text().rfind("OOM", 0) == 0) {
            return sdk::ReplayVerdict::full;
        }
        return sdk::error(sdk::Errc::unavailable, "redis error: " + reply.text());
    }
    switch (reply.as_integer().value_or(-1)) {
        case 0:
            return sdk::ReplayVerdict::fresh;
        case 1:
            return sdk::ReplayVerdict::replayed;
        case 2:
            return sdk::ReplayVerdict::stale;
        default:
            return sdk::error(sdk::Errc::internal,
                              "unexpected replay script reply " + reply.debug());
    }
}

const std::string& check_script_source() {
    static const std::string source = script_text;
    return source;
}

struct RedisReplayCache::State : std::enable_shared_from_this<RedisReplayCache::State> {
    sdk::Counter* fresh = nullptr;
    sdk::Counter* replayed = nullptr;
    sdk::Counter* stale = nullptr;
    sdk::Counter* full = nullptr;
    sdk::Counter* failed = nullptr;
    sdk::Counter* degraded_checks = nullptr;
    sdk::Counter* written_back = nullptr;
    sdk::Gauge* degraded = nullptr;
    std::atomic<std::uint64_t> fresh_seen{0};
    // Set once a check of this host has run against the cluster's epoch key.
    std::atomic<bool> epoch_seen{false};

    // fallback: local only (nullptr with refuse).
    std::unique_ptr<LocalFallback> local;
    std::atomic<bool> writing_back{false};
    std::atomic<std::int64_t> next_write_back_ms{0};  // after a failed write-back
    std::string prefix;
    sdk::Clock* clock = nullptr;
    sdk::Logger* logger = nullptr;
    std::weak_ptr<redis::Client> client;

    void count(const sdk::Result<sdk::ReplayVerdict>& v);
    // Redis' answer (or failure) → the verdict handed to the kernel.
    sdk::Result<sdk::ReplayVerdict> decide(sdk::Result<sdk::ReplayVerdict> v,
                                           const std::string& agent, const std::string& nonce,
                                           std::int64_t ts_ms, std::int64_t expiry_ms);
    void enter_degraded(const std::string& why);
    void leave_degraded();
};

namespace {

constexpr std::size_t write_back_batch = 256;
constexpr std::int64_t write_back_retry_ms = 1000;

void start_write_back(const std::shared_ptr<RedisReplayCache::State>& st, bool force);

}  // namespace

void RedisReplayCache::State::count(const sdk::Result<sdk::ReplayVerdict>& v) {
    if (!v.ok()) {
        failed->inc();
    } else if (*v == sdk::ReplayVerdict::fresh) {
        fresh->inc();
        fresh_seen.fetch_add(1, std::memory_order_relaxed);
    } else if (*v == sdk::ReplayVerdict::replayed) {
        replayed->inc();
    } else if (*v == sdk::ReplayVerdict::stale) {
        stale->inc();
    } else {
        full->inc();
    }
}

void RedisReplayCache::State::enter_degraded(const std::string& why) {
    if (local->set_degraded(true)) {
        degraded->set(1);
        logger->warn(
            "redis unreachable: replay checks answered by this host's local nonce "
            "cache (fallback: local); replays across hosts are not detected until "
            "redis is back",
            {{"error", why}});
    }
}

void RedisReplayCache::State::leave_degraded() {
    if (local->set_degraded(false)) {
        degraded->set(0);
        logger->warn(
            "redis back: replay checks answered by redis again; writing back the "
            "nonces accepted during the outage",
            {{"pending", std::to_string(local->pending())}});
    }
}

sdk::Result<sdk::ReplayVerdict> RedisReplayCache::State::decide(sdk::Result<sdk::ReplayVerdict> v,
                                                                const std::string& agent,
                                                                const std::string& nonce,
                                                                std::int64_t ts_ms,
                                                                std::int64_t expiry_ms) {
    switch (route_of(local ? Fallback::local : Fallback::refuse, v)) {
        case Route::fail:
            return v;
        case Route::redis:
            epoch_seen.store(true, std::memory_order_relaxed);
            if (local) {
                if (*v == sdk::ReplayVerdict::fresh) {
                    // Shadow it; a nonce this host accepted during the outage and has
                    // not written back yet is a replay whatever Redis says.
                    v = local->mirror(agent, nonce, ts_ms, expiry_ms, clock->now_unix_ms());
                }
                leave_degraded();
                if (local->pending() > 0) {
                    start_write_back(shared_from_this(), false);
                }
            }
            return v;
        case Route::local:
            break;
    }
    enter_degraded(v.status().message());
    degraded_checks->inc();
    return local->check(agent, nonce, ts_ms, expiry_ms, clock->now_unix_ms());
}

namespace {

using StatePtr = std::shared_ptr<RedisReplayCache::State>;

void write_back_next(const StatePtr& st, std::uint64_t written);

void write_back_failed(const StatePtr& st, const std::string& why) {
    st->next_write_back_ms.store(st->clock->now_unix_ms() + write_back_retry_ms);
    st->writing_back.store(false);
    st->logger->warn("write-back of nonces accepted during the redis outage failed; retrying",
                     {{"error", why}, {"pending", std::to_string(st->local->pending())}});
}

// One pipeline of SET NX PX per batch, the next batch from its completion (on the
// Redis I/O thread: nothing here runs on, or blocks, the kernel's loop). NX: a key
// already there (the check reached Redis before the connection died) is left alone.
void write_back_next(const StatePtr& st, std::uint64_t written) {
    auto client = st->client.lock();
    const std::int64_t now = st->clock->now_unix_ms();
    auto batch =
        client ? st->local->take(now, write_back_batch) : std::vector<LocalFallback::Pending>{};
    if (batch.empty()) {
        st->writing_back.store(false);
        if (written > 0) {
            st->logger->info("nonces accepted during the redis outage written back",
                             {{"count", std::to_string(written)}});
        }
        return;
    }
    std::vector<redis::Argv> commands;
    commands.reserve(batch.size());
    for (const auto& p : batch) {
        commands.push_back({"SET", nonce_key(st->prefix, p.agent, p.nonce), "1", "NX", "PX",
                            std::to_string(std::max<std::int64_t>(1, p.expiry_ms - now))});
    }
    client->pipeline(std::move(commands), [st, batch = std::move(batch), written](
                                              sdk::Result<std::vector<redis::Reply>> r) mutable {
        if (!r.ok()) {
            st->local->restore(std::move(batch));
            return write_back_failed(st, r.status().message());
        }
        std::vector<LocalFallback::Pending> refused;
        std::string why;
        for (std::size_t i = 0; i < batch.size() && i < r->size(); ++i) {
            if ((*r)[i].is_error()) {
                why = (*r)[i].text();
                refused.push_back(std::move(batch[i]));
            }
        }
        const std::uint64_t ok = batch.size() - refused.size();
        st->written_back->inc(ok);
        if (!refused.empty()) {  // e.g. OOM: keep them, retry later
            st->local->restore(std::move(refused));
            return write_back_failed(st, why);
        }
        write_back_next(st, written + ok);
    });
}

// `force`: a (re)connect, which retries at once; otherwise at most once a second
// after a failure.
void start_write_back(const StatePtr& st, bool force) {
    if (!st->local || st->local->pending() == 0) {
        return;
    }
    if (!force && st->clock->now_unix_ms() < st->next_write_back_ms.load()) {
        return;
    }
    if (st->writing_back.exchange(true)) {
        return;  // one write-back at a time
    }
    write_back_next(st, 0);
}

sdk::HealthReport health_report(const std::shared_ptr<redis::Client>& c, const StatePtr& st) {
    sdk::HealthReport r;
    r.component_type = "datastore";
    r.observed_unit = "ms";
    if (!c || !st) {
        r.state = sdk::HealthState::fail;
        r.output = "replay cache stopped";
        return r;
    }
    if (auto ms = c->ping_latency_ms()) {
        r.observed_value = *ms;
    }
    const LocalFallback* local = st->local.get();
    if (!c->healthy()) {
        if (local == nullptr) {
            r.state = sdk::HealthState::fail;
            r.output = "redis unreachable: frames are refused (" + c->last_error() + ")";
            return r;
        }
        // The host still serves agents: degraded, not unready.
        r.state = sdk::HealthState::warn;
        r.output = "redis unreachable (" + c->last_error() +
                   "): degraded, frames are checked against this host's local nonce cache "
                   "(fallback: local); replays across hosts are not detected; " +
                   std::to_string(local->pending()) + " nonces to write back";
        return r;
    }
    if (local != nullptr && (local->degraded() || local->pending() > 0)) {
        r.state = sdk::HealthState::warn;
        r.output = "redis back: writing back " + std::to_string(local->pending()) +
                   " nonces accepted during the outage";
    }
    return r;
}

}  // namespace

RedisReplayCache::RedisReplayCache(sdk::PluginContext& ctx, const ReplayConfig& config,
                                   redis::Endpoint endpoint)
    : ctx_(ctx),
      config_(config),
      endpoint_(std::move(endpoint)),
      script_(check_script_source()),
      epoch_key_(epoch_key(config.key_prefix)),
      started_ms_(ctx.clock().now_unix_ms()) {
    auto& m = ctx.metrics();
    state_ = std::make_shared<State>();
    State& st = *state_;
    st.fresh = &m.counter("replay_checks_total", checks_help, {{"verdict", "fresh"}});
    st.replayed = &m.counter("replay_checks_total", checks_help, {{"verdict", "replayed"}});
    st.stale = &m.counter("replay_checks_total", checks_help, {{"verdict", "stale"}});
    st.full = &m.counter("replay_cache_full_total",
                         "Nonce checks refused because Redis (or, degraded, the local cache) is "
                         "full");
    st.failed = &m.counter("replay_check_failures_total",
                           "Nonce checks that failed (Redis unreachable or erroring): "
                           "frame refused");
    st.degraded_checks =
        &m.counter("replay_degraded_checks_total",
                   "Nonce checks answered by this host's local cache while Redis was "
                   "unreachable (fallback: local)");
    st.written_back = &m.counter("replay_written_back_total",
                                 "Nonces accepted during a Redis outage written back to Redis");
    st.degraded = &m.gauge("replay_degraded",
                           "1 while replay checks are answered by the local cache (Redis "
                           "unreachable, fallback: local)");
    st.prefix = config.key_prefix;
    st.clock = &ctx.clock();
    st.logger = &ctx.logger();
    if (config.fallback == Fallback::local) {
        st.local = std::make_unique<LocalFallback>(
            LocalFallback::Options{config.local_capacity, 16, started_ms_});
    }
}

RedisReplayCache::~RedisReplayCache() {
    stop();
}

sdk::Status RedisReplayCache::start() {
    if (ctx_.scheduler().native_loop() == nullptr) {
        return sdk::error(sdk::Errc::unsupported, "replay_redis needs the kernel's Asio loop");
    }
    redis::ClientOptions o;
    o.endpoint = endpoint_;
    o.name = "agenthost-replay-" + std::string(ctx_.host_id());
    o.command_timeout = std::chrono::milliseconds(config_.command_timeout_ms);
    client_ = redis::Client::create(ctx_.scheduler().native_loop(), std::move(o), ctx_.logger());
    if (auto st = ctx_.services().provide<sdk::ReplayCache>(this); !st.ok()) {
        client_.reset();
        return st;
    }
    state_->client = client_;
    std::weak_ptr<State> weak_state = state_;
    if (state_->local) {
        // Every (re)connect: write back what was accepted locally while Redis was away.
        client_->on_ready([weak_state] {
            if (auto st = weak_state.lock()) {
                start_write_back(st, true);
            }
        });
        ctx_.metrics().callback_gauge("replay_local_entries",
                                      "Nonces held by the local cache (fallback: local)", {},
                                      [weak_state] {
                                          auto st = weak_state.lock();
                                          return st ? static_cast<double>(st->local->size()) : 0.0;
                                      });
        ctx_.metrics().callback_gauge(
            "replay_write_back_pending",
            "Nonces accepted during a Redis outage not yet written back", {}, [weak_state] {
                auto st = weak_state.lock();
                return st ? static_cast<double>(st->local->pending()) : 0.0;
            });
    }
    client_->start();
    // Fail closed is only half the story: the load balancer must also stop sending
    // agents here while every frame would be refused. Weak: the registry may outlive us.
    std::weak_ptr<redis::Client> weak = client_;
    ctx_.health().add_check("redis:replay", true, [weak, weak_state] {
        return health_report(weak.lock(), weak_state.lock());
    });
    ctx_.logger().info("replay cache on redis",
                       {{"prefix", config_.key_prefix},
                        {"timeout_ms", std::to_string(config_.command_timeout_ms)},
                        {"fallback", std::string(to_string(config_.fallback))}});
    return {};
}

void RedisReplayCache::stop() noexcept {
    if (client_) {
        client_->stop();
    }
}

bool RedisReplayCache::healthy() const noexcept {
    return client_ && client_->healthy();
}

const LocalFallback* RedisReplayCache::local_fallback() const noexcept {
    return state_->local.get();
}

std::optional<sdk::ReplayVerdict> RedisReplayCache::check_now(std::string_view, std::string_view,
                                                              std::int64_t, std::int64_t) {
    return std::nullopt;  // always asynchronous: the answer needs a Redis round trip
}

void RedisReplayCache::check(std::string agent_id, std::string nonce, std::int64_t ts_ms,
                             std::int64_t window_ms,
                             sdk::Callback<sdk::Result<sdk::ReplayVerdict>> done) {
    if (!client_) {
        if (done) {
            done(sdk::error(sdk::Errc::unavailable, "replay cache not started"));
        }
        return;
    }
    const std::int64_t now = ctx_.clock().now_unix_ms();
    const std::int64_t ttl = entry_ttl_ms(ts_ms, now, window_ms);
    redis::Argv keys{nonce_key(config_.key_prefix, agent_id, nonce), epoch_key_};
    const std::int64_t proposed_epoch =
        state_->epoch_seen.load(std::memory_order_relaxed) ? now : started_ms_;
    redis::Argv args{std::to_string(ts_ms), std::to_string(ttl), std::to_string(proposed_epoch)};
    client_->eval(script_, std::move(keys), std::move(args),
                  [st = state_, agent = std::move(agent_id), nonce = std::move(nonce), ts_ms,
                   expiry = now + ttl, done = std::move(done)](sdk::Result<redis::Reply> r) {
                      sdk::Result<sdk::ReplayVerdict> v =
                          r.ok() ? verdict_of(*r) : sdk::Result<sdk::ReplayVerdict>(r.status());
                      v = st->decide(std::move(v), agent, nonce, ts_ms, expiry);
                      st->count(v);
                      if (done) {
                          done(std::move(v));
                      }
                  });
}

sdk::ReplayStats RedisReplayCache::stats() const {
    // Entries live in Redis (shared, expiring there); counting them would need a SCAN.
    // `entries` is what this host recorded; capacity 0 = bounded by Redis maxmemory.
    return sdk::ReplayStats{state_->fresh_seen.load(std::memory_order_relaxed), 0, 0};
}

sdk::Result<std::unique_ptr<sdk::Plugin>> make_plugin(sdk::PluginContext& ctx,
                                                      const sdk::json::object& config) {
    const ReplayConfig c = parse_config(config);
    auto url = redis::resolve_url(c.url, c.url_file);
    if (!url.ok()) {
        return url.status();
    }
    auto ep = redis::parse_url(*url);
    if (!ep.ok()) {
        return ep.status();
    }
    return std::unique_ptr<sdk::Plugin>(std::make_unique<RedisReplayCache>(ctx, c, *ep));
}

}  // namespace agenthost::plugins::replay_redis
