// 500 agents from one agentsim process against one backend (embedded profile):
// every agent registers exactly once, and one command per agent is answered exactly
// once (delivered, executed once by its agent, result stored: state succeeded).
// Correctness at concurrency only — nothing here asserts a time.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/e2e/harness.hpp"

namespace agenthost::e2e {
namespace {

constexpr std::size_t kAgents = 500;
const std::string kPrefix = "scale-";

std::string agentsim_bin() {
    return env_or("AGENTHOST_BINARY_DIR", "build") + "/bin/agentsim";
}

json::object read_json_object(const std::string& path) {
    boost::system::error_code ec;
    auto v = json::parse(read_file(path), ec);
    return !ec && v.is_object() ? v.as_object() : json::object{};
}

std::uint64_t counter(const json::object& o, std::initializer_list<const char*> path) {
    const json::value* v = nullptr;
    const json::object* cur = &o;
    for (const char* key : path) {
        v = cur->if_contains(key);
        if (v == nullptr) {
            return 0;
        }
        if (v->is_object()) {
            cur = &v->as_object();
        }
    }
    return v != nullptr && v->is_number() ? v->to_number<std::uint64_t>() : 0;
}

std::string agent_id(std::size_t i) {
    char digits[16];
    std::snprintf(digits, sizeof(digits), "%06zu", i);
    return kPrefix + digits;
}

// Enqueues one builtin.echo per agent in one curl run (one kept-alive connection);
// returns the command ids by agent.
std::map<std::string, std::string> enqueue_all(Workspace& ws, const Backend& backend) {
    std::ostringstream cfg;
    for (std::size_t i = 0; i < kAgents; ++i) {
        if (i > 0) {
            cfg << "next\n";
        }
        cfg << "url = \"https://127.0.0.1:" << backend.ports().admin << "/api/v1/agents/"
            << agent_id(i) << "/commands\"\n"
            << "request = \"POST\"\n"
            << "cacert = \"" << ws.pki("ca.crt") << "\"\n"
            << "header = \"Authorization: Bearer " << ws.token() << "\"\n"
            << "header = \"Content-Type: application/json\"\n"
            << "data = \"{\\\"name\\\":\\\"builtin.echo\\\",\\\"args\\\":{\\\"text\\\":\\\""
            << agent_id(i) << "\\\"}}\"\n"
            << "write-out = \"\\n\"\n"
            << "silent\n";
    }
    std::string cfg_path = ws.dir() + "/enqueue.curl";
    write_file(cfg_path, cfg.str());
    std::string out;
    EXPECT_EQ(run("curl -K " + cfg_path, &out), 0);
    std::map<std::string, std::string> ids;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        boost::system::error_code ec;
        auto v = json::parse(line, ec);
        if (ec || !v.is_object() || !v.as_object().contains("command_id")) {
            ADD_FAILURE() << "enqueue answered: " << line;
            continue;
        }
        auto id = json::value_to<std::string>(v.at("command_id"));
        ids.emplace(id, id);
    }
    return ids;
}

TEST(Scale, FiveHundredAgentsRegisterOnceAndAnswerEveryCommandOnce) {
    Workspace ws({});
    BackendOptions bo;
    bo.queue_max_depth = 100;
    // Admission guards opened wide: this test is about correctness at concurrency (each
    // agent registers once, no reconnects), not about the handshake rate limit.
    bo.extra_yaml =
        "limits: { max_connections: 2000, write_queue: 1024, handshake_rate: 100000,"
        " handshake_burst: 100000, max_connections_per_ip: 100000 }\n";
    Backend backend(ws, bo);
    backend.start();

    const std::string status = ws.dir() + "/agentsim.status.json";
    const std::string report = ws.dir() + "/agentsim.json";
    Process sim({agentsim_bin(), "--port", std::to_string(backend.ports().agents), "--ca-cert",
                 ws.pki("ca.crt"), "--ca-key", ws.pki("ca.key"), "--master", ws.master_key(),
                 "--agents", std::to_string(kAgents), "--prefix", kPrefix, "--threads", "2",
                 "--max-pending", "64", "--status-file", status, "--json", report, "--quiet"},
                ws.dir() + "/agentsim.log");

    // Every agent welcomed (as agentsim counts), then listed online exactly once.
    ASSERT_TRUE(wait_until(
        [&] {
            auto s = read_json_object(status);
            return counter(s, {"welcomed"}) >= kAgents || !sim.running();
        },
        120s, 100ms))
        << sim.log();
    ASSERT_TRUE(sim.running()) << sim.log();
    std::map<std::string, int> listed;
    ASSERT_TRUE(wait_until(
        [&] {
            listed.clear();
            auto v = backend.api_json("GET", "/api/v1/agents");
            if (!v.is_array()) {
                return false;
            }
            std::size_t online = 0;
            for (const auto& a : v.as_array()) {
                auto id = json::value_to<std::string>(a.at("agent_id"));
                if (id.rfind(kPrefix, 0) == 0) {
                    ++listed[id];
                    online += json::value_to<std::string>(a.at("state")) == "online" ? 1 : 0;
                }
            }
            return online == kAgents;
        },
        60s, 200ms));
    ASSERT_EQ(listed.size(), kAgents);
    for (const auto& [id, n] : listed) {
        EXPECT_EQ(n, 1) << id << " listed " << n << " times";
    }

    // One command per agent; every one reaches succeeded.
    auto ids = enqueue_all(ws, backend);
    ASSERT_EQ(ids.size(), kAgents);
    std::set<std::string> succeeded;
    bool all = wait_until(
        [&] {
            succeeded.clear();
            auto v = backend.api_json("GET", "/api/v1/commands?state=succeeded&limit=1000");
            if (!v.is_array()) {
                return false;
            }
            for (const auto& c : v.as_array()) {
                auto id = json::value_to<std::string>(c.at("command_id"));
                if (ids.count(id) != 0) {
                    EXPECT_TRUE(succeeded.insert(id).second) << id << " listed twice";
                }
            }
            return succeeded.size() == kAgents;
        },
        120s, 250ms);
    ASSERT_TRUE(all) << succeeded.size() << " of " << kAgents << " succeeded";

    // agentsim's own account: each command executed once, every delivery answered,
    // every result acked by the backend, no session lost, every frame verified.
    ASSERT_TRUE(wait_until(
        [&] { return counter(read_json_object(status), {"commands", "result_acks"}) >= kAgents; },
        60s, 100ms));
    sim.signal(SIGTERM);
    auto rc = sim.wait(60s);
    ASSERT_TRUE(rc.has_value()) << sim.log();
    EXPECT_EQ(*rc, 0) << sim.log();
    auto r = read_json_object(report);
    ASSERT_FALSE(r.empty()) << sim.log();
    EXPECT_EQ(counter(r, {"totals", "welcomed"}), kAgents);
    EXPECT_EQ(counter(r, {"totals", "commands", "unique"}), kAgents);
    EXPECT_EQ(counter(r, {"totals", "commands", "results_sent"}),
              counter(r, {"totals", "commands", "received"}));
    EXPECT_EQ(counter(r, {"totals", "commands", "result_acks"}),
              counter(r, {"totals", "commands", "results_sent"}));
    EXPECT_EQ(counter(r, {"totals", "errors", "tcp"}), 0u);
    EXPECT_EQ(counter(r, {"totals", "errors", "tls"}), 0u);
    EXPECT_EQ(counter(r, {"totals", "errors", "upgrade"}), 0u);
    EXPECT_EQ(counter(r, {"totals", "errors", "error_frames"}), 0u);
    EXPECT_EQ(counter(r, {"totals", "errors", "verify_failures"}), 0u);
    EXPECT_TRUE(r.at("totals").at("closes").as_object().empty())
        << "sessions closed during the run: " << json::serialize(r.at("totals").at("closes"));

    // Each agent's session was opened once (no reconnect, no duplicate).
    std::size_t opened = count_audit(backend.audit_log(), {{"action", "session.open"}});
    EXPECT_EQ(opened, kAgents);
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
