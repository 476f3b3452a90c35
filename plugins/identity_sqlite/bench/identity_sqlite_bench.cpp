// bench_identity_sqlite: the lease writes of identity_sqlite on one real SQLite file
// (WAL, synchronous=FULL as shipped), before and after group commit, in one run:
//   OpenPerCall    IdentityDb::open_session, one IMMEDIATE transaction + fsync per
//                  hello (the path before group commit; concurrent callers were
//                  serialised on the writer mutex, so this loop is its ceiling).
//   OpenGrouped    a burst of hellos submitted at once to the LeaseWriter on a
//                  2-thread pool, completed after their batch committed; the
//                  argument is write_batch_max (1 = the one-per-call switch).
//   RenewPerCall / RenewGrouped  the same for lease renewals (synchronous=NORMAL).
// Rates are items_per_second (wall time); cpu_us_per_item is the whole process's
// CPU (all threads, getrusage) per write — what the idle-CPU target is about.
// Not a test; `make bench` (scripts/bench.sh) runs it.

#include <sys/resource.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "plugins/identity_sqlite/identity_db.hpp"
#include "plugins/identity_sqlite/lease_writer.hpp"
#include "tests/support/fake_scheduler.hpp"

namespace ids = agenthost::identity_sqlite;
namespace sdk = agenthost::sdk;

namespace {

constexpr std::int64_t kLeaseMs = 30'000;
constexpr int kPerCallOpens = 200;  // per iteration: ~1 fsync each, keep it short
constexpr int kBurst = 1000;        // hellos or renewals in flight at once

class RealClock final : public sdk::Clock {
public:
    std::int64_t now_unix_ms() const noexcept override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
    std::chrono::steady_clock::time_point steady_now() const noexcept override {
        return std::chrono::steady_clock::now();
    }
};

// One fresh database file for one benchmark, removed afterwards.
class Store {
public:
    Store() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "idbench-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir_ = tmpl;
        agenthost::sqlite::Options o;
        o.path = dir_ + "/identity.db";
        auto opened = ids::IdentityDb::open(o);
        if (!opened) {
            throw std::runtime_error(opened.status().message());
        }
        db_ = std::shared_ptr<ids::IdentityDb>(std::move(opened).value());
    }
    ~Store() {
        db_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;
    ids::IdentityDb& db() { return *db_; }
    const std::shared_ptr<ids::IdentityDb>& shared() { return db_; }

private:
    std::string dir_;
    std::shared_ptr<ids::IdentityDb> db_;
};

sdk::AgentHello hello(std::int64_t n) {
    sdk::AgentHello h;
    h.agent_id = "gw-" + std::to_string(n);
    h.session_id = "s-" + std::to_string(n);
    h.host_id = "bench-host";
    h.cert_fingerprint = std::string(64, 'a');
    h.agent_version = "1.0.0";
    h.hostname = "gw.example";
    h.platform = "linux-x86_64";
    h.capabilities = {"builtin.echo", "builtin.sleep"};
    return h;
}

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return sec(u.ru_utime) + sec(u.ru_stime);
}

// Waits for `n` completions.
class Countdown {
public:
    explicit Countdown(int n) : left_(n) {}
    void done() {
        std::lock_guard lock(mu_);
        if (--left_ == 0) {
            cv_.notify_all();
        }
    }
    void wait() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return left_ == 0; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int left_;
};

struct Grouped {
    explicit Grouped(Store& store, std::size_t max_batch)
        : pool(agenthost::testing::FakeBlockingPool::Mode::threaded, 2),
          gate(std::make_shared<agenthost::sqlite::AsyncGate>()) {
        ids::LeaseWriterLimits limits;
        limits.max_batch = max_batch;
        limits.max_queued = 1u << 20;
        writer = ids::make_lease_writer(store.shared(), pool, clock, gate, limits);
    }
    ~Grouped() { gate->close(); }
    Grouped(const Grouped&) = delete;
    Grouped& operator=(const Grouped&) = delete;

