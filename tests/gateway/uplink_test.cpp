// Uplink session logic with a fake connection: signed hello, nothing before welcome,
// spool streamed after welcome and dropped on ack, commands acked then handed on,
// and the receiver checks (bad MAC, replayed nonce, order) closing the session.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "kernel/gateway/uplink.hpp"
#include "kernel/proto/messages.hpp"
#include "kernel/util/ids.hpp"
#include "tests/gateway/support/fake_context.hpp"
#include "tests/gateway/support/temp_dir.hpp"

namespace agenthost::gateway {
namespace {

namespace json = boost::json;
using testing::wait_until;

constexpr const char* kAgent = "gw-01";
constexpr const char* kKid = "k1";

class FakeConnection final : public net::Connection {
public:
    const net::PeerInfo& peer() const noexcept override { return peer_; }
    bool send(std::string text) override {
        std::lock_guard lk(mu_);
        if (closed_) {
            return false;
        }
        sent_.push_back(std::move(text));
        return true;
    }
    void close(std::uint16_t code, std::string) override {
        std::lock_guard lk(mu_);
        if (!closed_) {
            closed_ = true;
            code_ = code;
        }
    }
    void post(std::function<void()> fn) override { fn(); }
    std::uint64_t id() const noexcept override { return 1; }

    std::vector<std::string> sent() const {
        std::lock_guard lk(mu_);
        return sent_;
    }
    std::optional<std::uint16_t> close_code() const {
        std::lock_guard lk(mu_);
        return closed_ ? std::optional<std::uint16_t>(code_) : std::nullopt;
    }

private:
    net::PeerInfo peer_{"backend", "", "127.0.0.1:1"};
    mutable std::mutex mu_;
    std::vector<std::string> sent_;
    bool closed_ = false;
    std::uint16_t code_ = 0;
};

class UplinkTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = GatewayStore::open(dir_.file("gw.db"), StoreOptions{}, ctx_.clk.now_unix_ms());
        ASSERT_TRUE(s.ok());
        store_ = std::move(s.value());
        UplinkOptions o;
        o.agent_id = kAgent;
        o.kid = kKid;
        o.key = key_;
        o.agent_version = "1.2.3";
        o.hostname = "host";
        o.platform = "linux-x86_64";
        uplink_ = std::make_unique<Uplink>(
            UplinkDeps{ctx_.sched, ctx_.pool, ctx_.clk, ctx_.log, ctx_.metric, *store_, nullptr,
                       &ctx_.aud},
            o,
            std::vector<std::string>{"builtin.echo"}, [this](sdk::CommandRequest r) {
                std::lock_guard lk(mu_);
                commands_.push_back(std::move(r));
            });
        handler_ = uplink_->make_handler([this](std::uint16_t c) { closed_code_ = c; },
                                         [this] { ++welcomes_; });
        conn_ = std::make_shared<FakeConnection>();
    }

    // What the backend would see: verified envelopes of everything sent so far.
    std::vector<proto::Envelope> sent() {
        auto keys = crypto::Keyring::from_agent_key(kKid, kAgent, key_);
        std::vector<proto::Envelope> out;
        for (const auto& f : conn_->sent()) {
            proto::VerifyOptions vo;
            vo.now_ms = ctx_.clk.now_unix_ms();
            vo.expected_agent = kAgent;
            auto v = proto::verify(f, keys, vo);
            EXPECT_TRUE(v.ok()) << v.rejection.reason;
            if (v.ok()) {
                out.push_back(*v.envelope);
            }
        }
        return out;
    }
    std::size_t sent_of(std::string_view type) {
        std::size_t n = 0;
        for (const auto& e : sent()) {
            n += e.type == type ? 1 : 0;
        }
        return n;
    }
    std::string frame(std::string_view type, const json::object& body, std::string nonce = {}) {
        return proto::encode(type, kAgent, body, kKid, key_, ctx_.clk.now_unix_ms(), {},
                             std::move(nonce));
    }
    json::object welcome_body() {
        proto::WelcomeBody w;
        w.session_id = util::uuid_v4();
        w.host_id = "backend-1";
        w.server_time = ctx_.clk.now_unix_ms();
        w.heartbeat_s = 15;
        w.max_batch_points = 7;
        return w.to_json();
    }
    void open_and_welcome() {
        handler_->on_open(conn_);
        handler_->on_message(frame("welcome", welcome_body()));
        ASSERT_EQ(welcomes_, 1);
    }

