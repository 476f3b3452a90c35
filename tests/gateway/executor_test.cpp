// The single executor with fake handlers: rejection paths, deadlines, output cap,
// dedup of redeliveries, at-most-once across a simulated restart, the queue bound,
// the concurrency cap and the audit record.
#include <gtest/gtest.h>

#include <atomic>

#include <boost/json/parse.hpp>

#include "kernel/gateway/executor.hpp"
#include "tests/gateway/support/fake_context.hpp"
#include "tests/gateway/support/temp_dir.hpp"

namespace agenthost::gateway {
namespace {

namespace json = boost::json;
using sdk::CommandState;
using testing::wait_until;

// fake.ok: completes with args.output (or "ok"); fake.hang: runs until cancelled;
// fake.deaf: ignores cancel entirely. validate() refuses {"bad": true}.
class FakeHandler final : public sdk::CommandHandler {
public:
    explicit FakeHandler(sdk::Scheduler& s) : sched_(s) {}
    std::vector<std::string> commands() const override {
        return {"fake.ok", "fake.hang", "fake.deaf"};
    }
    sdk::Status validate(const sdk::CommandRequest& r) const override {
        if (r.args.contains("bad")) {
            return sdk::error(sdk::Errc::invalid_argument, "bad is bad");
        }
        return {};
    }
    void execute(sdk::CommandRequest r, sdk::Callback<sdk::ExecResult> done) override {
        ++executed;
        if (r.name == "fake.ok") {
            sdk::ExecResult res;
            const auto* out = r.args.if_contains("output");
            res.output = out ? std::string(out->as_string()) : "ok";
            res.exit_code = 0;
            sched_.post([res, done] { done(res); });
            return;
        }
        std::lock_guard lk(mu_);
        pending_[r.command_id] = std::move(done);
    }
    void cancel(std::string_view id) override {
        ++cancels;
        sdk::Callback<sdk::ExecResult> done;
        {
            std::lock_guard lk(mu_);
            auto it = pending_.find(std::string(id));
            if (it == pending_.end() || deaf_) {
                return;
            }
            done = std::move(it->second);
            pending_.erase(it);
        }
        sdk::ExecResult res;
        res.status = CommandState::failed;
        sched_.post([res, done] { done(res); });
    }
    void set_deaf() { deaf_ = true; }
    std::atomic<int> executed{0};
    std::atomic<int> cancels{0};

private:
    sdk::Scheduler& sched_;
    std::mutex mu_;
    std::map<std::string, sdk::Callback<sdk::ExecResult>> pending_;
    std::atomic<bool> deaf_{false};
};

class ExecutorTest : public ::testing::Test {
protected:
    void SetUp() override { reopen(); }
    void reopen(ExecutorOptions opts = {}) {
        executor_.reset();
        store_.reset();
        auto s = GatewayStore::open(dir_.file("gw.db"), StoreOptions{}, ctx_.clk.now_unix_ms());
        ASSERT_TRUE(s.ok()) << s.status().message();
        store_ = std::move(s.value());
        executor_ = std::make_unique<Executor>(
            ExecutorDeps{ctx_.sched, ctx_.pool, ctx_.clk, ctx_.log, ctx_.metric, ctx_.aud, *store_},
            opts, std::vector<sdk::CommandHandler*>{&handler_}, [this](const std::string& id) {
                std::lock_guard lk(mu_);
                ready_.push_back(id);
            });
    }
    sdk::CommandRequest cmd(std::string id, std::string name, json::object args = {},
                            std::int64_t timeout_ms = 60'000) {
        sdk::CommandRequest r;
        r.command_id = std::move(id);
        r.name = std::move(name);
        r.args = std::move(args);
        r.deadline_ms = ctx_.clk.now_unix_ms() + timeout_ms;
        return r;
    }
    std::size_t ready_count(const std::string& id) {
        std::lock_guard lk(mu_);
        return static_cast<std::size_t>(std::count(ready_.begin(), ready_.end(), id));
    }
    // Waits for `id`'s result to be durable and returns its stored body.
    json::object result_of(const std::string& id) {
        EXPECT_TRUE(wait_until([&] { return ready_count(id) > 0; })) << id;
        auto r = store_->stored_result(id);
        EXPECT_TRUE(r.ok()) << id;
        return r.ok() ? json::parse(r.value()).as_object() : json::object{};
    }

