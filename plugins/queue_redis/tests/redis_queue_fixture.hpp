#pragma once
// Shared fixture for the queue_redis integration tests: RedisQueue instances ("hosts")
// on LiveContexts (real loop, real clock) against a real Redis, each test under its own
// key prefix; synchronous wrappers that wait for the asynchronous answers.

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "plugins/_common_redis/tests/live_context.hpp"
#include "plugins/queue_redis/redis_queue.hpp"
#include "tests/support/services.hpp"

namespace agenthost::plugins::queue_redis {

using namespace std::chrono_literals;
using sdk::CommandRecord;
using sdk::CommandState;
using sdk::EnqueueOutcome;
using sdk::Errc;
using sdk::Result;
using testing::wait_until;

// Waits (with a deadline) for one asynchronous answer.
template <typename T>
T await(const std::function<void(std::function<void(T)>)>& start,
        std::chrono::milliseconds timeout = 10s) {
    auto mu = std::make_shared<std::mutex>();
    auto out = std::make_shared<std::optional<T>>();
    start([mu, out](T v) {
        std::lock_guard lock(*mu);
        out->emplace(std::move(v));
    });
    const bool got = wait_until([&] {
        std::lock_guard lock(*mu);
        return out->has_value();
    }, timeout);
    EXPECT_TRUE(got) << "no answer within " << timeout.count() << " ms";
    std::lock_guard lock(*mu);
    if (!got) {
        if constexpr (std::is_same_v<T, sdk::Status>) {
            return sdk::error(Errc::timeout, "no answer");
        } else {
            return T(sdk::error(Errc::timeout, "no answer"));
        }
    }
    return std::move(**out);
}

// Records what a session was given, with the wall time of each delivery.
struct Session {
    mutable std::mutex mu;
    std::vector<CommandRecord> got;
    std::vector<std::chrono::steady_clock::time_point> at;
    bool accept = true;

    sdk::DeliverFn fn() {
        return [this](const CommandRecord& c) {
            std::lock_guard lock(mu);
            got.push_back(c);
            at.push_back(std::chrono::steady_clock::now());
            return accept;
        };
    }
    std::vector<std::string> ids() const {
        std::lock_guard lock(mu);
        std::vector<std::string> out;
        for (const auto& c : got) {
            out.push_back(c.command_id);
        }
        return out;
    }
    std::size_t count() const {
        std::lock_guard lock(mu);
        return got.size();
    }
    CommandRecord at_index(std::size_t i) const {
        std::lock_guard lock(mu);
        return got.at(i);
    }
    void set_accept(bool a) {
        std::lock_guard lock(mu);
        accept = a;
    }
    bool wait_count(std::size_t n, std::chrono::milliseconds t = 10s) const {
        return wait_until([&] { return count() >= n; }, t);
    }
};

// One "host": a context and its queue.
struct Host {
    std::unique_ptr<testing::LiveContext> ctx;
    std::shared_ptr<RedisQueue> queue;
};

class RedisQueueTest : public ::testing::Test {
protected:
    QueueConfig cfg = [] {
        QueueConfig c;
        c.key_prefix = testsvc::fresh_redis_prefix();
        c.sweep_interval_ms = 50;
        c.rescan_interval_s = 1;
        c.idempotency_ttl_s = 86400;
        return c;
    }();
    std::string url;
    std::map<std::string, Host> hosts;

    void TearDown() override {
        for (auto& [name, h] : hosts) {
            h.queue->shutdown();
        }
    }

    virtual std::string redis_url() { return testsvc::shared_redis_url(); }

    // The queue of host `name` (created and started on first use, then connected).
    RedisQueue& host(const std::string& name = "host-a") {
        auto it = hosts.find(name);
        if (it == hosts.end()) {
            if (url.empty()) {
                url = redis_url();
            }
            Host h;
            h.ctx = std::make_unique<testing::LiveContext>(name);
            h.queue = RedisQueue::create(*h.ctx, cfg, *redis::parse_url(url));
            EXPECT_TRUE(h.queue->start().ok());
            EXPECT_TRUE(wait_until([&] { return h.queue->healthy(); })) << h.queue->last_error();
            it = hosts.emplace(name, std::move(h)).first;
        }
        return *it->second.queue;
    }
    RedisQueue& queue() { return host("host-a"); }
    testing::LiveContext& ctx(const std::string& name = "host-a") {
        host(name);
        return *hosts.at(name).ctx;
    }

