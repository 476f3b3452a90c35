#pragma once
// One backend agent session wired to fakes: a manual scheduler that doubles as the
// connection's strand, recording capability plugins, and helpers that build signed
// frames as gateway gw-01 would and decode what the backend sent back.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "kernel/backend/agent_session.hpp"
#include "kernel/crypto/keyring.hpp"
#include "kernel/proto/codec.hpp"
#include "kernel/util/encoding.hpp"
#include "kernel/util/ids.hpp"
#include "tests/backend/fake_capabilities.hpp"
#include "tests/support/fake_registries.hpp"

namespace agenthost::testing {

namespace json = boost::json;

inline std::string test_master_key() {
    std::string k;
    for (int i = 0; i < 32; ++i) {
        k.push_back(static_cast<char>(i));
    }
    return k;
}

class SessionFixture : public ::testing::Test {
protected:
    static constexpr const char* kAgent = "gw-01";
    static constexpr const char* kFingerprint =
        "1111111111111111111111111111111111111111111111111111111111111111";

    // `ticked`: renewals go through a 1 s RenewalTicker on the fake scheduler.
    explicit SessionFixture(bool ticked = false) {
        if (ticked) {
            ticker = std::make_unique<backend::RenewalTicker>(sched, std::chrono::seconds(1));
        }
        keys_ = crypto::Keyring::from_masters({{"k1", test_master_key()}});
        key_ = crypto::derive_agent_key(test_master_key(), kAgent);
        auto env = std::make_shared<backend::SessionEnv>();
        env->config.host_id = "backend-1";
        env->config.max_batch_points = 3;
        env->config.heartbeat_s = 30;
        env->keys = &keys_;
        env->identity = &identity;
        env->replay = &replay;
        env->queue = &queue;
        env->telemetry = &telemetry;
        env->audit = &audit;
        env->scheduler = &sched;
        env->clock = &clock;
        env->logger = &logger;
        env->metrics = &metrics;
        env->registry = &registry;
        env->renewals = ticker.get();
        // audit.fail_closed gate: always admits unless a test clears audit_ok.
        env->can_audit = [this](std::string_view action) {
            audit_asked.emplace_back(action);
            return audit_ok;
        };
        env_ = env;
        net::PeerInfo peer{kAgent, kFingerprint, "192.0.2.7:50000"};
        conn = std::make_shared<FakeConnection>(sched, peer);
        handler = backend::make_agent_session(env_, peer);
        handler->on_open(conn);
    }

    std::string frame(std::string_view type, const json::object& body,
                      std::string_view agent = kAgent, std::string nonce = {}) {
        return proto::encode(type, agent, body, "k1", key_, clock.now_unix_ms(), util::uuid_v4(),
                             std::move(nonce));
    }
    static json::object hello_body() {
        return json::object{{"agent_version", "1.0.0"},
                            {"hostname", "gw-01.example"},
                            {"platform", "linux-x86_64"},
                            {"capabilities", json::array{"builtin.echo"}},
                            {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
    }
    void receive(const std::string& text) {
        handler->on_message(text);
        sched.run_until_idle();
    }
    // Sends a valid hello and checks the session opened.
    void open_session() {
        receive(frame("hello", hello_body()));
        ASSERT_FALSE(conn->close_code().has_value());
        ASSERT_EQ(sent_types(), std::vector<std::string>{"welcome"});
    }

    static json::object payload_of(const std::string& jws) {
        auto first = jws.find('.');
        auto second = jws.find('.', first + 1);
        auto raw = util::base64url_decode(jws.substr(first + 1, second - first - 1));
        EXPECT_TRUE(raw.has_value());
        return json::parse(raw.value_or("{}")).as_object();
    }
    std::vector<json::object> sent_payloads() const {
        std::vector<json::object> out;
        for (const auto& f : conn->sent()) {
            out.push_back(payload_of(f));
        }
        return out;
    }
    std::vector<std::string> sent_types() const {
        std::vector<std::string> out;
        for (const auto& p : sent_payloads()) {
            out.emplace_back(p.at("type").as_string());
        }
        return out;
    }
    json::object last_body() const {
        auto p = sent_payloads();
        EXPECT_FALSE(p.empty());
        return p.empty() ? json::object{} : p.back().at("body").as_object();
    }
    std::size_t audits(std::string_view action) const {
        return audit.events_with_action(action).size();
    }

    FakeClock clock;
    FakeScheduler sched{clock};
    FakeLogger logger;
    FakeMetrics metrics;
    FakeAuditSink audit;
    FakeIdentity identity;
    FakeReplay replay;
    FakeQueue queue;
    FakeTelemetry telemetry;
    backend::SessionRegistry registry;
    std::unique_ptr<backend::RenewalTicker> ticker;
    bool audit_ok = true;
    std::vector<std::string> audit_asked;
    crypto::Keyring keys_ = crypto::Keyring::from_masters({});
    std::string key_;
    std::shared_ptr<const backend::SessionEnv> env_;
    std::shared_ptr<FakeConnection> conn;
    std::unique_ptr<net::ConnectionHandler> handler;
};

}  // namespace agenthost::testing
