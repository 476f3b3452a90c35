// bench_queue_redis: the raw Redis baseline against queue_redis, same Redis, same run.
//
//  - BM_RawRedisStreamLoop: per command XADD, XREADGROUP (COUNT 1) and XACK through
//    hiredis (ah_redis's async client): the least a stream-based queue can do.
//  - BM_QueueRedisCommandLoop: the plugin's enqueue -> deliver (notification, pull
//    script, DeliverFn) -> acked -> completed, as the backend drives it.
// Both run `chains` independent agents/streams with one command in flight each, on
// a private Redis started with AOF and appendfsync always (scripts/test-services.sh),
// or on AGENTHOST_BENCH_REDIS_URL when set. The raw loop also runs 100 chains: the
// agent count of bench/perf's Redis command scenario, which uses it as its baseline.
// items_per_second is commands fully processed per second.

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <benchmark/benchmark.h>

#include "plugins/_common_redis/tests/live_context.hpp"
#include "plugins/queue_redis/redis_queue.hpp"
#include "tests/support/services.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

using namespace std::chrono_literals;

constexpr int batch = 512;  // commands per benchmark iteration

// AGENTHOST_BENCH_REDIS_URL: run against that server instead (bench/perf's Redis
// command scenario points the raw loop at the very redis-server its backend uses).
std::string redis_url() {
    if (const char* u = std::getenv("AGENTHOST_BENCH_REDIS_URL"); u != nullptr && *u != '\0') {
        return u;
    }
    static testsvc::RedisServer s;
    return s.url();
}

// Counts completions; the iteration ends when `batch` commands are done.
struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    void one() {
        std::lock_guard lock(mu);
        if (++done >= batch) {
            cv.notify_all();
        }
    }
    void wait_and_reset() {
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, 60s, [&] { return done >= batch; })) {
            std::fprintf(stderr, "benchmark stalled at %d/%d\n", done, batch);
            std::abort();
        }
        done = 0;
    }
};

// ----------------------------------------------------------------- raw baseline

struct RawChain : std::enable_shared_from_this<RawChain> {
    redis::Client* client = nullptr;
    Gate* gate = nullptr;
    std::string stream;
    std::atomic<int>* budget = nullptr;

    void next() {
        if (budget->fetch_sub(1) <= 0) {
            return;
        }
        auto self = shared_from_this();
        client->command({"XADD", stream, "*", "id", "x"}, [self](sdk::Result<redis::Reply>) {
            self->client->command(
                {"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", self->stream, ">"},
                [self](sdk::Result<redis::Reply> r) {
                    std::string id = r.ok() ? r->at(0).at(1).at(0).at(0).text() : "";
                    self->client->command({"XACK", self->stream, "g", id},
                                          [self](sdk::Result<redis::Reply>) {
                                              self->gate->one();
                                              self->next();
                                          });
                });
        });
    }
};

void BM_RawRedisStreamLoop(benchmark::State& state) {
    const int chains = static_cast<int>(state.range(0));
    testing::FakeLogger log;  // outlives the loop's threads
    redis::LocalLoop loop(2);
    redis::ClientOptions o;
    o.endpoint = *redis::parse_url(redis_url());
    auto client = redis::Client::create(loop.native_loop(), o, log);
    client->start();
    testing::wait_until([&] { return client->healthy(); });
    const std::string prefix = testsvc::fresh_redis_prefix();
    Gate gate;
    std::atomic<int> budget{0};
    std::vector<std::shared_ptr<RawChain>> all;
    for (int i = 0; i < chains; ++i) {
        auto c = std::make_shared<RawChain>();
        c->client = client.get();
        c->gate = &gate;
        c->stream = prefix + "raw:" + std::to_string(i);
        c->budget = &budget;
        std::mutex mu;
        bool created = false;
        client->command({"XGROUP", "CREATE", c->stream, "g", "$", "MKSTREAM"},
                        [&](sdk::Result<redis::Reply>) {
                            std::lock_guard lock(mu);
                            created = true;
                        });
        testing::wait_until([&] {
            std::lock_guard lock(mu);
            return created;
        });
        all.push_back(c);
    }
    for (auto _ : state) {
        budget = batch;
        for (auto& c : all) {
            c->next();
        }
        gate.wait_and_reset();
    }
    state.SetItemsProcessed(state.iterations() * batch);
    client->stop();
}
BENCHMARK(BM_RawRedisStreamLoop)
    ->Arg(1)
    ->Arg(16)
    ->Arg(100)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ----------------------------------------------------------------- queue_redis

void BM_QueueRedisCommandLoop(benchmark::State& state) {
    const int chains = static_cast<int>(state.range(0));
    testing::LiveContext ctx("bench-host");
    QueueConfig cfg;
    cfg.key_prefix = testsvc::fresh_redis_prefix();
    auto q = RedisQueue::create(ctx, cfg, *redis::parse_url(redis_url()));
    if (!q->start().ok() || !testing::wait_until([&] { return q->healthy(); })) {
        state.SkipWithError("queue_redis did not connect");
        return;
    }
    Gate gate;
    std::atomic<int> budget{0};
    auto enqueue_next = [&](const std::string& agent) {
        if (budget.fetch_sub(1) <= 0) {
            return;
        }
        q->enqueue(sdk::NewCommand{agent, "builtin.echo", {}, 3600, "", ""},
                   [](sdk::Result<sdk::EnqueueOutcome> r) {
                       if (!r.ok()) {
                           std::fprintf(stderr, "enqueue: %s\n", r.status().message().c_str());
                       }
                   });
    };
    for (int i = 0; i < chains; ++i) {
        const std::string agent = "agent-" + std::to_string(i);
        // What the backend session does: ack on delivery, then the stored result.
        q->attach(agent, "s", [&, agent](const sdk::CommandRecord& c) {
            q->acked(agent, c.command_id, [&, agent, id = c.command_id](sdk::Status) {
                q->completed(agent, id, sdk::CommandState::succeeded, [&, agent](sdk::Status) {
                    gate.one();
                    enqueue_next(agent);
                });
            });
            return true;
        });
    }
    for (auto _ : state) {
        budget = batch;
        for (int i = 0; i < chains; ++i) {
            enqueue_next("agent-" + std::to_string(i));
        }
        gate.wait_and_reset();
    }
    state.SetItemsProcessed(state.iterations() * batch);
    q->shutdown();
}
BENCHMARK(BM_QueueRedisCommandLoop)->Arg(1)->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace agenthost::plugins::queue_redis

BENCHMARK_MAIN();
