// The backend session state machine against fakes (PROTOCOL.md §2-§5): timeouts,
// ordering rules, verification failures, replay, identity outcomes, and the rule
// that acks follow durable storage.
#include "tests/backend/session_fixture.hpp"

namespace agenthost::testing {
namespace {

using namespace std::chrono_literals;

class AgentSessionTest : public SessionFixture {};

TEST_F(AgentSessionTest, NoHelloInTimeClosesWith4408AndNoErrorFrame) {
    sched.advance(9'999ms);
    EXPECT_FALSE(conn->close_code().has_value());
    sched.advance(1ms);
    EXPECT_EQ(conn->close_code(), 4408);
    EXPECT_TRUE(conn->sent().empty());  // no session key yet
    EXPECT_EQ(audits("frame.rejected"), 1u);
}

TEST_F(AgentSessionTest, HelloCancelsTheTimeout) {
    open_session();
    sched.advance(60s);
    EXPECT_FALSE(conn->close_code().has_value());
}

TEST_F(AgentSessionTest, FirstMessageNotHelloIs4400) {
    receive(frame("ack", json::object{{"command_id", util::uuid_v4()}}));
    EXPECT_EQ(conn->close_code(), 4400);
    EXPECT_TRUE(conn->sent().empty());
    auto ev = audit.events_with_action("frame.rejected");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].actor, "agent:gw-01");
    EXPECT_EQ(ev[0].details.at("code").as_int64(), 4400);
}

TEST_F(AgentSessionTest, SecondHelloIs4400WithFatalErrorFrame) {
    open_session();
    receive(frame("hello", hello_body()));
    EXPECT_EQ(conn->close_code(), 4400);
    auto body = last_body();
    EXPECT_EQ(sent_types().back(), "error");
    EXPECT_EQ(body.at("code").as_int64(), 4400);
    EXPECT_TRUE(body.at("fatal").as_bool());
    EXPECT_TRUE(body.at("ref").is_string());
}

TEST_F(AgentSessionTest, TamperedPayloadIs4401) {
    std::string f = frame("hello", hello_body());
    auto first = f.find('.');
    auto second = f.find('.', first + 1);
    auto payload = payload_of(f);
    payload["ts"] = payload.at("ts").as_int64() + 1;
    std::string forged = f.substr(0, first + 1) + util::base64url_encode(json::serialize(payload)) +
                         f.substr(second);
    receive(forged);
    EXPECT_EQ(conn->close_code(), 4401);
    EXPECT_TRUE(identity.opens.empty());
    EXPECT_TRUE(conn->sent().empty());
}

TEST_F(AgentSessionTest, FrameClaimingAnotherAgentIs4403) {
    receive(frame("hello", hello_body(), "gw-02"));
    EXPECT_EQ(conn->close_code(), 4403);
    EXPECT_TRUE(identity.opens.empty());
}

TEST_F(AgentSessionTest, MalformedFrameIs4400) {
    receive("not-a-jws");
    EXPECT_EQ(conn->close_code(), 4400);
}

TEST_F(AgentSessionTest, ReplayedFrameIs4410WithErrorFrame) {
    const std::string nonce = util::nonce();
    open_session();
    // Same nonce in a fresh, validly signed frame.
    receive(frame("ack", json::object{{"command_id", util::uuid_v4()}}, kAgent, nonce));
    EXPECT_FALSE(conn->close_code().has_value());
    receive(frame("ack", json::object{{"command_id", util::uuid_v4()}}, kAgent, nonce));
    EXPECT_EQ(conn->close_code(), 4410);
    EXPECT_EQ(sent_types().back(), "error");
    EXPECT_EQ(last_body().at("code").as_int64(), 4410);
}

TEST_F(AgentSessionTest, ExactResendOfHelloIsReplayNotSecondHello) {
    const std::string hello = frame("hello", hello_body());
    receive(hello);
    receive(hello);
    EXPECT_EQ(conn->close_code(), 4410);
}

TEST_F(AgentSessionTest, FullReplayCacheCloses1013WithoutErrorFrame) {
    open_session();
    replay.full = true;
    receive(frame("ack", json::object{{"command_id", util::uuid_v4()}}));
    EXPECT_EQ(conn->close_code(), 1013);
    EXPECT_EQ(sent_types(), std::vector<std::string>{"welcome"});
}

TEST_F(AgentSessionTest, AsyncReplayCheckKeepsFrameOrder) {
    replay.async = true;
    replay.defer.deferred = true;
    receive(frame("hello", hello_body()));
    receive(frame("ack", json::object{{"command_id", util::uuid_v4()}}));
    EXPECT_EQ(replay.defer.pending(), 1u);  // the ack waits behind the hello
    EXPECT_TRUE(identity.opens.empty());
    replay.defer.release_all();
    sched.run_until_idle();
    ASSERT_EQ(identity.opens.size(), 1u);
    replay.defer.release_all();
    sched.run_until_idle();
    EXPECT_FALSE(conn->close_code().has_value());
    // The unknown command in the ack gets a non-fatal error after the welcome.
    EXPECT_EQ(sent_types(), (std::vector<std::string>{"welcome", "error"}));
}

// Once the session is open, replay checks overlap: a backlog costs one round trip to a
// shared replay store, not one per frame. Dispatch order stays the arrival order.
class PipelinedReplayTest : public AgentSessionTest {
protected:
    void SetUp() override {
        open_session();
        replay.async = true;
        replay.defer.deferred = true;
    }
    std::string batch(const std::string& id, std::string nonce = {}) {
        json::array points{
            json::object{{"metric", "cpu.load"}, {"ts", clock.now_unix_ms()}, {"value", 0.5}}};
        return frame("telemetry", json::object{{"batch_id", id}, {"points", points}}, kAgent,
                     std::move(nonce));
    }
    std::vector<std::string> stored() const {
        std::vector<std::string> ids;
        for (const auto& b : telemetry.batches) {
            ids.push_back(b.batch_id);
        }
        return ids;
    }
};

TEST_F(PipelinedReplayTest, ChecksOverlapAndFramesDispatchInArrivalOrder) {
    const std::string a = util::uuid_v4(), b = util::uuid_v4(), c = util::uuid_v4();
    receive(batch(a));
    receive(batch(b));
    receive(batch(c));
    EXPECT_EQ(replay.defer.pending(), 3u) << "every frame's check is in flight at once";
    replay.defer.release(2);  // c's verdict first
    sched.run_until_idle();
    replay.defer.release(1);  // then b's
    sched.run_until_idle();
    EXPECT_TRUE(stored().empty()) << "nothing overtakes the first frame";
    replay.defer.release(0);
    sched.run_until_idle();
    EXPECT_EQ(stored(), (std::vector<std::string>{a, b, c}));
    EXPECT_FALSE(conn->close_code().has_value());
}

TEST_F(PipelinedReplayTest, AReplayInTheBacklogClosesOnlyAfterTheFramesBeforeIt) {
    const std::string nonce = util::nonce();
    const std::string a = util::uuid_v4();
    receive(batch(a, nonce));
    receive(batch(util::uuid_v4(), nonce));  // the same nonce again
    receive(batch(util::uuid_v4()));
    ASSERT_EQ(replay.defer.pending(), 3u);
    replay.defer.release(1);  // the replay's verdict arrives first
    sched.run_until_idle();
    EXPECT_FALSE(conn->close_code().has_value());
    replay.defer.release_all();
    sched.run_until_idle();
    EXPECT_EQ(stored(), std::vector<std::string>{a});
    EXPECT_EQ(conn->close_code(), 4410);
}

TEST_F(PipelinedReplayTest, AFrameFailingVerificationWaitsForTheFramesBeforeIt) {
    const std::string a = util::uuid_v4();
    receive(batch(a));
    const std::string genuine = batch(util::uuid_v4());
    auto payload = payload_of(genuine);
    payload["ts"] = payload.at("ts").as_int64() + 1;  // the MAC no longer matches
    const auto first = genuine.find('.');
    const auto second = genuine.find('.', first + 1);
    receive(genuine.substr(0, first + 1) + util::base64url_encode(json::serialize(payload)) +
            genuine.substr(second));
    receive(batch(util::uuid_v4()));
    EXPECT_FALSE(conn->close_code().has_value()) << "the batch before it is not decided yet";
    EXPECT_EQ(replay.defer.pending(), 1u) << "nothing behind a rejected frame is checked";
    replay.defer.release_all();
    sched.run_until_idle();
    EXPECT_EQ(stored(), std::vector<std::string>{a});
    EXPECT_EQ(conn->close_code(), 4401);
}

TEST_F(PipelinedReplayTest, AVerdictArrivingAfterTheCloseIsIgnored) {
    receive(batch(util::uuid_v4()));
    receive(batch(util::uuid_v4()));
    ASSERT_EQ(replay.defer.pending(), 2u);
    handler->on_close(1006);
    sched.run_until_idle();
    replay.defer.release_all();
    sched.run_until_idle();
    EXPECT_TRUE(stored().empty());
}

TEST_F(PipelinedReplayTest, TheBoundCountsFramesStillBeingChecked) {
    // max_pending_frames covers verified frames waiting for verdicts too, so a peer
    // cannot park unbounded work behind one slow check.
    for (std::size_t i = 0; i < 256; ++i) {
        handler->on_message(batch(util::uuid_v4()));
    }
    EXPECT_FALSE(conn->close_code().has_value());
    receive(batch(util::uuid_v4()));
    EXPECT_EQ(conn->close_code(), 1013);
}

TEST_F(AgentSessionTest, FailedAsyncReplayCheckRefusesTheFrameWith1013) {
    // A shared replay store that cannot answer (replay_redis with Redis down): fail
    // closed, the frame is never dispatched and the frames behind it are dropped.
    replay.async = true;
    replay.error = sdk::error(sdk::Errc::unavailable, "redis down");
    replay.defer.deferred = true;
    receive(frame("hello", hello_body()));
    receive(frame("ack", json::object{{"command_id", util::uuid_v4()}}));
    EXPECT_EQ(replay.defer.pending(), 1u);
    replay.defer.release_all();
    sched.run_until_idle();
    EXPECT_EQ(conn->close_code(), 1013);
    EXPECT_TRUE(identity.opens.empty()) << "an unchecked hello must not open a session";
    EXPECT_TRUE(sent_types().empty()) << "no welcome, and no error frame before 1013";
    EXPECT_EQ(replay.defer.pending(), 0u) << "the ack behind it was never checked";
}

TEST_F(AgentSessionTest, HelloOpensSessionAndAnswersWelcome) {
    open_session();
    ASSERT_EQ(identity.opens.size(), 1u);
    const auto& h = identity.opens[0];
    EXPECT_EQ(h.agent_id, "gw-01");
    EXPECT_EQ(h.cert_fingerprint, kFingerprint);
    EXPECT_EQ(h.host_id, "backend-1");
    EXPECT_EQ(h.capabilities, std::vector<std::string>{"builtin.echo"});
    EXPECT_EQ(identity.last_lease, 90'000ms);
    auto body = last_body();
    EXPECT_EQ(body.at("session_id").as_string(), h.session_id);
    EXPECT_TRUE(util::is_uuid(h.session_id));
    EXPECT_EQ(body.at("host_id").as_string(), "backend-1");
    EXPECT_EQ(body.at("server_time").as_int64(), clock.now_unix_ms());
    EXPECT_EQ(body.at("heartbeat_s").as_int64(), 30);
    EXPECT_EQ(body.at("limits").at("max_batch_points").as_int64(), 3);
    ASSERT_EQ(queue.attached.size(), 1u);
    EXPECT_EQ(queue.attached[0].second, h.session_id);
    EXPECT_TRUE(registry.contains("gw-01"));
    EXPECT_EQ(audits("session.open"), 1u);
}

TEST_F(AgentSessionTest, WelcomeVerifiesWithTheAgentKey) {
    open_session();
    auto gw_keys = crypto::Keyring::from_agent_key("k1", kAgent, key_);
    proto::VerifyOptions opts;
    opts.now_ms = clock.now_unix_ms();
    opts.expected_agent = kAgent;
    auto v = proto::verify(conn->sent().at(0), gw_keys, opts);
    ASSERT_TRUE(v.ok()) << v.rejection.reason;
    EXPECT_EQ(v.envelope->type, "welcome");
}

TEST_F(AgentSessionTest, RevokedAgentIs4403) {
    identity.open_result.outcome = sdk::OpenOutcome::revoked;
    receive(frame("hello", hello_body()));
    EXPECT_EQ(conn->close_code(), 4403);
    EXPECT_EQ(sent_types(), std::vector<std::string>{"error"});
    EXPECT_EQ(audits("session.denied"), 1u);
    EXPECT_TRUE(queue.attached.empty());
}

TEST_F(AgentSessionTest, DuplicateIs4409AuditedWithBothFingerprints) {
    identity.open_result.outcome = sdk::OpenOutcome::duplicate;
    identity.open_result.existing_fingerprint = std::string(64, '2');
    identity.open_result.existing_session_id = util::uuid_v4();
    identity.open_result.existing_host_id = "backend-2";
    receive(frame("hello", hello_body()));
    EXPECT_EQ(conn->close_code(), 4409);
    EXPECT_EQ(last_body().at("code").as_int64(), 4409);
    auto ev = audit.events_with_action("session.duplicate");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].details.at("fingerprint").as_string(), kFingerprint);
    EXPECT_EQ(ev[0].details.at("existing_fingerprint").as_string(), std::string(64, '2'));
    EXPECT_EQ(ev[0].details.at("existing_host_id").as_string(), "backend-2");
    EXPECT_EQ(metrics.counter_value("agenthost_duplicate_sessions_total"), 1u);
    EXPECT_TRUE(queue.attached.empty());
    EXPECT_FALSE(registry.contains("gw-01"));
    // The existing session's lease is not ours to release.
    handler->on_close(4409);
    EXPECT_TRUE(identity.closes.empty());
}