    testing::TempDir dir_;
    testing::FakeContext ctx_;
    FakeHandler handler_{ctx_.sched};
    std::unique_ptr<GatewayStore> store_;
    std::unique_ptr<Executor> executor_;
    std::mutex mu_;
    std::vector<std::string> ready_;
};

TEST_F(ExecutorTest, RunsACommandAndRecordsItsResult) {
    executor_->submit(cmd("c1", "fake.ok", {{"output", "hello"}}));
    auto body = result_of("c1");
    EXPECT_EQ(body.at("status"), "succeeded");
    EXPECT_EQ(body.at("exit_code"), 0);
    EXPECT_EQ(body.at("output"), "hello");
    EXPECT_EQ(store_->counts().results, 1u);
    EXPECT_EQ(ctx_.metric.counter_value("agenthost_gateway_commands_total{outcome=succeeded}"), 1u);
    auto events = ctx_.aud.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].action, "command.execute");
    EXPECT_EQ(events[0].target, "c1");
    EXPECT_EQ(events[0].outcome, "success");
    EXPECT_EQ(executor_->command_names(),
              (std::vector<std::string>{"fake.deaf", "fake.hang", "fake.ok"}));
}

TEST_F(ExecutorTest, UnknownCommandIsRejectedUnrun) {
    executor_->submit(cmd("c1", "nobody.handles.this"));
    auto body = result_of("c1");
    EXPECT_EQ(body.at("status"), "rejected");
    EXPECT_TRUE(body.at("exit_code").is_null());
    EXPECT_NE(std::string(body.at("output").as_string()).find("no handler"), std::string::npos);
    EXPECT_EQ(handler_.executed, 0);
    EXPECT_EQ(ctx_.aud.events().at(0).outcome, "denied");
}

TEST_F(ExecutorTest, InvalidArgumentsAreRejectedUnrun) {
    executor_->submit(cmd("c1", "fake.ok", {{"bad", true}}));
    auto body = result_of("c1");
    EXPECT_EQ(body.at("status"), "rejected");
    EXPECT_EQ(handler_.executed, 0);
}

TEST_F(ExecutorTest, PastDeadlineIsTimedOutWithoutExecuting) {
    executor_->submit(cmd("c1", "fake.ok", {}, -1));
    auto body = result_of("c1");
    EXPECT_EQ(body.at("status"), "timed_out");
    EXPECT_TRUE(body.at("exit_code").is_null());
    EXPECT_EQ(handler_.executed, 0);
}

TEST_F(ExecutorTest, DeadlineCancelsARunningCommand) {
    executor_->submit(cmd("c1", "fake.hang", {}, 100));
    auto body = result_of("c1");
    EXPECT_EQ(body.at("status"), "timed_out");
    EXPECT_TRUE(body.at("exit_code").is_null());
    EXPECT_EQ(handler_.executed, 1);
    EXPECT_EQ(handler_.cancels, 1);
    EXPECT_TRUE(wait_until([&] { return executor_->idle(); }));
}

TEST_F(ExecutorTest, AHandlerIgnoringCancelIsTimedOutAfterTheGrace) {
    ExecutorOptions o;
    o.cancel_grace = std::chrono::milliseconds(50);
    reopen(o);
    handler_.set_deaf();
    executor_->submit(cmd("c1", "fake.deaf", {}, 50));
    auto body = result_of("c1");
    EXPECT_EQ(body.at("status"), "timed_out");
    EXPECT_EQ(executor_->running(), 0u);
}

TEST_F(ExecutorTest, OutputIsCappedAndMarkedTruncated) {
    ExecutorOptions o;
    o.output_cap_bytes = 10;
    reopen(o);
    executor_->submit(cmd("c1", "fake.ok", {{"output", std::string(100, 'x')}}));
    auto body = result_of("c1");
    EXPECT_EQ(body.at("output").as_string(), std::string(10, 'x'));
    EXPECT_EQ(body.at("truncated"), true);
}

