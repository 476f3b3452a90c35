#include <gtest/gtest.h>

#include "kernel/backend/session_registry.hpp"

namespace agenthost::backend {
namespace {

struct RecordingSession : LiveSession {
    void terminate(std::uint16_t code, std::string reason) override {
        codes.push_back(code);
        reasons.push_back(std::move(reason));
    }
    std::vector<std::uint16_t> codes;
    std::vector<std::string> reasons;
};

TEST(SessionRegistryTest, RemoveOnlyForTheOwningSession) {
    SessionRegistry reg;
    auto s = std::make_shared<RecordingSession>();
    reg.add("gw-01", "s1", s);
    reg.remove("gw-01", "s0");  // an older session's close must not drop the new one
    EXPECT_TRUE(reg.contains("gw-01"));
    reg.remove("gw-01", "s1");
    EXPECT_FALSE(reg.contains("gw-01"));
}

TEST(SessionRegistryTest, TerminateReachesTheLiveSession) {
    SessionRegistry reg;
    auto s = std::make_shared<RecordingSession>();
    reg.add("gw-01", "s1", s);
    EXPECT_TRUE(reg.terminate("gw-01", 4409, "released"));
    ASSERT_EQ(s->codes.size(), 1u);
    EXPECT_EQ(s->codes[0], 4409);
    EXPECT_FALSE(reg.terminate("gw-02", 4409, "released"));
}

TEST(SessionRegistryTest, ExpiredSessionIsNotTerminated) {
    SessionRegistry reg;
    {
        auto s = std::make_shared<RecordingSession>();
        reg.add("gw-01", "s1", s);
    }
    EXPECT_FALSE(reg.terminate("gw-01", 4403, "revoked"));
}

TEST(SessionRegistryTest, TerminateAllReachesEverySession) {
    SessionRegistry reg;
    auto a = std::make_shared<RecordingSession>();
    auto b = std::make_shared<RecordingSession>();
    reg.add("gw-01", "s1", a);
    reg.add("gw-02", "s2", b);
    reg.terminate_all(1001, "draining");
    EXPECT_EQ(a->codes, std::vector<std::uint16_t>{1001});
    EXPECT_EQ(b->codes, std::vector<std::uint16_t>{1001});
    EXPECT_EQ(reg.size(), 2u);
}

}  // namespace
}  // namespace agenthost::backend
