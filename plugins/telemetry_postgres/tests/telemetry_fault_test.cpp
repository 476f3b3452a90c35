// FAULT: agents ship telemetry through a real backend (mTLS, the real protocol) into
// telemetry_postgres on a private PostgreSQL that is stopped under load and started
// again. Each client behaves like a gateway spool: it keeps every batch until its
// telemetry_ack, drops it on the ack (so an ack without a commit would lose points),
// and resends what is unacked after reconnecting. Expectations: /readyz fails while
// the database is down, the backend never crashes, readiness comes back by itself,
// and at the end every point is stored exactly once (rows == points sent).

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/e2e/harness.hpp"
#include "tests/e2e/raw_client.hpp"
#include "tests/support/services.hpp"

namespace agenthost::e2e {
namespace {

constexpr int kAgents = 4;
constexpr int kBatches = 150;      // per agent
constexpr int kPoints = 40;        // per batch
constexpr int kBeforeOutage = 50;  // batches per agent sent (and acked) before the stop
constexpr std::size_t kWindow = 8;

int readyz(const Backend& b) {
    std::string code;
    run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
            std::to_string(b.ports().health) + "/readyz",
        &code);
    return std::atoi(code.c_str());
}

std::int64_t count_rows(const std::string& url) {
    pqxx::connection c(url);
    pqxx::nontransaction t(c);
    return t.exec("SELECT count(*) FROM telemetry")[0][0].as<std::int64_t>();
}

// One simulated gateway: a spool of batches, a send window, reconnect on close.
class SpoolClient {
public:
    SpoolClient(Workspace& ws, const Backend& backend, std::string agent,
                const std::atomic<bool>& released)
        : ws_(ws), backend_(backend), agent_(std::move(agent)), released_(released) {
        key_ = derive_key(read_file(ws_.master_key()), agent_);
        for (int b = 0; b < kBatches; ++b) {
            json::array points;
            for (int p = 0; p < kPoints; ++p) {
                points.push_back(json::object{{"metric", "load"},
                                              {"ts", 1'000'000 + b * kPoints + p},
                                              {"value", b + p * 0.5},
                                              {"labels", json::object{{"core", "0"}}}});
            }
            spool_[b] = std::move(points);
        }
    }

