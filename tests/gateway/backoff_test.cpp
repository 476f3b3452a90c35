// Full-jitter backoff: delays stay within [0, min(max, initial × 2^n)], the ceiling
// doubles up to max, reset() starts over, and delays are actually spread.
#include <gtest/gtest.h>

#include <set>

#include "kernel/gateway/backoff.hpp"

namespace agenthost::gateway {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, CeilingDoublesUpToMax) {
    Backoff b(milliseconds(100), milliseconds(1000), 42);
    std::vector<std::int64_t> ceilings;
    for (int i = 0; i < 6; ++i) {
        ceilings.push_back(b.ceiling());
        const auto d = b.next();
        EXPECT_GE(d.count(), 0);
        EXPECT_LE(d.count(), ceilings.back());
    }
    EXPECT_EQ(ceilings, (std::vector<std::int64_t>{100, 200, 400, 800, 1000, 1000}));
    b.reset();
    EXPECT_EQ(b.ceiling(), 100);
}

TEST(Backoff, DelaysAreJittered) {
    std::set<std::int64_t> seen;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        Backoff b(milliseconds(1000), milliseconds(30'000), seed);
        seen.insert(b.next().count());
    }
    EXPECT_GT(seen.size(), 10u);  // twenty gateways do not reconnect in lockstep
}

}  // namespace
}  // namespace agenthost::gateway
