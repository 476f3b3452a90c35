// bench_telemetry_pg: telemetry ingest into PostgreSQL, one private server, one table
// (the plugin's schema), in one run:
//   (a) Raw/*     the fastest idempotent upsert this file can do with libpq directly:
//                 big pre-encoded batches, COPY → temp table → INSERT … ON CONFLICT DO
//                 NOTHING, or one INSERT … SELECT FROM unnest($arrays); 1 or 2 sessions.
//   (b) Plugin/*  the plugin's ingest path (validation, dedup, sort, bounded queue,
//                 group commit on a 2-thread pool) fed by 100 simulated sessions of
//                 100-point batches, closed loop, both write modes.
//   (c) SlowDatabase  the database held behind a lock for 3 s while batches arrive
//                 as fast as the plugin takes them: queue depth and RSS stay bounded.
// Rows/s is items_per_second. b/a = Plugin / best Raw. Not a test; `make bench` runs it.

#include <libpq-fe.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <benchmark/benchmark.h>
#include <pqxx/pqxx>

#include "plugins/_common_postgres/pg_migrate.hpp"
#include "plugins/telemetry_postgres/rows.hpp"
#include "plugins/telemetry_postgres/telemetry_pg.hpp"
#include "plugins/telemetry_postgres/telemetry_plugin.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/services.hpp"

namespace tp = agenthost::telemetry_postgres;
namespace sdk = agenthost::sdk;

namespace {

constexpr int kAgents = 100;
std::atomic<std::int64_t> g_ts{1'000'000};  // every row of the run is new

const std::string& server_url() {
    // Destroyed (stopped, data removed) at exit.
    static agenthost::testsvc::PostgresServer server;
    return server.url();
}

// A fresh, migrated database for one benchmark.
std::string fresh_db() {
    std::string url = agenthost::testsvc::fresh_postgres_database(server_url());
    pqxx::connection c(url);
    auto applied = agenthost::pg::apply_migrations(c, tp::kComponent, tp::migrations());
    if (!applied) {
        throw std::runtime_error(applied.status().message());
    }
    return url;
}

PGresult* must(PGconn* c, PGresult* r) {
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) {
        std::string msg = PQerrorMessage(c);
        PQclear(r);
        throw std::runtime_error(msg);
    }
    return r;
}

void exec(PGconn* c, const char* sql) {
    PQclear(must(c, PQexec(c, sql)));
}

struct RawRow {
    std::string agent;
    std::string metric;
    std::int64_t ts;
    std::int64_t hash;
    std::string labels;
    double value;
};

std::vector<RawRow> make_rows(int n) {
    static const std::string labels = R"({"core":"0"})";
    static const std::int64_t hash = tp::labels_hash(labels);
    std::vector<RawRow> rows;
    rows.reserve(static_cast<std::size_t>(n));
    const std::int64_t base = g_ts.fetch_add(n);
    for (int i = 0; i < n; ++i) {
        // Sorted by key already: one agent, increasing ts.
        rows.push_back(RawRow{"gw-000", "cpu.load", base + i, hash, labels, 0.25 * i});
    }
    return rows;
}

void append_num(std::string& s, std::int64_t v) {
    char b[24];
    s.append(b, std::to_chars(b, b + 24, v).ptr);
}

// (a) COPY text into a temp table, then one INSERT … SELECT … ON CONFLICT DO NOTHING.
void Raw_Copy(benchmark::State& state) {
    static std::string url;
    if (state.thread_index() == 0 && url.empty()) {
        url = fresh_db();
    }
    while (url.empty()) {
        std::this_thread::yield();
    }
    PGconn* c = PQconnectdb(url.c_str());
    exec(c,
         "CREATE TEMP TABLE s (agent_id text, metric text, ts_ms bigint, labels_hash bigint,"
         " labels text, value float8) ON COMMIT DELETE ROWS");
    const int n = static_cast<int>(state.range(0));
    for (auto _ : state) {
        auto rows = make_rows(n);
        std::string buf;
        buf.reserve(rows.size() * 64);
        for (const auto& r : rows) {
            buf += r.agent;
            buf += '\t';
            buf += r.metric;
            buf += '\t';
            append_num(buf, r.ts);
            buf += '\t';
            append_num(buf, r.hash);
            buf += '\t';
            buf += r.labels;  // no tab, newline or backslash: no escaping needed
            buf += '\t';
            tp::append_double(buf, r.value);
            buf += '\n';
        }
        exec(c, "BEGIN");
        PQclear(must(c, PQexec(c, "COPY s FROM STDIN")));
        PQputCopyData(c, buf.data(), static_cast<int>(buf.size()));
        PQputCopyEnd(c, nullptr);
        PQclear(must(c, PQgetResult(c)));
        exec(c, "INSERT INTO telemetry SELECT * FROM s ON CONFLICT DO NOTHING");
        exec(c, "COMMIT");
    }
    state.SetItemsProcessed(state.iterations() * n);
    PQfinish(c);
}

