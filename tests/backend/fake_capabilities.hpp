#pragma once
// Recording fakes of the capability plugins the backend sessions and the operator
// API call (identity, replay, queue, telemetry) and of net::Connection. Completions
// run inline unless a test switches a fake to `deferred`, in which case they are
// held until the test releases them: that is how tests prove that an ack waits for
// durable storage. Used by tests/backend and tests/api.

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/queue.hpp>
#include <agenthost/capabilities/replay.hpp>
#include <agenthost/capabilities/telemetry.hpp>

#include "kernel/net/connection.hpp"
#include "tests/support/fake_scheduler.hpp"

namespace agenthost::testing {

// Holds completions while `deferred`; release_all() runs them in order.
class Deferrer {
public:
    bool deferred = false;
    void run(std::function<void()> fn) {
        if (deferred) {
            pending_.push_back(std::move(fn));
        } else {
            fn();
        }
    }
    std::size_t pending() const { return pending_.size(); }
    // Runs the index-th pending completion alone (out of order on purpose).
    void release(std::size_t index) {
        auto fn = std::move(pending_.at(index));
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
        fn();
    }
    void release_all() {
        auto p = std::move(pending_);
        pending_.clear();
        for (auto& fn : p) {
            fn();
        }
    }

private:
    std::deque<std::function<void()>> pending_;
};

class FakeConnection final : public net::Connection {
public:
    FakeConnection(FakeScheduler& strand, net::PeerInfo peer)
        : strand_(strand), peer_(std::move(peer)) {}
    const net::PeerInfo& peer() const noexcept override { return peer_; }
    bool send(std::string text) override {
        std::lock_guard lock(mu_);
        if (close_code_ || !accept_sends) {
            return false;
        }
        sent_.push_back(std::move(text));
        return true;
    }
    void close(std::uint16_t code, std::string reason) override {
        std::lock_guard lock(mu_);
        if (!close_code_) {
            close_code_ = code;
            close_reason_ = std::move(reason);
        }
    }
    // The fake scheduler's queue stands in for the strand (one thread, in order).
    void post(std::function<void()> fn) override { strand_.post(std::move(fn)); }
    std::uint64_t id() const noexcept override { return 1; }

    std::vector<std::string> sent() const {
        std::lock_guard lock(mu_);
        return sent_;
    }
    std::optional<std::uint16_t> close_code() const {
        std::lock_guard lock(mu_);
        return close_code_;
    }
    std::string close_reason() const {
        std::lock_guard lock(mu_);
        return close_reason_;
    }
    bool accept_sends = true;

private:
    FakeScheduler& strand_;
    net::PeerInfo peer_;
    mutable std::mutex mu_;
    std::vector<std::string> sent_;
    std::optional<std::uint16_t> close_code_;
    std::string close_reason_;
};

class FakeIdentity final : public sdk::IdentityStore {
public:
    void open_session(sdk::AgentHello hello, std::chrono::milliseconds lease,
                      sdk::Callback<sdk::Result<sdk::OpenSessionResult>> done) override {
        opens.push_back(hello);
        last_lease = lease;
        sdk::Result<sdk::OpenSessionResult> r =
            open_status.ok() ? sdk::Result(open_result)
                             : sdk::Result<sdk::OpenSessionResult>(open_status);
        if (r.ok() && r->outcome == sdk::OpenOutcome::opened) {
            auto& a = agents[hello.agent_id];
            a.agent_id = hello.agent_id;
            a.online = true;
            a.host_id = hello.host_id;
            a.session_id = hello.session_id;
            a.capabilities = hello.capabilities;
        }
        open_defer.run([done, r] { done(r); });
    }
    void renew_session(std::string agent_id, std::string session_id, std::chrono::milliseconds,
                       sdk::Callback<sdk::Status> done) override {
        renews.emplace_back(std::move(agent_id), std::move(session_id));
        done(renew_status);
    }
    void close_session(std::string agent_id, std::string session_id,
                       sdk::Callback<sdk::Status> done) override {
        closes.emplace_back(std::move(agent_id), std::move(session_id));
        done({});
    }
    void revoke(std::string agent_id, sdk::Callback<sdk::Status> done) override {
        auto it = agents.find(agent_id);
        if (it == agents.end()) {
            return done(sdk::error(sdk::Errc::not_found, "unknown agent"));
        }
        it->second.revoked = true;
        done({});
    }
    void release(std::string agent_id,
                 sdk::Callback<sdk::Result<std::optional<std::string>>> done) override {
        auto it = agents.find(agent_id);
        if (it == agents.end()) {
            return done(sdk::Status(sdk::Errc::not_found, "unknown agent"));
        }
        std::optional<std::string> held = it->second.session_id;
        it->second.online = false;
        it->second.session_id.reset();
        it->second.host_id.reset();
        done(held);
    }
    void get_agent(std::string agent_id,
                   sdk::Callback<sdk::Result<sdk::AgentRecord>> done) override {
        if (!available) {
            return done(sdk::Status(sdk::Errc::unavailable, "down"));
        }
        auto it = agents.find(agent_id);
        if (it == agents.end()) {
            return done(sdk::Status(sdk::Errc::not_found, "unknown agent"));
        }
        done(it->second);
    }
    void list_agents(sdk::Callback<sdk::Result<std::vector<sdk::AgentRecord>>> done) override {
        std::vector<sdk::AgentRecord> out;
        for (const auto& [id, a] : agents) {
            out.push_back(a);
        }
        done(out);
    }