TEST_F(AgentSessionTest, CloseDetachesReleasesAndAudits) {
    open_session();
    const std::string sid = identity.opens[0].session_id;
    handler->on_close(1000);
    ASSERT_EQ(queue.detached.size(), 1u);
    EXPECT_EQ(queue.detached[0].second, sid);
    ASSERT_EQ(identity.closes.size(), 1u);
    EXPECT_EQ(identity.closes[0].second, sid);
    EXPECT_FALSE(registry.contains("gw-01"));
    EXPECT_EQ(audits("session.close"), 1u);
}

TEST_F(AgentSessionTest, LeaseTakenAfterCloseIsReleased) {
    identity.open_defer.deferred = true;
    receive(frame("hello", hello_body()));
    handler->on_close(1006);
    identity.open_defer.release_all();
    sched.run_until_idle();
    ASSERT_EQ(identity.closes.size(), 1u);
    EXPECT_EQ(identity.closes[0].second, identity.opens[0].session_id);
    EXPECT_TRUE(queue.attached.empty());
    EXPECT_TRUE(conn->sent().empty());
}

TEST_F(AgentSessionTest, TelemetryAckedOnlyAfterStoreCompletes) {
    open_session();
    telemetry.defer.deferred = true;
    const std::string batch = util::uuid_v4();
    json::array points{
        json::object{{"metric", "cpu.load"}, {"ts", clock.now_unix_ms()}, {"value", 0.5}}};
    receive(frame("telemetry", json::object{{"batch_id", batch}, {"points", points}}));
    ASSERT_EQ(telemetry.batches.size(), 1u);
    EXPECT_EQ(telemetry.batches[0].agent_id, "gw-01");
    EXPECT_EQ(sent_types(), std::vector<std::string>{"welcome"});  // not durable yet
    telemetry.defer.release_all();
    sched.run_until_idle();
    ASSERT_EQ(sent_types().back(), "telemetry_ack");
    auto body = last_body();
    EXPECT_EQ(body.at("batch_id").as_string(), batch);
    EXPECT_EQ(body.at("accepted").as_int64(), 1);
    EXPECT_EQ(body.at("duplicates").as_int64(), 0);
}

