#include "plugins/replay_redis/redis_replay_cache.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

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

RedisReplayCache::RedisReplayCache(sdk::PluginContext& ctx, const ReplayConfig& config,
                                   redis::Endpoint endpoint)
    : ctx_(ctx),
      config_(config),
      endpoint_(std::move(endpoint)),
      script_(check_script_source()),
      epoch_key_(epoch_key(config.key_prefix)) {
    auto& m = ctx.metrics();
    counters_ = std::make_shared<Counters>();
    counters_->fresh = &m.counter("replay_checks_total", checks_help, {{"verdict", "fresh"}});
    counters_->replayed = &m.counter("replay_checks_total", checks_help, {{"verdict", "replayed"}});
    counters_->stale = &m.counter("replay_checks_total", checks_help, {{"verdict", "stale"}});
    counters_->full = &m.counter("replay_cache_full_total",
                                 "Nonce checks refused because Redis is out of memory");
    counters_->failed = &m.counter("replay_check_failures_total",
                                   "Nonce checks that failed (Redis unreachable or erroring): "
                                   "frame refused");
}

RedisReplayCache::~RedisReplayCache() {
    stop();
}

sdk::Status RedisReplayCache::start() {
    if (ctx_.scheduler().native_loop() == nullptr) {
        return sdk::error(sdk::Errc::unsupported, "replay_redis needs the kernel's Asio loop");
    }
    started_ms_ = ctx_.clock().now_unix_ms();
    redis::ClientOptions o;
    o.endpoint = endpoint_;
    o.name = "agenthost-replay-" + std::string(ctx_.host_id());
    o.command_timeout = std::chrono::milliseconds(config_.command_timeout_ms);
    client_ = redis::Client::create(ctx_.scheduler().native_loop(), std::move(o), ctx_.logger());
    if (auto st = ctx_.services().provide<sdk::ReplayCache>(this); !st.ok()) {
        client_.reset();
        return st;
    }
    client_->start();
    // Fail closed is only half the story: the load balancer must also stop sending
    // agents here while every frame would be refused. Weak: the registry may outlive us.
    std::weak_ptr<redis::Client> weak = client_;
    ctx_.health().add_check("redis:replay", true, [weak] {
        sdk::HealthReport r;
        r.component_type = "datastore";
        r.observed_unit = "ms";
        auto c = weak.lock();
        if (!c) {
            r.state = sdk::HealthState::fail;
            r.output = "replay cache stopped";
            return r;
        }
        if (auto ms = c->ping_latency_ms()) {
            r.observed_value = *ms;
        }
        if (!c->healthy()) {
            r.state = sdk::HealthState::fail;
            r.output = "redis unreachable: frames are refused (" + c->last_error() + ")";
        }
        return r;
    });
    ctx_.logger().info("replay cache on redis",
                       {{"prefix", config_.key_prefix},
                        {"timeout_ms", std::to_string(config_.command_timeout_ms)}});
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
    redis::Argv keys{nonce_key(config_.key_prefix, agent_id, nonce), epoch_key_};
    const std::int64_t proposed_epoch =
        counters_->epoch_seen.load(std::memory_order_relaxed) ? now : started_ms_;
    redis::Argv args{std::to_string(ts_ms), std::to_string(entry_ttl_ms(ts_ms, now, window_ms)),
                     std::to_string(proposed_epoch)};
    client_->eval(script_, std::move(keys), std::move(args),
                  [counters = counters_, done = std::move(done)](sdk::Result<redis::Reply> r) {
                      sdk::Result<sdk::ReplayVerdict> v =
                          r.ok() ? verdict_of(*r) : sdk::Result<sdk::ReplayVerdict>(r.status());
                      if (v.ok()) {
                          counters->epoch_seen.store(true, std::memory_order_relaxed);
                      }
                      if (!v.ok()) {
                          counters->failed->inc();
                      } else if (*v == sdk::ReplayVerdict::fresh) {
                          counters->fresh->inc();
                          counters->fresh_seen.fetch_add(1, std::memory_order_relaxed);
                      } else if (*v == sdk::ReplayVerdict::replayed) {
                          counters->replayed->inc();
                      } else if (*v == sdk::ReplayVerdict::stale) {
                          counters->stale->inc();
                      } else {
                          counters->full->inc();
                      }
                      if (done) {
                          done(std::move(v));
                      }
                  });
}

sdk::ReplayStats RedisReplayCache::stats() const {
    // Entries live in Redis (shared, expiring there); counting them would need a SCAN.
    // `entries` is what this host recorded; capacity 0 = bounded by Redis maxmemory.
    return sdk::ReplayStats{counters_->fresh_seen.load(std::memory_order_relaxed), 0, 0};
}

sdk::Result<std::unique_ptr<sdk::Plugin>> make_plugin(sdk::PluginContext& ctx,
                                                      const sdk::json::object& config) {
    const ReplayConfig c = parse_config(config);
    auto url = resolve_url(c);
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