TEST_F(ExecutorTest, RedeliveryWhileRunningRunsOnce) {
    executor_->submit(cmd("c1", "fake.hang"));
    ASSERT_TRUE(wait_until([&] { return handler_.executed == 1; }));
    executor_->submit(cmd("c1", "fake.hang"));
    executor_->submit(cmd("c1", "fake.hang"));
    handler_.cancel("c1");
    result_of("c1");
    EXPECT_EQ(handler_.executed, 1);
}

TEST_F(ExecutorTest, RedeliveryAfterFinishResendsTheStoredResult) {
    executor_->submit(cmd("c1", "fake.ok", {{"output", "first"}}));
    result_of("c1");
    ASSERT_TRUE(store_->ack(SpoolKind::result, "c1").ok());
    EXPECT_EQ(store_->counts().results, 0u);
    executor_->submit(cmd("c1", "fake.ok", {{"output", "second"}}));
    ASSERT_TRUE(wait_until([&] { return ready_count("c1") == 2; }));
    EXPECT_EQ(handler_.executed, 1);
    EXPECT_EQ(store_->counts().results, 1u);  // spooled again for sending
    EXPECT_EQ(json::parse(store_->stored_result("c1").value()).at("output"), "first");
}

TEST_F(ExecutorTest, AtMostOnceAcrossARestart) {
    executor_->submit(cmd("c1", "fake.hang"));
    ASSERT_TRUE(wait_until([&] { return store_->lookup("c1") == RecordState::started; }));
    ASSERT_TRUE(wait_until([&] { return handler_.executed == 1; }));
    // Simulated crash: drop executor and store with c1 running, reopen both.
    reopen();
    EXPECT_EQ(store_->interrupted(), std::vector<std::string>{"c1"});
    executor_->submit(cmd("c1", "fake.hang"));  // the backend redelivers it
    auto body = result_of("c1");
    EXPECT_EQ(handler_.executed, 1);  // not run again
    EXPECT_EQ(body.at("status"), "failed");
    EXPECT_TRUE(body.at("exit_code").is_null());
    EXPECT_EQ(body.at("output"), "interrupted by gateway restart");
}

TEST_F(ExecutorTest, ConcurrencyCapQueuesTheRest) {
    ExecutorOptions o;
    o.concurrency = 1;
    reopen(o);
    executor_->submit(cmd("c1", "fake.hang"));
    executor_->submit(cmd("c2", "fake.hang"));
    ASSERT_TRUE(wait_until([&] { return handler_.executed == 1; }));
    EXPECT_EQ(executor_->running(), 1u);
    EXPECT_EQ(executor_->queued(), 1u);
    handler_.cancel("c1");
    ASSERT_TRUE(wait_until([&] { return handler_.executed == 2; }));
    handler_.cancel("c2");
    result_of("c2");
}

TEST_F(ExecutorTest, FullQueueRejects) {
    ExecutorOptions o;
    o.concurrency = 1;
    o.max_queue = 1;
    reopen(o);
    executor_->submit(cmd("c1", "fake.hang"));
    ASSERT_TRUE(wait_until([&] { return handler_.executed == 1; }));
    executor_->submit(cmd("c2", "fake.hang"));
    executor_->submit(cmd("c3", "fake.hang"));
    auto body = result_of("c3");
    EXPECT_EQ(body.at("status"), "rejected");
    EXPECT_EQ(body.at("output"), "executor queue full");
    executor_->shutdown();
    EXPECT_EQ(result_of("c2").at("status"), "failed");  // queued at shutdown: never run
    EXPECT_EQ(result_of("c1").at("status"), "failed");  // running at shutdown: cancelled
    EXPECT_TRUE(wait_until([&] { return executor_->idle(); }));
    EXPECT_EQ(handler_.executed, 1);
}

}  // namespace
}  // namespace agenthost::gateway
