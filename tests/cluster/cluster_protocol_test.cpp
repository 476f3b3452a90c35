// The cluster behaves like one host at the protocol level (real backends sharing
// PostgreSQL and Redis, clients written from PROTOCOL.md dialing each host directly):
// a frame captured on host 1 and replayed to host 2 is refused with 4410, and two
// hosts receiving a hello for the same agent at the same moment open one session and
// close the other with 4409.

#include <gtest/gtest.h>

#include <latch>
#include <thread>

#include "tests/cluster/cluster.hpp"
#include "tests/e2e/raw_client.hpp"

namespace agenthost::e2e {
namespace {

class ClusterProtocol : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!missing_cluster_plugins().empty()) {
            return;  // each test reports it
        }
        cluster_ = new Cluster({.backends = 3, .agents = agent_ids(12)});
        cluster_->start();
    }
    static void TearDownTestSuite() {
        delete cluster_;
        cluster_ = nullptr;
    }
    void SetUp() override {
        ASSERT_TRUE(missing_cluster_plugins().empty())
            << "cluster plugins not built: " << missing_cluster_plugins();
        ASSERT_NE(cluster_, nullptr);
    }

    std::unique_ptr<RawAgentClient> connect(const std::string& agent, std::size_t host) {
        auto& ws = cluster_->ws();
        auto c =
            std::make_unique<RawAgentClient>(ws.pki("ca.crt"), ws.pki("agents/" + agent + ".crt"),
                                             ws.pki("agents/" + agent + ".key"));
        c->connect(cluster_->backend(host).ports().agents);
        return c;
    }
    std::string key(const std::string& agent) {
        return derive_key(read_file(cluster_->ws().master_key()), agent);
    }
    std::string hello(const std::string& agent) {
        json::object body{{"agent_version", "raw-1.0"},
                          {"hostname", "raw"},
                          {"platform", "linux-x86_64"},
                          {"capabilities", json::array{"builtin.echo"}},
                          {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
        return sign_frame(key(agent), "k1", envelope("hello", agent, body));
    }
    std::string telemetry(const std::string& agent, const std::string& batch) {
        auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        json::array points{json::object{{"metric", "cpu.usage"}, {"ts", now}, {"value", 0.5}}};
        return sign_frame(
            key(agent), "k1",
            envelope("telemetry", agent, json::object{{"batch_id", batch}, {"points", points}}));
    }
    // Reads until a welcome ("welcome") or a close ("close:<code>"); error frames skipped.
    static std::string outcome(RawAgentClient& c) {
        for (int i = 0; i < 5; ++i) {
            auto f = c.read(15s);
            if (!f) {
                return "timeout";
            }
            if (f->close_code) {
                return "close:" + std::to_string(*f->close_code);
            }
            auto p = frame_payload(f->text);
            auto type = json::value_to<std::string>(p.at("type"));
            if (type == "welcome") {
                return "welcome";
            }
        }
        return "no outcome";
    }
    // A session on `host`, retried while the agent's previous lease is released.
    std::unique_ptr<RawAgentClient> session(const std::string& agent, std::size_t host) {
        std::unique_ptr<RawAgentClient> c;
        bool ok = wait_until(
            [&] {
                try {
                    c = connect(agent, host);
                    c->send_text(hello(agent));
                    return outcome(*c) == "welcome";
                } catch (const std::exception&) {
                    return false;  // e.g. the upgrade refused while the host is busy
                }
            },
            30s, 200ms);
        EXPECT_TRUE(ok) << "no session for " << agent << " on host " << host;
        return c;
    }

    static Cluster* cluster_;
};

Cluster* ClusterProtocol::cluster_ = nullptr;

TEST_F(ClusterProtocol, FrameCapturedOnHostOneIsRefusedOnHostTwo) {
    std::string frame = telemetry("gw-01", "00000000-0000-4000-8000-0000000000a1");
    {
        auto c1 = session("gw-01", 0);
        c1->send_text(frame);
        auto ack = c1->read(10s);
        ASSERT_TRUE(ack && !ack->close_code) << "host 1 did not accept the original";
        EXPECT_EQ(json::value_to<std::string>(frame_payload(ack->text).at("type")),
                  "telemetry_ack")
            << json::serialize(frame_payload(ack->text));
    }  // the session ends (transport closed): its lease is released
    auto c2 = session("gw-01", 1);
    EXPECT_EQ(cluster_->agent_host("gw-01"), cluster_->host_id(1));
    c2->send_text(frame);  // the captured frame, byte for byte, to another host
    EXPECT_EQ(c2->wait_close(10s), 4410);
    EXPECT_GE(count_audit(cluster_->backend(1).audit_log(), {{"target", "gw-01"}}), 1u);
}

// The identity constraint alone (identity_postgres; per-host memory queue and replay
// cache), so the race is exercised even where the Redis plugins are not available.
class ClusterIdentity : public ClusterProtocol {
protected:
    static void SetUpTestSuite() {
        if (!have_plugin("identity_postgres")) {
            return;
        }
        cluster_ = new Cluster({.backends = 3, .agents = agent_ids(12), .redis = false});
        cluster_->start();
    }
    static void TearDownTestSuite() { ClusterProtocol::TearDownTestSuite(); }
    void SetUp() override {
        ASSERT_TRUE(have_plugin("identity_postgres")) << "identity_postgres not built";
        ASSERT_NE(cluster_, nullptr);
    }
};

TEST_F(ClusterIdentity, SimultaneousHellosOnTwoHostsOpenOneSession) {
    // Several agents, several host pairs: the race has one winner every time.
    for (int round = 0; round < 5; ++round) {
        const std::string agent = agent_ids(12)[2 + round];
        const std::size_t h1 = round % 3;
        const std::size_t h2 = (round + 1) % 3;
        auto a = connect(agent, h1);
        auto b = connect(agent, h2);
        const std::string hello_a = hello(agent);
        const std::string hello_b = hello(agent);
        std::latch go(2);
        std::string out_a;
        std::string out_b;
        std::thread ta([&] {
            go.arrive_and_wait();
            a->send_text(hello_a);
            out_a = outcome(*a);
        });
        std::thread tb([&] {
            go.arrive_and_wait();
            b->send_text(hello_b);
            out_b = outcome(*b);
        });
        ta.join();
        tb.join();
        const int welcomes = (out_a == "welcome") + (out_b == "welcome");
        const int dup = (out_a == "close:4409") + (out_b == "close:4409");
        EXPECT_EQ(welcomes, 1) << agent << ": " << out_a << " / " << out_b;
        EXPECT_EQ(dup, 1) << agent << ": " << out_a << " / " << out_b;
        const std::size_t winner = out_a == "welcome" ? h1 : h2;
        EXPECT_EQ(cluster_->agent_host(agent), cluster_->host_id(winner)) << agent;
    }
}

}  // namespace
}  // namespace agenthost::e2e