    testing::TempDir dir_;
    testing::FakeContext ctx_;
    std::string key_ = std::string(32, '\x07');
    std::unique_ptr<GatewayStore> store_;
    std::unique_ptr<Uplink> uplink_;
    std::unique_ptr<net::ConnectionHandler> handler_;
    std::shared_ptr<FakeConnection> conn_;
    std::mutex mu_;
    std::vector<sdk::CommandRequest> commands_;
    std::atomic<int> welcomes_{0};
    std::atomic<int> closed_code_{0};
};

TEST_F(UplinkTest, SendsASignedHelloOnOpen) {
    ASSERT_TRUE(store_->finish("c1", "x", R"({"command_id":"c1"})", 1).ok());
    handler_->on_open(conn_);
    auto env = sent();
    ASSERT_EQ(env.size(), 1u);
    EXPECT_EQ(env[0].type, "hello");
    EXPECT_EQ(env[0].kid, kKid);
    auto hello = proto::HelloBody::parse(env[0].body);
    ASSERT_TRUE(hello.ok()) << hello.status().message();
    EXPECT_EQ(hello->capabilities, std::vector<std::string>{"builtin.echo"});
    EXPECT_EQ(hello->spool_results, 1);
    EXPECT_EQ(hello->agent_version, "1.2.3");
    EXPECT_TRUE(uplink_->connected());
    EXPECT_FALSE(uplink_->welcomed());
}

TEST_F(UplinkTest, StreamsTheSpoolAfterWelcomeAndDropsAckedItems) {
    proto::ResultBody r;
    r.command_id = util::uuid_v4();
    r.status = sdk::CommandState::succeeded;
    r.exit_code = 0;
    r.started_at = r.finished_at = 1;
    ASSERT_TRUE(store_->finish(r.command_id, "x", json::serialize(r.to_json()), 1).ok());
    handler_->on_open(conn_);
    uplink_->spool_changed();  // not welcomed yet: nothing may be sent
    EXPECT_EQ(conn_->sent().size(), 1u);
    handler_->on_message(frame("welcome", welcome_body()));
    EXPECT_TRUE(uplink_->welcomed());
    EXPECT_EQ(uplink_->max_batch_points(), 7u);
    EXPECT_EQ(ctx_.metric.gauge_value("agenthost_gateway_connected"), 1.0);
    ASSERT_TRUE(wait_until([&] { return sent_of("result") == 1; }));
    auto results = sent();
    EXPECT_EQ(results.back().body.at("command_id"), r.command_id.c_str());
    // A telemetry batch spooled later is sent too.
    ASSERT_TRUE(store_->spool_telemetry("b1", R"({"batch_id":"b1","points":[]})").ok());
    uplink_->spool_changed();
    ASSERT_TRUE(wait_until([&] { return sent_of("telemetry") == 1; }));
    handler_->on_message(frame("result_ack", proto::ResultAckBody{r.command_id}.to_json()));
    proto::TelemetryAckBody ta;
    ta.batch_id = "b1";
    handler_->on_message(frame("telemetry_ack", ta.to_json()));
    ASSERT_TRUE(wait_until(
        [&] { return store_->counts().results == 0 && store_->counts().telemetry == 0; }));
    EXPECT_EQ(sent_of("result"), 1u);  // acked items are not sent again
}