    sdk::OpenSessionResult open_result;
    sdk::Status open_status;
    sdk::Status renew_status;
    bool available = true;
    Deferrer open_defer;
    std::vector<sdk::AgentHello> opens;
    std::chrono::milliseconds last_lease{0};
    std::vector<std::pair<std::string, std::string>> renews;
    std::vector<std::pair<std::string, std::string>> closes;
    std::map<std::string, sdk::AgentRecord> agents;
};

class FakeReplay final : public sdk::ReplayCache {
public:
    std::optional<sdk::ReplayVerdict> check_now(std::string_view agent_id, std::string_view nonce,
                                                std::int64_t, std::int64_t) override {
        if (async) {
            return std::nullopt;
        }
        return verdict(std::string(agent_id), std::string(nonce));
    }
    void check(std::string agent_id, std::string nonce, std::int64_t, std::int64_t,
               sdk::Callback<sdk::Result<sdk::ReplayVerdict>> done) override {
        if (!error.ok()) {
            defer.run([done, e = error] { done(e); });
            return;
        }
        auto v = verdict(agent_id, nonce);
        defer.run([done, v] { done(v); });
    }
    sdk::ReplayStats stats() const override { return {seen.size(), 0, 0}; }

    bool async = false;
    bool full = false;
    sdk::Status error;  // not ok: the asynchronous check fails (e.g. Redis down)
    Deferrer defer;
    std::set<std::pair<std::string, std::string>> seen;

private:
    sdk::ReplayVerdict verdict(const std::string& agent, const std::string& nonce) {
        if (seen.count({agent, nonce})) {
            return sdk::ReplayVerdict::replayed;
        }
        if (full) {
            return sdk::ReplayVerdict::full;
        }
        seen.insert({agent, nonce});
        return sdk::ReplayVerdict::fresh;
    }
};

class FakeQueue final : public sdk::CommandQueue {
public:
    void enqueue(sdk::NewCommand c, sdk::Callback<sdk::Result<sdk::EnqueueOutcome>> done) override {
        enqueued.push_back(c);
        if (!enqueue_status.ok()) {
            return done(enqueue_status);
        }
        if (!c.idempotency_key.empty()) {
            auto it = by_key.find({c.agent_id, c.idempotency_key});
            if (it != by_key.end()) {
                if (it->second.second != c.request_digest) {
                    return done(sdk::Status(sdk::Errc::conflict, "idempotency_conflict"));
                }
                return done(sdk::EnqueueOutcome{commands.at(it->second.first), false});
            }
        }
        sdk::CommandRecord r;
        r.command_id = "00000000-0000-4000-8000-00000000000" + std::to_string(commands.size());
        r.agent_id = c.agent_id;
        r.name = c.name;
        r.args = c.args;
        r.created_ms = r.updated_ms = 1795766400000;
        r.deadline_ms = r.created_ms + c.timeout_s * 1000;
        commands[r.command_id] = r;
        if (!c.idempotency_key.empty()) {
            by_key[{c.agent_id, c.idempotency_key}] = {r.command_id, c.request_digest};
        }
        done(sdk::EnqueueOutcome{r, true});
    }
    void get(std::string id, sdk::Callback<sdk::Result<sdk::CommandRecord>> done) override {
        ++get_calls;
        if (!get_status.ok()) {
            return done(get_status);
        }
        auto it = commands.find(id);
        if (it == commands.end()) {
            return done(sdk::Status(sdk::Errc::not_found, "unknown command"));
        }
        done(it->second);
    }
    void list(sdk::CommandFilter f,
              sdk::Callback<sdk::Result<std::vector<sdk::CommandRecord>>> done) override {
        last_filter = f;
        std::vector<sdk::CommandRecord> out;
        for (const auto& [id, c] : commands) {
            out.push_back(c);
        }
        done(out);
    }
    void cancel(std::string id, sdk::Callback<sdk::Result<sdk::CommandRecord>> done) override {
        auto it = commands.find(id);
        if (it == commands.end()) {
            return done(sdk::Status(sdk::Errc::not_found, "unknown command"));
        }
        if (it->second.state != sdk::CommandState::queued) {
            return done(sdk::Status(sdk::Errc::conflict, "not_cancellable"));
        }
        it->second.state = sdk::CommandState::cancelled;
        done(it->second);
    }
    std::chrono::seconds retry_after(std::string_view) const override {
        return std::chrono::seconds(7);
    }
    void attach(std::string agent_id, std::string session_id, sdk::DeliverFn deliver) override {
        attached.emplace_back(std::move(agent_id), std::move(session_id));
        this->deliver = std::move(deliver);
    }
    void detach(std::string agent_id, std::string session_id) override {
        detached.emplace_back(std::move(agent_id), std::move(session_id));
        deliver = nullptr;
    }
    void acked(std::string agent_id, std::string command_id,
               sdk::Callback<sdk::Status> done) override {
        auto it = commands.find(command_id);
        if (it == commands.end() || it->second.agent_id != agent_id) {
            return done(sdk::error(sdk::Errc::not_found, "unknown command"));
        }
        it->second.state = sdk::CommandState::acked;
        done({});
    }
    void completed(std::string agent_id, std::string command_id, sdk::CommandState terminal,
                   sdk::Callback<sdk::Status> done) override {
        if (!completed_status.ok()) {
            return done(completed_status);
        }
        auto it = commands.find(command_id);
        if (it == commands.end() || it->second.agent_id != agent_id) {
            return done(sdk::error(sdk::Errc::not_found, "unknown command"));
        }
        it->second.state = terminal;
        completions.emplace_back(command_id, terminal);
        done({});
    }