    Result<EnqueueOutcome> enqueue(const std::string& agent, const std::string& key = "",
                                   const std::string& digest = "", std::int64_t timeout_s = 3600,
                                   const std::string& name = "builtin.echo",
                                   const std::string& on = "host-a") {
        sdk::NewCommand c;
        c.agent_id = agent;
        c.name = name;
        c.args["text"] = "hi";
        c.timeout_s = timeout_s;
        c.idempotency_key = key;
        c.request_digest = digest;
        auto& q = host(on);
        return await<Result<EnqueueOutcome>>(
            [&](auto cb) { q.enqueue(std::move(c), cb); });
    }
    std::string enqueue_id(const std::string& agent, std::int64_t timeout_s = 3600,
                           const std::string& on = "host-a") {
        auto r = enqueue(agent, "", "", timeout_s, "builtin.echo", on);
        EXPECT_TRUE(r.ok()) << r.status().message();
        return r.ok() ? r->command.command_id : std::string();
    }
    Result<CommandRecord> get(const std::string& id, const std::string& on = "host-a") {
        auto& q = host(on);
        return await<Result<CommandRecord>>([&](auto cb) { q.get(id, cb); });
    }
    CommandState state(const std::string& id, const std::string& on = "host-a") {
        auto r = get(id, on);
        EXPECT_TRUE(r.ok()) << r.status().message();
        return r.ok() ? r->state : CommandState::queued;
    }
    bool wait_state(const std::string& id, CommandState s, std::chrono::milliseconds t = 10s) {
        return wait_until([&] {
            auto r = get(id);
            return r.ok() && r->state == s;
        }, t);
    }
    std::vector<CommandRecord> list(sdk::CommandFilter f = {}) {
        auto r = await<Result<std::vector<CommandRecord>>>(
            [&](auto cb) { queue().list(f, cb); });
        EXPECT_TRUE(r.ok()) << r.status().message();
        return r.ok() ? r.value() : std::vector<CommandRecord>{};
    }
    Result<CommandRecord> cancel(const std::string& id, const std::string& on = "host-a") {
        auto& q = host(on);
        return await<Result<CommandRecord>>([&](auto cb) { q.cancel(id, cb); });
    }
    sdk::Status ack(const std::string& agent, const std::string& id,
                    const std::string& on = "host-a") {
        auto& q = host(on);
        return await<sdk::Status>([&](auto cb) { q.acked(agent, id, cb); });
    }
    sdk::Status complete(const std::string& agent, const std::string& id, CommandState s,
                         const std::string& on = "host-a") {
        auto& q = host(on);
        return await<sdk::Status>([&](auto cb) { q.completed(agent, id, s, cb); });
    }
    std::uint64_t transitions(CommandState s, const std::string& on = "host-a") {
        return ctx(on)
            .metrics_impl.counter_value("commands_total", {{"state", sdk::to_string(s)}})
            .value_or(0);
    }
    // A raw command on the test's Redis (for asserting the stored layout).
    redis::Reply raw(redis::Argv argv) {
        if (!raw_) {
            redis::ClientOptions o;
            o.endpoint = *redis::parse_url(url.empty() ? (url = redis_url()) : url);
            raw_ = redis::Client::create(raw_loop_.native_loop(), o, raw_log_);
            raw_->start();
            EXPECT_TRUE(wait_until([&] { return raw_->healthy(); }));
        }
        auto r = await<sdk::Result<redis::Reply>>([&](auto cb) { raw_->command(argv, cb); });
        EXPECT_TRUE(r.ok()) << r.status().message();
        return r.ok() ? r.value() : redis::Reply{};
    }
    std::string key(const std::string& suffix) const { return cfg.key_prefix + suffix; }

    // Sessions live in the fixture: they outlive the queues delivering to them.
    Session& session() { return sessions_.emplace_back(); }

private:
    std::deque<Session> sessions_;  // TearDown stops every queue before they go
    testing::FakeLogger raw_log_;
    redis::LocalLoop raw_loop_{1};
    std::shared_ptr<redis::Client> raw_;
};

}  // namespace agenthost::plugins::queue_redis