TEST_F(AgentSessionTest, TelemetryStoreFailureSendsNoAck) {
    open_session();
    telemetry.batch_status = sdk::error(sdk::Errc::unavailable, "db down");
    json::array points{json::object{{"metric", "m"}, {"ts", 1}, {"value", 1}}};
    receive(frame("telemetry", json::object{{"batch_id", util::uuid_v4()}, {"points", points}}));
    EXPECT_EQ(sent_types(), std::vector<std::string>{"welcome"});
    // The gateway resends only after reconnecting: a transient store failure ends the
    // session with 1013 (try again later) so the batch comes back.
    EXPECT_EQ(conn->close_code(), 1013);
}

TEST_F(AgentSessionTest, TooManyPointsIs4400) {
    open_session();
    json::array points;
    for (int i = 0; i < 4; ++i) {
        points.push_back(json::object{{"metric", "m"}, {"ts", i}, {"value", 1}});
    }
    receive(frame("telemetry", json::object{{"batch_id", util::uuid_v4()}, {"points", points}}));
    EXPECT_EQ(conn->close_code(), 4400);
    EXPECT_TRUE(telemetry.batches.empty());
}

json::object result_body(const std::string& id) {
    return json::object{{"command_id", id}, {"status", "succeeded"}, {"exit_code", 0},
                        {"output", "hi"},   {"truncated", false},    {"started_at", 1},
                        {"finished_at", 2}};
}

