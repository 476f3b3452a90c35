// replay_memory benchmarks (built with -DAGENTHOST_BUILD_BENCH=ON):
//   <build>/bench/bench_replay_memory
// Reports checks/s for fresh inserts, replays and contended inserts, and the memory
// held per entry (measured with mallinfo2 and as the cache estimates it).

#include <malloc.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "plugins/_common_replay/nonce_cache.hpp"

namespace agenthost::plugins::replay_memory {
namespace {

using replay::NonceCache;

constexpr std::int64_t window_ms = 60'000;

// 22-character base64url-looking nonces (16 bytes encoded), distinct per index.
std::string make_nonce(std::uint64_t i) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string s(22, 'A');
    std::uint64_t x = i * 0x9E3779B97F4A7C15ULL + 0x1234567;
    for (int k = 0; k < 22; ++k) {
        s[static_cast<std::size_t>(k)] = alphabet[(x >> ((k % 10) * 6)) & 63];
        if (k == 9) {
            x = i;  // second half encodes the index itself: guarantees uniqueness
        }
    }
    return s;
}

const std::vector<std::string>& nonces() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> out;
        out.reserve(1 << 20);
        for (std::uint64_t i = 0; i < (1 << 20); ++i) {
            out.push_back(make_nonce(i));
        }
        return out;
    }();
    return v;
}

std::string agent_id(std::uint64_t i) {
    return "gateway-" + std::to_string(i % 1000);
}

void BM_CheckFresh(benchmark::State& state) {
    const auto& n = nonces();
    auto cache = std::make_unique<NonceCache>(NonceCache::Options{n.size(), 16, 100});
    std::size_t i = 0;
    for (auto _ : state) {
        if (i == n.size()) {
            state.PauseTiming();
            cache = std::make_unique<NonceCache>(NonceCache::Options{n.size(), 16, 100});
            i = 0;
            state.ResumeTiming();
        }
        benchmark::DoNotOptimize(cache->check_and_insert("gateway-42", n[i], window_ms, 0));
        ++i;
    }
    state.counters["checks/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CheckFresh);

void BM_CheckReplayed(benchmark::State& state) {
    const auto& n = nonces();
    NonceCache cache(NonceCache::Options{n.size(), 16, 100});
    constexpr std::size_t live = 100'000;
    for (std::size_t i = 0; i < live; ++i) {
        cache.check_and_insert("gateway-42", n[i], window_ms, 0);
    }
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(cache.check_and_insert("gateway-42", n[i], window_ms, 1));
        i = (i + 1) % live;
    }
    state.counters["checks/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CheckReplayed);

// Steady state: entries expire as time moves, so the cache never fills; exercises the
// lazy purge of whole expiry buckets on the insert path.
void BM_CheckSteadyStateWithExpiry(benchmark::State& state) {
    const auto& n = nonces();
    NonceCache cache(NonceCache::Options{n.size(), 16, 100});
    std::uint64_t i = 0;
    for (auto _ : state) {
        const auto now = static_cast<std::int64_t>(i / 10);  // 10 checks per ms
        benchmark::DoNotOptimize(
            cache.check_and_insert("gateway-42", n[i % n.size()], now + 10'000, now));
        ++i;
    }
    state.counters["entries"] = static_cast<double>(cache.size());
    state.counters["checks/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CheckSteadyStateWithExpiry);

// Contended: every thread inserts distinct nonces into one shared cache.
void BM_CheckConcurrent(benchmark::State& state) {
    static std::unique_ptr<NonceCache> shared;
    static std::atomic<std::uint64_t> next{0};
    const auto& n = nonces();
    if (state.thread_index() == 0) {
        shared = std::make_unique<NonceCache>(NonceCache::Options{n.size() * 4, 16, 100});
        next = 0;
    }
    const std::string agent = agent_id(static_cast<std::uint64_t>(state.thread_index()));
    for (auto _ : state) {
        const std::uint64_t i = next.fetch_add(1, std::memory_order_relaxed);
        benchmark::DoNotOptimize(shared->check_and_insert(agent, n[i % n.size()], window_ms, 0));
    }
    state.counters["checks/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CheckConcurrent)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

// Memory per entry for 1M live entries with 22-char nonces and ~12-char agent ids.
void BM_BytesPerEntry(benchmark::State& state) {
    const auto& n = nonces();
    const std::size_t entries = static_cast<std::size_t>(state.range(0));
    double measured = 0;
    double estimated = 0;
    for (auto _ : state) {
        const auto before = mallinfo2().uordblks;
        auto cache = std::make_unique<NonceCache>(NonceCache::Options{entries, 16, 100});
        for (std::size_t i = 0; i < entries; ++i) {
            // Expiries spread over a 60 s window, as with real traffic.
            cache->check_and_insert(agent_id(i), n[i],
                                    static_cast<std::int64_t>(i * 60'000 / entries) + window_ms, 0);
        }
        const auto after = mallinfo2().uordblks;
        measured = static_cast<double>(after - before) / static_cast<double>(entries);
        estimated = static_cast<double>(cache->bytes()) / static_cast<double>(entries);
    }
    state.counters["bytes/entry"] = measured;
    state.counters["estimate_bytes/entry"] = estimated;
}
BENCHMARK(BM_BytesPerEntry)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace agenthost::plugins::replay_memory

BENCHMARK_MAIN();