// (a') One INSERT … SELECT FROM unnest of six array parameters.
void Raw_Unnest(benchmark::State& state) {
    static std::string url;
    if (state.thread_index() == 0 && url.empty()) {
        url = fresh_db();
    }
    while (url.empty()) {
        std::this_thread::yield();
    }
    PGconn* c = PQconnectdb(url.c_str());
    const int n = static_cast<int>(state.range(0));
    for (auto _ : state) {
        auto rows = make_rows(n);
        std::string a[6];
        for (auto& s : a) {
            s = "{";
        }
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (i > 0) {
                for (auto& s : a) {
                    s += ',';
                }
            }
            a[0] += rows[i].agent;
            a[1] += rows[i].metric;
            append_num(a[2], rows[i].ts);
            append_num(a[3], rows[i].hash);
            tp::append_text_element(a[4], rows[i].labels);
            tp::append_double(a[5], rows[i].value);
        }
        for (auto& s : a) {
            s += '}';
        }
        const char* params[6] = {a[0].c_str(), a[1].c_str(), a[2].c_str(),
                                 a[3].c_str(), a[4].c_str(), a[5].c_str()};
        PQclear(must(c, PQexecParams(c,
                                     "INSERT INTO telemetry SELECT * FROM unnest($1::text[],"
                                     " $2::text[], $3::bigint[], $4::bigint[], $5::text[],"
                                     " $6::float8[]) ON CONFLICT DO NOTHING",
                                     6, nullptr, params, nullptr, nullptr, 0)));
    }
    state.SetItemsProcessed(state.iterations() * n);
    PQfinish(c);
}

sdk::TelemetryBatch make_batch(int agent, int points) {
    sdk::TelemetryBatch b;
    b.agent_id = "gw-" + std::to_string(agent);
    b.batch_id = "b";
    const std::int64_t base = g_ts.fetch_add(points);
    for (int p = 0; p < points; ++p) {
        b.points.push_back({p % 2 == 0 ? "cpu.load" : "mem.used",
                            base + p,
                            0.5 * p,
                            {{"core", std::to_string(p % 4)}, {"host", "h1"}}});
    }
    return b;
}

struct Harness {
    explicit Harness(const std::string& mode, std::int64_t queue_points = 200000) {
        agenthost::testing::FakeContextOptions o;
        o.plugin_name = "telemetry_postgres";
        o.blocking_mode = agenthost::testing::FakeBlockingPool::Mode::threaded;
        ctx = std::make_unique<agenthost::testing::FakeContext>(o);
        url = fresh_db();
        sdk::json::object cfg{
            {"url", url}, {"write_mode", mode}, {"ingest_queue_points", queue_points}};
        auto made = tp::create(*ctx, cfg);
        if (!made) {
            throw std::runtime_error(made.status().message());
        }
        plugin = std::move(made).value();
        if (auto st = plugin->start(); !st) {
            throw std::runtime_error(st.message());
        }
        store = ctx->services().find<sdk::TelemetryStore>();
    }
    ~Harness() { plugin->stop(); }

    std::unique_ptr<agenthost::testing::FakeContext> ctx;
    std::string url;
    std::unique_ptr<sdk::Plugin> plugin;
    sdk::TelemetryStore* store = nullptr;
};

// (b) 100 sessions × 2 batches in flight each (a gateway's window is larger; the
// queue decides how much is coalesced), 100 points per batch, closed loop.
void Plugin_Ingest(benchmark::State& state, const std::string& mode) {
    Harness h(mode);
    constexpr int kPoints = 100;
    constexpr int kInflight = 2 * kAgents;
    constexpr int kPerIteration = 400;  // batches
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    std::uint64_t failed = 0;
    for (auto _ : state) {
        for (int i = 0; i < kPerIteration; ++i) {
            auto b = make_batch(i % kAgents, kPoints);  // built outside the wait
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return outstanding < kInflight; });
            ++outstanding;
            lk.unlock();
            h.store->store_batch(std::move(b), [&](sdk::Result<sdk::IngestOutcome> r) {
                std::lock_guard g(mu);
                --outstanding;
                failed += r.ok() ? 0 : 1;
                cv.notify_all();
            });
        }
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return outstanding == 0; });
    }
    state.SetItemsProcessed(state.iterations() * kPerIteration * kPoints);
    state.counters["failed_batches"] = static_cast<double>(failed);
}

long rss_kb() {
    std::ifstream in("/proc/self/statm");
    long pages = 0;
    long resident = 0;
    in >> pages >> resident;
    return resident * 4;
}

// (c) Inflow faster than the database (held behind a lock for 3 s): the queue stops at
// its bound, the overflow is refused (no ack: the gateways keep it), memory is flat.
void SlowDatabase(benchmark::State& state) {
    for (auto _ : state) {
        Harness h("multirow", 50000);
        pqxx::connection blocker(h.url);
        pqxx::work lock_tx(blocker);
        lock_tx.exec("LOCK TABLE telemetry IN EXCLUSIVE MODE");
        const long rss0 = rss_kb();
        std::atomic<std::uint64_t> refused{0};
        std::atomic<std::uint64_t> stored{0};
        std::size_t max_depth = 0;
        std::uint64_t offered = 0;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        int i = 0;
        while (std::chrono::steady_clock::now() < until) {
            h.store->store_batch(
                make_batch(i++ % kAgents, 100),
                [&](sdk::Result<sdk::IngestOutcome> r) { (r.ok() ? stored : refused) += 1; });
            ++offered;
            max_depth =
                std::max(max_depth, static_cast<tp::TelemetryPostgresPlugin*>(h.plugin.get())
                                        ->ingest_queue()
                                        ->queued_points());
        }
        const long rss1 = rss_kb();
        lock_tx.commit();
        state.counters["offered_batches"] = static_cast<double>(offered);
        state.counters["refused_batches"] = static_cast<double>(refused.load());
        state.counters["max_queue_points"] = static_cast<double>(max_depth);
        state.counters["queue_bound_points"] = 50000;
        state.counters["rss_growth_kb"] = static_cast<double>(rss1 - rss0);
    }
}

}  // namespace

BENCHMARK(Raw_Copy)->Arg(10000)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(Raw_Copy)->Arg(10000)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(Raw_Unnest)->Arg(10000)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(Raw_Unnest)->Arg(10000)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Plugin_Ingest, multirow, std::string("multirow"))
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Plugin_Ingest, copy, std::string("copy"))
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(SlowDatabase)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
