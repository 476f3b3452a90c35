// The race from issue 4: two real backend processes share one PostgreSQL database
// through identity_postgres; 50 clients written from PROTOCOL.md (raw_client) send
// `hello` for the same agent_id at the same moment, half to each backend. Exactly
// one session opens cluster-wide, the other 49 are closed with 4409, and every one
// of the 50 outcomes is in the audit trail of the backend that handled it.

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/e2e/harness.hpp"
#include "tests/e2e/raw_client.hpp"
#include "tests/support/services.hpp"

namespace agenthost::e2e {
namespace {

constexpr int kClients = 50;
const std::string kAgent = "gw-01";

std::string hello_frame(Workspace& ws) {
    json::object body{{"agent_version", "raw-1.0"},
                      {"hostname", "raw"},
                      {"platform", "linux-x86_64"},
                      {"capabilities", json::array{"builtin.echo"}},
                      {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
    return sign_frame(derive_key(read_file(ws.master_key()), kAgent), "k1",
                      envelope("hello", kAgent, body));
}

BackendOptions postgres_backend(const std::string& name, const std::string& url) {
    BackendOptions o;
    o.name = name;
    o.identity_plugin = "identity_postgres: { enabled: true, config: { url: \"" + url +
                        "\", pool_size: 4, acquire_timeout_ms: 20000 } }";
    return o;
}

TEST(IdentityPostgresRace, FiftyHellosTwoBackendsOneSession) {
    const std::string url = testsvc::fresh_postgres_database();
    Workspace ws({kAgent});
    Backend a(ws, postgres_backend("backend-a", url));
    Backend b(ws, postgres_backend("backend-b", url));
    a.start();  // the first start applies the migrations...
    b.start();  // ...the second finds them recorded

    // Connect everyone first (TLS + upgrade), then release all hellos together.
    std::vector<std::unique_ptr<RawAgentClient>> clients;
    for (int i = 0; i < kClients; ++i) {
        auto c =
            std::make_unique<RawAgentClient>(ws.pki("ca.crt"), ws.pki("agents/" + kAgent + ".crt"),
                                             ws.pki("agents/" + kAgent + ".key"));
        c->connect(i % 2 == 0 ? a.ports().agents : b.ports().agents);
        clients.push_back(std::move(c));
    }
    std::vector<std::string> frames;
    for (int i = 0; i < kClients; ++i) {
        frames.push_back(hello_frame(ws));
    }

    std::atomic<bool> go{false};
    std::atomic<int> ready{0};
    std::atomic<int> welcomed{0};
    std::atomic<int> closed_4409{0};
    std::mutex mu;
    std::vector<std::string> other;
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            ++ready;
            while (!go.load()) {
                std::this_thread::yield();
            }
            clients[static_cast<std::size_t>(i)]->send_text(frames[static_cast<std::size_t>(i)]);
            auto& client = *clients[static_cast<std::size_t>(i)];
            auto f = client.read(60s);
            // A refused hello gets a fatal `error` frame naming 4409, then the close.
            std::string type;
            std::int64_t code = 0;
            if (f && !f->close_code) {
                auto p = frame_payload(f->text);
                type = json::value_to<std::string>(p.at("type"));
                if (type == "error") {
                    code = p.at("body").at("code").to_number<std::int64_t>();
                    f->close_code = client.wait_close(60s);
                }
            }
            std::lock_guard lock(mu);
            if (!f) {
                other.push_back("client " + std::to_string(i) + ": no answer");
            } else if (f->close_code == 4409 && (type.empty() || code == 4409)) {
                ++closed_4409;
            } else if (!f->close_code && type == "welcome") {
                ++welcomed;
            } else {
                other.push_back(
                    "client " + std::to_string(i) + ": " +
                    (f->close_code ? "close " + std::to_string(*f->close_code) : f->text));
            }
        });
    }
    ASSERT_TRUE(wait_until([&] { return ready.load() == kClients; }, 30s));
    go = true;
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& o : other) {
        ADD_FAILURE() << o;
    }
    EXPECT_EQ(welcomed.load(), 1);
    EXPECT_EQ(closed_4409.load(), kClients - 1);

    // All 50 outcomes audited, across the two backends' trails.
    auto count_both = [&](const std::string& action) {
        return count_audit(a.audit_log(), {{"action", action}, {"target", kAgent}}) +
               count_audit(b.audit_log(), {{"action", action}, {"target", kAgent}});
    };
    EXPECT_TRUE(wait_until(
        [&] {
            return count_both("session.open") == 1 &&
                   count_both("session.duplicate") == static_cast<std::size_t>(kClients - 1);
        },
        30s))
        << "session.open " << count_both("session.open") << ", session.duplicate "
        << count_both("session.duplicate");

    // Cluster-wide view: both backends see the one live session.
    EXPECT_EQ(a.agent_state(kAgent), "online");
    EXPECT_EQ(b.agent_state(kAgent), "online");

    clients.clear();
    a.stop_graceful();
    b.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