    sdk::Status enqueue_status;
    int get_calls = 0;
    sdk::Status get_status;        // not ok: get() fails with it (e.g. Redis down)
    sdk::Status completed_status;  // not ok: completed() fails with it
    std::vector<sdk::NewCommand> enqueued;
    std::map<std::string, sdk::CommandRecord> commands;
    std::map<std::pair<std::string, std::string>, std::pair<std::string, std::string>> by_key;
    std::optional<sdk::CommandFilter> last_filter;
    std::vector<std::pair<std::string, std::string>> attached;
    std::vector<std::pair<std::string, std::string>> detached;
    std::vector<std::pair<std::string, sdk::CommandState>> completions;
    sdk::DeliverFn deliver;
};

class FakeTelemetry final : public sdk::TelemetryStore {
public:
    void store_result(sdk::CommandResult r, sdk::Callback<sdk::Result<bool>> done) override {
        const bool fresh = results.count(r.command_id) == 0;
        if (fresh) {
            results[r.command_id] = r;
        }
        defer.run([done, fresh] { done(fresh); });
    }
    void get_result(std::string id,
                    sdk::Callback<sdk::Result<std::optional<sdk::CommandResult>>> done) override {
        auto it = results.find(id);
        done(it == results.end() ? std::nullopt : std::optional(it->second));
    }
    void store_batch(sdk::TelemetryBatch b,
                     sdk::Callback<sdk::Result<sdk::IngestOutcome>> done) override {
        batches.push_back(b);
        sdk::Result<sdk::IngestOutcome> r =
            batch_status.ok() ? sdk::Result(sdk::IngestOutcome{b.points.size(), 0})
                              : sdk::Result<sdk::IngestOutcome>(batch_status);
        defer.run([done, r] { done(r); });
    }
    void query(sdk::TelemetryQuery q,
               sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) override {
        last_query = q;
        done(points);
    }

    Deferrer defer;
    sdk::Status batch_status;
    std::map<std::string, sdk::CommandResult> results;
    std::vector<sdk::TelemetryBatch> batches;
    std::vector<sdk::TelemetryPoint> points;
    std::optional<sdk::TelemetryQuery> last_query;
};

}  // namespace agenthost::testing