    // Runs until the spool is empty or `deadline`; returns true when empty.
    bool run_until_empty(std::chrono::steady_clock::time_point deadline) {
        while (std::chrono::steady_clock::now() < deadline) {
            if (empty()) {
                return true;
            }
            try {
                session(deadline);
            } catch (const std::exception&) {
                // connect refused or TLS/WS failure: back off and retry
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // reconnect backoff
            ++reconnects;
        }
        return empty();
    }

    bool empty() {
        std::lock_guard lk(mu_);
        return spool_.empty();
    }

    std::atomic<int> acks{0};
    std::atomic<int> reconnects{0};

private:
    void session(std::chrono::steady_clock::time_point deadline) {
        RawAgentClient c(ws_.pki("ca.crt"), ws_.pki("agents/" + agent_ + ".crt"),
                         ws_.pki("agents/" + agent_ + ".key"));
        c.connect(backend_.ports().agents);
        json::object hello{{"agent_version", "raw-1.0"},
                           {"hostname", "raw"},
                           {"platform", "linux-x86_64"},
                           {"capabilities", json::array{}},
                           {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
        c.send_text(sign_frame(key_, "k1", envelope("hello", agent_, hello)));
        auto w = c.read(std::chrono::seconds(10));
        if (!w || w->close_code) {
            return;
        }
        std::map<std::string, int> inflight;  // this session's unacked sends
        while (std::chrono::steady_clock::now() < deadline) {
            {
                std::lock_guard lk(mu_);
                if (spool_.empty()) {
                    return;
                }
                for (const auto& [n, points] : spool_) {
                    if (inflight.size() >= kWindow || (n >= kBeforeOutage && !released_)) {
                        break;
                    }
                    const std::string id = agent_ + "-b" + std::to_string(n);
                    if (inflight.count(id) != 0) {
                        continue;
                    }
                    c.send_text(
                        sign_frame(key_, "k1",
                                   envelope("telemetry", agent_,
                                            json::object{{"batch_id", id}, {"points", points}})));
                    inflight[id] = n;
                }
            }
            if (inflight.empty()) {
                // Phase one done: hold the session until the test releases phase two.
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                continue;
            }
            auto f = c.read(std::chrono::seconds(5));
            if (!f) {
                return;  // no answer: reconnect and resend (a live gateway would too)
            }
            if (f->close_code) {
                return;  // 1013 while the store is down: reconnect and resend
            }
            auto p = frame_payload(f->text);
            if (json::value_to<std::string>(p.at("type")) != "telemetry_ack") {
                continue;
            }
            const auto id = json::value_to<std::string>(p.at("body").at("batch_id"));
            std::lock_guard lk(mu_);
            if (auto it = inflight.find(id); it != inflight.end()) {
                spool_.erase(it->second);  // acked: forgotten for good, like the real spool
                inflight.erase(it);
                ++acks;
            }
        }
    }

    Workspace& ws_;
    const Backend& backend_;
    std::string agent_;
    const std::atomic<bool>& released_;
    std::string key_;
    std::mutex mu_;
    std::map<int, json::array> spool_;
};

TEST(TelemetryPostgresFault, DatabaseStoppedUnderLoadLosesNothingAndAcksOnlyCommits) {
    testsvc::PostgresServer pg;
    std::vector<std::string> agents;
    for (int i = 0; i < kAgents; ++i) {
        agents.push_back("gw-0" + std::to_string(i + 1));
    }
    Workspace ws(agents);
    BackendOptions o;
    o.telemetry_plugin = "telemetry_postgres: { enabled: true, config: { url: \"" + pg.url() +
                         "\", health_interval_ms: 200, connect_timeout_ms: 2000,"
                         " acquire_timeout_ms: 500, start_timeout_ms: 20000 } }";
    Backend backend(ws, o);
    backend.start();
    ASSERT_EQ(readyz(backend), 200);

    std::atomic<bool> released{false};
    std::vector<std::unique_ptr<SpoolClient>> clients;
    for (const auto& a : agents) {
        clients.push_back(std::make_unique<SpoolClient>(ws, backend, a, released));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (auto& c : clients) {
        threads.emplace_back([&, c = c.get()] {
            if (c->run_until_empty(deadline)) {
                ++finished;
            }
        });
    }
    auto sum = [&](auto member) {
        int n = 0;
        for (auto& c : clients) {
            n += ((*c).*member).load();
        }
        return n;
    };

    // Phase one: every client's first batches stored and acked.
    ASSERT_TRUE(wait_until([&] { return sum(&SpoolClient::acks) == kAgents * kBeforeOutage; },
                           std::chrono::seconds(60)));
    pg.stop();
    released = true;  // phase two under load while the database is down
    EXPECT_TRUE(wait_until([&] { return readyz(backend) == 503; }, std::chrono::seconds(20)))
        << "readyz never failed";
    const int reconnects_at_stop = sum(&SpoolClient::reconnects);
    // Every client gets refused (1013) and reconnects a few times: nothing may be acked
    // meanwhile, since nothing can commit.
    EXPECT_TRUE(wait_until(
        [&] { return sum(&SpoolClient::reconnects) >= reconnects_at_stop + 2 * kAgents; },
        std::chrono::seconds(30)));
    EXPECT_EQ(sum(&SpoolClient::acks), kAgents * kBeforeOutage) << "ack without a commit";
    EXPECT_EQ(readyz(backend), 503);
    EXPECT_TRUE(backend.process().running());

    pg.start();
    EXPECT_TRUE(wait_until([&] { return readyz(backend) == 200; }, std::chrono::seconds(30)))
        << "readyz never recovered";
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(finished.load(), kAgents) << "some spools never drained";
    EXPECT_TRUE(backend.process().running());
    // Exactly once: every point sent is stored, none twice (the key forbids twice; an
    // ack without a commit would show as a missing row, the acked batch being gone).
    EXPECT_EQ(count_rows(pg.url()), static_cast<std::int64_t>(kAgents) * kBatches * kPoints);
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