TEST_F(UplinkTest, UnackedItemsAreResentOnTheNextSession) {
    ASSERT_TRUE(store_->finish("c1", "x", R"({"command_id":"c1"})", 1).ok());
    open_and_welcome();
    ASSERT_TRUE(wait_until([&] { return sent_of("result") == 1; }));
    handler_->on_close(1006);
    EXPECT_EQ(closed_code_, 1006);
    EXPECT_FALSE(uplink_->connected());
    EXPECT_EQ(ctx_.metric.gauge_value("agenthost_gateway_connected"), 0.0);
    handler_ = uplink_->make_handler([](std::uint16_t) {}, [this] { ++welcomes_; });
    conn_ = std::make_shared<FakeConnection>();
    handler_->on_open(conn_);
    handler_->on_message(frame("welcome", welcome_body()));
    ASSERT_TRUE(wait_until([&] { return sent_of("result") == 1; }));
}

TEST_F(UplinkTest, CommandIsAckedThenHandedToTheExecutor) {
    open_and_welcome();
    proto::CommandBody c;
    c.command_id = util::uuid_v4();
    c.name = "builtin.echo";
    c.args = {{"text", "hi"}};
    c.issued_at = ctx_.clk.now_unix_ms();
    c.deadline = c.issued_at + 60'000;
    c.attempt = 2;
    handler_->on_message(frame("command", c.to_json()));
    auto env = sent();
    ASSERT_EQ(env.back().type, "ack");
    EXPECT_EQ(env.back().body.at("command_id"), c.command_id.c_str());
    std::lock_guard lk(mu_);
    ASSERT_EQ(commands_.size(), 1u);
    EXPECT_EQ(commands_[0].command_id, c.command_id);
    EXPECT_EQ(commands_[0].deadline_ms, c.deadline);
    EXPECT_EQ(commands_[0].attempt, 2);
    EXPECT_EQ(commands_[0].args.at("text"), "hi");
}

TEST_F(UplinkTest, CommandBeforeWelcomeClosesWith4400) {
    handler_->on_open(conn_);
    proto::CommandBody c;
    c.command_id = util::uuid_v4();
    c.name = "builtin.echo";
    c.issued_at = ctx_.clk.now_unix_ms();
    c.deadline = c.issued_at + 1000;
    handler_->on_message(frame("command", c.to_json()));
    EXPECT_EQ(conn_->close_code(), 4400);
    EXPECT_TRUE(commands_.empty());
}

TEST_F(UplinkTest, BadMacClosesWith4401) {
    handler_->on_open(conn_);
    std::string f = frame("welcome", welcome_body());
    // Flip the first MAC character (its bits all count; the last one carries padding).
    const auto mac = f.rfind('.') + 1;
    f[mac] = f[mac] == 'A' ? 'B' : 'A';
    handler_->on_message(f);
    EXPECT_EQ(conn_->close_code(), 4401);
    // The rejection is a security decision: it is in the audit trail with its code.
    auto events = ctx_.aud.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].action, "frame.rejected");
    EXPECT_EQ(events[0].outcome, "denied");
    EXPECT_EQ(events[0].details.at("code").to_number<int>(), 4401);
    EXPECT_EQ(welcomes_, 0);
}

TEST_F(UplinkTest, ReplayedNonceClosesWith4410) {
    open_and_welcome();
    const std::string nonce = util::nonce();
    const auto ack = proto::ResultAckBody{util::uuid_v4()}.to_json();
    handler_->on_message(frame("result_ack", ack, nonce));
    EXPECT_FALSE(conn_->close_code().has_value());
    handler_->on_message(frame("result_ack", ack, nonce));
    EXPECT_EQ(conn_->close_code(), 4410);
}

TEST_F(UplinkTest, FrameOlderThanTheGatewayStartIsStale) {
    handler_->on_open(conn_);
    handler_->on_message(proto::encode("welcome", kAgent, welcome_body(), kKid, key_,
                                       ctx_.clk.now_unix_ms() - 10'000));
    EXPECT_EQ(conn_->close_code(), 4410);
}

}  // namespace
}  // namespace agenthost::gateway