    // Submits every write at once and waits for all; counts failures.
    int run(std::vector<ids::LeaseWrite> writes) {
        Countdown left(static_cast<int>(writes.size()));
        std::atomic<int> failed{0};
        for (auto& w : writes) {
            writer->submit(std::move(w), [&](ids::LeaseWriteResult r) {
                if (!r.status) {
                    ++failed;
                }
                left.done();
            });
        }
        left.wait();
        return failed.load();
    }

    RealClock clock;
    agenthost::testing::FakeBlockingPool pool;
    std::shared_ptr<agenthost::sqlite::AsyncGate> gate;
    std::shared_ptr<ids::LeaseWriter> writer;
};

std::int64_t g_next_agent = 0;

void report(benchmark::State& state, std::int64_t items, double cpu0) {
    state.SetItemsProcessed(items);
    state.counters["cpu_us_per_item"] =
        benchmark::Counter((cpu_seconds() - cpu0) * 1e6 / static_cast<double>(items));
}

void BM_OpenPerCall(benchmark::State& state) {
    Store store;
    RealClock clock;
    const double cpu0 = cpu_seconds();
    std::int64_t items = 0;
    for (auto _ : state) {
        for (int i = 0; i < kPerCallOpens; ++i) {
            auto r = store.db().open_session(hello(g_next_agent++), clock.now_unix_ms(), kLeaseMs);
            if (!r || r->outcome != sdk::OpenOutcome::opened) {
                state.SkipWithError("open failed");
                return;
            }
        }
        items += kPerCallOpens;
    }
    report(state, items, cpu0);
}

void BM_OpenGrouped(benchmark::State& state) {
    Store store;
    Grouped grouped(store, static_cast<std::size_t>(state.range(0)));
    const double cpu0 = cpu_seconds();
    std::int64_t items = 0;
    for (auto _ : state) {
        std::vector<ids::LeaseWrite> writes;
        for (int i = 0; i < kBurst; ++i) {
            writes.emplace_back(ids::OpenWrite{hello(g_next_agent++), kLeaseMs});
        }
        if (grouped.run(std::move(writes)) != 0) {
            state.SkipWithError("open failed");
            return;
        }
        items += kBurst;
    }
    report(state, items, cpu0);
}

// kBurst live sessions to renew.
std::vector<sdk::AgentHello> open_sessions(Store& store) {
    std::vector<sdk::AgentHello> out;
    std::vector<ids::LeaseWrite> writes;
    for (int i = 0; i < kBurst; ++i) {
        out.push_back(hello(g_next_agent++));
        writes.emplace_back(ids::OpenWrite{out.back(), kLeaseMs});
    }
    RealClock clock;
    for (const auto& r : store.db().write_batch(writes, clock.now_unix_ms())) {
        if (!r.status) {
            throw std::runtime_error(r.status.message());
        }
    }
    return out;
}

void BM_RenewPerCall(benchmark::State& state) {
    Store store;
    auto sessions = open_sessions(store);
    RealClock clock;
    const double cpu0 = cpu_seconds();
    std::int64_t items = 0;
    for (auto _ : state) {
        for (const auto& h : sessions) {
            if (!store.db().renew_session(h.agent_id, h.session_id, clock.now_unix_ms(),
                                          kLeaseMs)) {
                state.SkipWithError("renew failed");
                return;
            }
        }
        items += kBurst;
    }
    report(state, items, cpu0);
}

void BM_RenewGrouped(benchmark::State& state) {
    Store store;
    auto sessions = open_sessions(store);
    Grouped grouped(store, static_cast<std::size_t>(state.range(0)));
    const double cpu0 = cpu_seconds();
    std::int64_t items = 0;
    for (auto _ : state) {
        std::vector<ids::LeaseWrite> writes;
        for (const auto& h : sessions) {
            writes.emplace_back(ids::RenewWrite{h.agent_id, h.session_id, kLeaseMs});
        }
        if (grouped.run(std::move(writes)) != 0) {
            state.SkipWithError("renew failed");
            return;
        }
        items += kBurst;
    }
    report(state, items, cpu0);
}

}  // namespace

BENCHMARK(BM_OpenPerCall)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OpenGrouped)->Arg(1)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RenewPerCall)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RenewGrouped)->Arg(1)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