TEST_F(AgentSessionTest, ResultForUnknownCommandGetsNonFatalError) {
    open_session();
    const std::string f = frame("result", result_body(util::uuid_v4()));
    const std::string msg_id = payload_of(f).at("id").as_string().c_str();
    receive(f);
    EXPECT_FALSE(conn->close_code().has_value());
    ASSERT_EQ(sent_types().back(), "error");
    auto body = last_body();
    EXPECT_EQ(body.at("code").as_int64(), 4400);
    EXPECT_FALSE(body.at("fatal").as_bool());
    EXPECT_EQ(body.at("ref").as_string(), msg_id);
    EXPECT_TRUE(telemetry.results.empty());
}

TEST_F(AgentSessionTest, ResultStoredThenCompletedThenAcked) {
    sdk::CommandRecord c;
    c.command_id = util::uuid_v4();
    c.agent_id = "gw-01";
    c.state = sdk::CommandState::acked;
    queue.commands[c.command_id] = c;
    open_session();
    telemetry.defer.deferred = true;
    receive(frame("result", result_body(c.command_id)));
    EXPECT_EQ(telemetry.results.count(c.command_id), 1u);
    EXPECT_TRUE(queue.completions.empty());  // store not yet durable
    EXPECT_EQ(sent_types().back(), "welcome");
    telemetry.defer.release_all();
    sched.run_until_idle();
    ASSERT_EQ(queue.completions.size(), 1u);
    EXPECT_EQ(queue.completions[0].second, sdk::CommandState::succeeded);
    ASSERT_EQ(sent_types().back(), "result_ack");
    EXPECT_EQ(last_body().at("command_id").as_string(), c.command_id);
    EXPECT_EQ(audits("command.result"), 1u);
}

