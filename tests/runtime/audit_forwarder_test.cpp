// AuditForwarder: buffer before a provider exists, replay into it, withdraw safely.
#include <vector>

#include <gtest/gtest.h>

#include "kernel/runtime/audit_forwarder.hpp"
#include "kernel/runtime/service_table.hpp"

namespace agenthost::runtime {
namespace {

class FakeSink final : public sdk::AuditSink {
public:
    void record(sdk::AuditEvent event, sdk::AuditCompletion done) override {
        actions.push_back(event.action);
        if (done) {
            done(sdk::Status::success());
        }
    }
    bool writable() const noexcept override { return writable_; }
    sdk::Status flush() override {
        ++flushes;
        return sdk::Status::success();
    }

    std::vector<std::string> actions;
    int flushes = 0;
    bool writable_ = true;
};

sdk::AuditEvent event(std::string action) {
    sdk::AuditEvent e;
    e.actor = "kernel";
    e.action = std::move(action);
    e.outcome = "success";
    e.details["n"] = 1;
    return e;
}

TEST(AuditForwarder, BuffersUntilAProviderAppearsThenReplaysInOrder) {
    ServiceTable services;
    AuditForwarder fwd(services, nullptr);
    EXPECT_TRUE(fwd.writable());
    bool acked = false;
    fwd.record(event("config.load"), [&](sdk::Status st) { acked = st.ok(); });
    fwd.record(event("plugin.load"));
    EXPECT_TRUE(acked);
    EXPECT_EQ(fwd.buffered(), 2u);

    FakeSink sink;
    ASSERT_TRUE(
        services.provide_owned("audit_file", "audit", static_cast<sdk::AuditSink*>(&sink)).ok());
    fwd.record(event("session.open"));
    EXPECT_EQ(sink.actions,
              (std::vector<std::string>{"config.load", "plugin.load", "session.open"}));
    EXPECT_EQ(fwd.buffered(), 0u);
}

TEST(AuditForwarder, FlushReplaysAndFlushesTheProvider) {
    ServiceTable services;
    AuditForwarder fwd(services, nullptr);
    EXPECT_TRUE(fwd.flush().ok()) << "nothing to flush without a provider";
    fwd.record(event("early"));
    FakeSink sink;
    ASSERT_TRUE(services.provide_raw("audit", static_cast<sdk::AuditSink*>(&sink)).ok());
    EXPECT_TRUE(fwd.flush().ok());
    EXPECT_EQ(sink.actions, std::vector<std::string>{"early"});
    EXPECT_EQ(sink.flushes, 1);
    sink.writable_ = false;
    EXPECT_FALSE(fwd.writable()) << "with a provider, writable() is the provider's";
}

TEST(AuditForwarder, KeepsTheMostRecentEventsUpToCapacity) {
    ServiceTable services;
    AuditForwarder fwd(services, nullptr, 3);
    for (int i = 0; i < 5; ++i) {
        fwd.record(event("e" + std::to_string(i)));
    }
    EXPECT_EQ(fwd.buffered(), 3u);
    EXPECT_EQ(fwd.dropped(), 2u);
    FakeSink sink;
    ASSERT_TRUE(services.provide_raw("audit", static_cast<sdk::AuditSink*>(&sink)).ok());
    ASSERT_TRUE(fwd.flush().ok());
    EXPECT_EQ(sink.actions, (std::vector<std::string>{"e2", "e3", "e4"}));
}

TEST(AuditForwarder, DefaultCapacityIsAThousand) {
    ServiceTable services;
    AuditForwarder fwd(services, nullptr);
    for (int i = 0; i < 1005; ++i) {
        fwd.record(event("e"));
    }
    EXPECT_EQ(fwd.buffered(), 1000u);
}

TEST(AuditForwarder, AfterWithdrawEventsAreBufferedAgain) {
    ServiceTable services;
    AuditForwarder fwd(services, nullptr);
    services.set_withdraw_hook([&](std::string_view cap) { fwd.on_withdraw(cap); });
    FakeSink sink;
    ASSERT_TRUE(
        services.provide_owned("audit_file", "audit", static_cast<sdk::AuditSink*>(&sink)).ok());
    fwd.record(event("a"));
    services.withdraw_owner("audit_file");
    fwd.record(event("b"));
    EXPECT_EQ(sink.actions, std::vector<std::string>{"a"});
    EXPECT_EQ(fwd.buffered(), 1u);
    EXPECT_TRUE(fwd.writable());
}

// Fail-closed (audit.fail_closed): can_audit() needs a writable provider; fail-open
// mode always admits. admit() counts refusals.
TEST(AuditForwarder, CanAuditFollowsThePolicyAndTheProvider) {
    ServiceTable services;
    AuditForwarder fwd(services, nullptr);
    EXPECT_TRUE(fwd.can_audit()) << "fail-open by default";
    fwd.set_fail_closed(true);
    EXPECT_FALSE(fwd.can_audit()) << "no provider: nothing could be made durable";
    FakeSink sink;
    ASSERT_TRUE(services.provide_raw("audit", static_cast<sdk::AuditSink*>(&sink)).ok());
    EXPECT_TRUE(fwd.can_audit());
    sink.writable_ = false;
    EXPECT_FALSE(fwd.can_audit());
    EXPECT_FALSE(fwd.admit("command.enqueue"));
    EXPECT_FALSE(fwd.admit("session.open"));
    EXPECT_EQ(fwd.refusals(), 2u);
    sink.writable_ = true;  // the provider recovered by itself
    EXPECT_TRUE(fwd.admit("command.enqueue"));
    EXPECT_EQ(fwd.refusals(), 2u);
    fwd.set_fail_closed(false);
    sink.writable_ = false;
    EXPECT_TRUE(fwd.can_audit()) << "fail-open: actions proceed, readiness still fails";
}

}  // namespace
}  // namespace agenthost::runtime
