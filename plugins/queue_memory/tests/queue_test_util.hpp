#pragma once
// Shared fixture for the queue_memory tests: a MemoryQueue on the fake context, and
// synchronous wrappers (the queue answers inline, so a missing answer is a bug).

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernel/util/ids.hpp"
#include "plugins/queue_memory/memory_queue.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::plugins::queue_memory {

using sdk::CommandRecord;
using sdk::CommandState;
using sdk::EnqueueOutcome;
using sdk::Errc;
using sdk::Result;

// Records what a session was given, with the fake time of each delivery.
struct Session {
    std::vector<CommandRecord> got;
    std::vector<std::int64_t> at_ms;
    bool accept = true;
    mutable std::mutex mu;

    sdk::DeliverFn fn(testing::FakeContext& ctx) {
        return [this, &ctx](const CommandRecord& c) {
            std::lock_guard lock(mu);
            got.push_back(c);
            at_ms.push_back(ctx.clock().now_unix_ms());
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
};

class QueueTest : public ::testing::Test {
protected:
    testing::FakeContext ctx;
    QueueConfig cfg;
    std::shared_ptr<MemoryQueue> q;

    MemoryQueue& queue() {
        if (!q) {
            q = MemoryQueue::create(ctx, cfg);
        }
        return *q;
    }
    std::int64_t now() { return ctx.clock().now_unix_ms(); }

    Result<EnqueueOutcome> enqueue(const std::string& agent, const std::string& key = "",
                                   const std::string& digest = "", std::int64_t timeout_s = 3600,
                                   const std::string& name = "builtin.echo") {
        sdk::NewCommand c;
        c.agent_id = agent;
        c.name = name;
        c.args["text"] = "hi";
        c.timeout_s = timeout_s;
        c.idempotency_key = key;
        c.request_digest = digest;
        std::optional<Result<EnqueueOutcome>> out;
        queue().enqueue(std::move(c), [&](Result<EnqueueOutcome> r) { out.emplace(std::move(r)); });
        EXPECT_TRUE(out.has_value());
        return std::move(*out);
    }
    std::string enqueue_id(const std::string& agent, std::int64_t timeout_s = 3600) {
        auto r = enqueue(agent, "", "", timeout_s);
        EXPECT_TRUE(r.ok()) << r.status().message();
        return r.ok() ? r->command.command_id : std::string();
    }
    Result<CommandRecord> get(const std::string& id) {
        std::optional<Result<CommandRecord>> out;
        queue().get(id, [&](Result<CommandRecord> r) { out.emplace(std::move(r)); });
        EXPECT_TRUE(out.has_value());
        return std::move(*out);
    }
    CommandState state(const std::string& id) {
        auto r = get(id);
        EXPECT_TRUE(r.ok());
        return r.ok() ? r->state : CommandState::queued;
    }
    std::vector<CommandRecord> list(sdk::CommandFilter f = {}) {
        std::optional<Result<std::vector<CommandRecord>>> out;
        queue().list(std::move(f), [&](auto r) { out.emplace(std::move(r)); });
        EXPECT_TRUE(out.has_value() && out->ok());
        return out && out->ok() ? out->value() : std::vector<CommandRecord>{};
    }
    Result<CommandRecord> cancel(const std::string& id) {
        std::optional<Result<CommandRecord>> out;
        queue().cancel(id, [&](Result<CommandRecord> r) { out.emplace(std::move(r)); });
        EXPECT_TRUE(out.has_value());
        return std::move(*out);
    }
    sdk::Status ack(const std::string& agent, const std::string& id) {
        std::optional<sdk::Status> out;
        queue().acked(agent, id, [&](sdk::Status s) { out = std::move(s); });
        EXPECT_TRUE(out.has_value());
        return out.value_or(sdk::Status{});
    }
    sdk::Status complete(const std::string& agent, const std::string& id, CommandState s) {
        std::optional<sdk::Status> out;
        queue().completed(agent, id, s, [&](sdk::Status st) { out = std::move(st); });
        EXPECT_TRUE(out.has_value());
        return out.value_or(sdk::Status{});
    }
    std::uint64_t transitions(CommandState s) {
        return ctx.metrics_impl.counter_value("commands_total", {{"state", sdk::to_string(s)}})
            .value_or(0);
    }
};

}  // namespace agenthost::plugins::queue_memory