// The queue delivered the command to this session, so it is this agent's: the result
// is stored without asking the queue (a Redis round trip with queue_redis). Once it is
// recorded the gate forgets it, and a resent copy is looked up like any other.
TEST_F(AgentSessionTest, ResultForACommandDeliveredHereNeedsNoQueueLookup) {
    sdk::CommandRecord c;
    c.command_id = util::uuid_v4();
    c.agent_id = "gw-01";
    c.name = "builtin.echo";
    c.state = sdk::CommandState::dispatched;
    c.deadline_ms = 4102444800000;
    queue.commands[c.command_id] = c;
    open_session();
    ASSERT_TRUE(queue.deliver);
    ASSERT_TRUE(queue.deliver(c));
    ASSERT_EQ(sent_types().back(), "command");
    receive(frame("result", result_body(c.command_id)));
    sched.run_until_idle();
    EXPECT_EQ(queue.get_calls, 0);
    EXPECT_EQ(telemetry.results.count(c.command_id), 1u);
    ASSERT_EQ(queue.completions.size(), 1u);
    ASSERT_EQ(sent_types().back(), "result_ack");
    receive(frame("result", result_body(c.command_id)));  // resent (a new frame id)
    sched.run_until_idle();
    EXPECT_EQ(queue.get_calls, 1);
    EXPECT_EQ(sent_types().back(), "result_ack");
}

// The queue briefly unavailable (Redis down): the result is not acked, the session
// stays open, and the lookup / state update is retried until it lands — a gateway
// resends only after a reconnect, so nothing else would ever record it.
TEST_F(AgentSessionTest, ResultWhileTheQueueIsDownIsRetriedThenAcked) {
    sdk::CommandRecord c;
    c.command_id = util::uuid_v4();
    c.agent_id = "gw-01";
    c.state = sdk::CommandState::acked;
    queue.commands[c.command_id] = c;
    open_session();
    queue.get_status = sdk::error(sdk::Errc::unavailable, "redis down");
    receive(frame("result", result_body(c.command_id)));
    sched.run_until_idle();
    EXPECT_EQ(sent_types().back(), "welcome") << "no result_ack while the queue is down";
    sched.advance(3s);
    EXPECT_EQ(sent_types().back(), "welcome");
    EXPECT_FALSE(conn->close_code().has_value()) << "the session stays open";
    // The lookup works again but the state update does not (yet).
    queue.get_status = {};
    queue.completed_status = sdk::error(sdk::Errc::unavailable, "redis down");
    sched.advance(1s);
    EXPECT_EQ(telemetry.results.count(c.command_id), 1u) << "stored durably meanwhile";
    EXPECT_EQ(sent_types().back(), "welcome");
    queue.completed_status = {};
    sched.advance(1s);
    ASSERT_EQ(queue.completions.size(), 1u);
    ASSERT_EQ(sent_types().back(), "result_ack");
    EXPECT_EQ(last_body().at("command_id").as_string(), c.command_id);
    EXPECT_EQ(audits("command.result"), 1u);
    EXPECT_FALSE(conn->close_code().has_value());
}

TEST_F(AgentSessionTest, ResultWhoseLookupFailsForGoodIsNotRetried) {
    sdk::CommandRecord c;
    c.command_id = util::uuid_v4();
    c.agent_id = "gw-01";
    queue.commands[c.command_id] = c;
    open_session();
    queue.get_status = sdk::error(sdk::Errc::internal, "bug");
    receive(frame("result", result_body(c.command_id)));
    sched.run_until_idle();
    queue.get_status = {};
    sched.advance(5s);
    EXPECT_TRUE(queue.completions.empty());
    EXPECT_EQ(sent_types().back(), "welcome");
}

TEST_F(AgentSessionTest, ResultForAnotherAgentsCommandIsUnknown) {
    sdk::CommandRecord c;
    c.command_id = util::uuid_v4();
    c.agent_id = "gw-02";
    queue.commands[c.command_id] = c;
    open_session();
    receive(frame("result", result_body(c.command_id)));
    EXPECT_EQ(sent_types().back(), "error");
    EXPECT_TRUE(telemetry.results.empty());
}

TEST_F(AgentSessionTest, AckForUnknownCommandGetsNonFatalError) {
    open_session();
    receive(frame("ack", json::object{{"command_id", util::uuid_v4()}}));
    EXPECT_FALSE(conn->close_code().has_value());
    EXPECT_EQ(sent_types().back(), "error");
    EXPECT_FALSE(last_body().at("fatal").as_bool());
}

TEST_F(AgentSessionTest, DeliverSendsSignedCommandFrame) {
    open_session();
    ASSERT_TRUE(queue.deliver);
    sdk::CommandRecord c;
    c.command_id = util::uuid_v4();
    c.agent_id = "gw-01";
    c.name = "builtin.echo";
    c.args = json::object{{"text", "hi"}};
    c.attempts = 1;
    c.created_ms = 1000;
    c.deadline_ms = 301000;
    EXPECT_TRUE(queue.deliver(c));
    ASSERT_EQ(sent_types().back(), "command");
    auto body = last_body();
    EXPECT_EQ(body.at("command_id").as_string(), c.command_id);
    EXPECT_EQ(body.at("name").as_string(), "builtin.echo");
    EXPECT_EQ(body.at("issued_at").as_int64(), 1000);
    EXPECT_EQ(body.at("deadline").as_int64(), 301000);
    EXPECT_EQ(body.at("attempt").as_int64(), 1);
    conn->accept_sends = false;
    EXPECT_FALSE(queue.deliver(c));
}

TEST_F(AgentSessionTest, LeaseRenewedAtMostEveryHalfHeartbeat) {
    // heartbeat 30 s: renew on the first activity 15 s after the last renewal.
    open_session();
    handler->on_activity();
    EXPECT_TRUE(identity.renews.empty());
    clock.advance(14s);
    handler->on_activity();
    sched.run_until_idle();
    EXPECT_TRUE(identity.renews.empty());
    clock.advance(1s);
    handler->on_activity();
    sched.run_until_idle();
    EXPECT_EQ(identity.renews.size(), 1u);
    handler->on_activity();
    sched.run_until_idle();
    EXPECT_EQ(identity.renews.size(), 1u);
    EXPECT_EQ(backend::renew_interval(10), std::chrono::milliseconds(5'000));
}

class TickedSessionTest : public SessionFixture {
protected:
    TickedSessionTest() : SessionFixture(true) {}
};

TEST_F(TickedSessionTest, DueRenewalWaitsForTheTickThenReachesTheStoreOnce) {
    open_session();
    clock.advance(30s);
    handler->on_activity();
    sched.run_until_idle();
    EXPECT_TRUE(identity.renews.empty());  // queued for the tick, not sent
    EXPECT_EQ(ticker->queued(), 1u);
    handler->on_activity();  // in flight: not queued twice
    EXPECT_EQ(ticker->queued(), 1u);
    sched.advance(1s);
    EXPECT_EQ(identity.renews.size(), 1u);
    EXPECT_EQ(ticker->queued(), 0u);
    EXPECT_EQ(sched.pending_timers(), 0u);  // no tick while nothing is due
    // The answer came back: the next renewal is due a full interval later.
    clock.advance(14s);
    handler->on_activity();
    sched.advance(1s);
    EXPECT_EQ(identity.renews.size(), 1u);
    clock.advance(1s);
    handler->on_activity();
    sched.advance(1s);
    EXPECT_EQ(identity.renews.size(), 2u);
}

TEST_F(TickedSessionTest, RevocationSeenAtATickedRenewalCloses4403) {
    open_session();
    identity.renew_status = sdk::error(sdk::Errc::conflict, "revoked");
    clock.advance(31s);
    handler->on_activity();
    sched.advance(1s);
    EXPECT_EQ(conn->close_code(), 4403);
}

TEST_F(TickedSessionTest, SessionClosedBeforeTheTickIsNotRenewed) {
    open_session();
    clock.advance(31s);
    handler->on_activity();
    EXPECT_EQ(ticker->queued(), 1u);
    handler->on_close(1000);
    sched.run_until_idle();
    sched.advance(1s);
    EXPECT_TRUE(identity.renews.empty());
}

TEST_F(TickedSessionTest, StoppedTickerDropsQueuedRenewalsAndTakesNoMore) {
    open_session();
    clock.advance(31s);
    handler->on_activity();
    EXPECT_EQ(ticker->queued(), 1u);
    ticker->stop();
    EXPECT_EQ(ticker->queued(), 0u);
    sched.advance(2s);
    EXPECT_TRUE(identity.renews.empty());
    EXPECT_FALSE(ticker->add([] {}));
}

TEST_F(AgentSessionTest, RenewNotFoundMeansReleased4409) {
    open_session();
    identity.renew_status = sdk::error(sdk::Errc::not_found, "released");
    clock.advance(31s);
    handler->on_activity();
    sched.run_until_idle();
    EXPECT_EQ(conn->close_code(), 4409);
}

TEST_F(AgentSessionTest, RenewConflictMeansRevoked4403) {
    open_session();
    identity.renew_status = sdk::error(sdk::Errc::conflict, "revoked");
    clock.advance(31s);
    handler->on_activity();
    sched.run_until_idle();
    EXPECT_EQ(conn->close_code(), 4403);
}

TEST_F(AgentSessionTest, RegistryTerminateClosesWithErrorFrame) {
    open_session();
    EXPECT_TRUE(registry.terminate("gw-01", 4403, "revoked"));
    sched.run_until_idle();
    EXPECT_EQ(conn->close_code(), 4403);
    EXPECT_EQ(sent_types().back(), "error");
    EXPECT_TRUE(last_body().at("fatal").as_bool());
    EXPECT_FALSE(registry.terminate("gw-99", 4403, "revoked"));
}

TEST_F(AgentSessionTest, IdentityStoreDownCloses1013WithoutErrorFrame) {
    identity.open_status = sdk::error(sdk::Errc::unavailable, "db down");
    receive(frame("hello", hello_body()));
    EXPECT_EQ(conn->close_code(), 1013);
    EXPECT_TRUE(conn->sent().empty());
}

}  // namespace
}  // namespace agenthost::testing

namespace agenthost::testing {
namespace {

// audit.fail_closed: a hello that cannot be audited is refused with 1013 before any
// lease is taken; a command is not written to a session while auditing is down.
class FailClosedSessionTest : public SessionFixture {};

TEST_F(FailClosedSessionTest, UnauditableHelloIsRefused1013WithoutALease) {
    audit_ok = false;
    receive(frame("hello", hello_body()));
    EXPECT_EQ(conn->close_code(), 1013);
    EXPECT_TRUE(identity.opens.empty()) << "no lease taken";
    EXPECT_TRUE(queue.attached.empty());
    EXPECT_EQ(audit_asked, std::vector<std::string>{"session.open"});
}

TEST_F(FailClosedSessionTest, NoDispatchWhileAuditingIsDown) {
    open_session();
    ASSERT_TRUE(queue.deliver);
    sdk::CommandRecord c;
    c.command_id = "c-1";
    c.agent_id = kAgent;
    c.name = "builtin.echo";
    c.attempts = 1;
    audit_ok = false;
    const std::size_t sent_before = conn->sent().size();
    EXPECT_FALSE(queue.deliver(c)) << "declined: the queue redelivers later";
    sched.run_until_idle();
    EXPECT_EQ(conn->sent().size(), sent_before);
    EXPECT_EQ(audits("command.dispatch"), 0u);
    audit_ok = true;
    EXPECT_TRUE(queue.deliver(c));
    sched.run_until_idle();
    EXPECT_EQ(sent_types().back(), "command");
    EXPECT_EQ(audits("command.dispatch"), 1u);
}

}  // namespace
}  // namespace agenthost::testing

namespace agenthost::testing {
namespace {

TEST(RenewalTicker, RunsEverythingQueuedInOneTickAndArmsOnlyWhileSomethingIsDue) {
    FakeClock clock;
    FakeScheduler sched{clock};
    backend::RenewalTicker ticker(sched, std::chrono::seconds(1));
    EXPECT_EQ(sched.pending_timers(), 0u);
    int ran = 0;
    for (int i = 0; i < 500; ++i) {
        ASSERT_TRUE(ticker.add([&ran] { ++ran; }));
    }
    EXPECT_EQ(sched.pending_timers(), 1u);  // one tick for all of them
    sched.advance(std::chrono::milliseconds(999));
    EXPECT_EQ(ran, 0);
    sched.advance(std::chrono::milliseconds(1));
    EXPECT_EQ(ran, 500);
    EXPECT_EQ(sched.pending_timers(), 0u);
    // A renewal queued by a renewal (e.g. from its completion) waits for the next tick.
    ticker.add([&] { ticker.add([&ran] { ran += 10; }); });
    sched.advance(std::chrono::seconds(1));
    EXPECT_EQ(ran, 500);
    sched.advance(std::chrono::seconds(1));
    EXPECT_EQ(ran, 510);
}

TEST(RenewalTicker, DestroyedTickerCancelsItsTick) {
    FakeClock clock;
    FakeScheduler sched{clock};
    int ran = 0;
    {
        backend::RenewalTicker ticker(sched, std::chrono::seconds(1));
        ticker.add([&ran] { ++ran; });
        EXPECT_EQ(sched.pending_timers(), 1u);
    }
    EXPECT_EQ(sched.pending_timers(), 0u);
    sched.advance(std::chrono::seconds(2));
    EXPECT_EQ(ran, 0);
}

}  // namespace
}  // namespace agenthost::testing
