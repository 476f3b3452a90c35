// A frame's JSON arena: small payloads reuse a per-thread first block, large ones get
// a heap arena, and bodies outliving the arena's thread or outgrowing its block stay
// intact. Runs under ASan+UBSan in CI (use after release, overflow, leaks).
#include "kernel/proto/frame_arena.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <thread>

namespace json = boost::json;
namespace d = agenthost::proto::detail;

namespace {

TEST(FrameArena, SmallBodiesReuseTheStashedBlock) {
    {
        json::object warm(d::make_frame_arena(200));  // primes the stash with one block
    }
    const std::size_t before = d::frame_arena_blocks_held();
    ASSERT_GE(before, 1u);
    {
        json::object body(d::make_frame_arena(200));
        body["points"] = json::array{1, 2, 3};
        body["batch_id"] = "b-1";
        EXPECT_EQ(d::frame_arena_blocks_held(), before - 1);
        EXPECT_EQ(json::serialize(body), R"({"points":[1,2,3],"batch_id":"b-1"})");
    }
    EXPECT_EQ(d::frame_arena_blocks_held(), before);
}

TEST(FrameArena, LargePayloadsBypassTheStash) {
    {
        json::object warm(d::make_frame_arena(10));
    }
    const std::size_t before = d::frame_arena_blocks_held();
    {
        json::object body(d::make_frame_arena(d::kFrameArenaBlock));
        body["blob"] = std::string(3 * d::kFrameArenaBlock, 'x');
        EXPECT_EQ(d::frame_arena_blocks_held(), before);
        EXPECT_EQ(body["blob"].as_string().size(), 3 * d::kFrameArenaBlock);
    }
    EXPECT_EQ(d::frame_arena_blocks_held(), before);
}

TEST(FrameArena, ABodyOutgrowingItsBlockStaysIntact) {
    json::object body(d::make_frame_arena(100));
    for (int i = 0; i < 200; ++i) {
        body[std::to_string(i)] = std::string(64, static_cast<char>('a' + i % 26));
    }
    ASSERT_EQ(body.size(), 200u);
    EXPECT_EQ(body["199"].as_string(), std::string(64, static_cast<char>('a' + 199 % 26)));
}

TEST(FrameArena, ABodyMayDieOnAnotherThread) {
    json::object body(d::make_frame_arena(100));
    body["agent"] = "gw-1";
    std::string seen;
    std::thread t([b = std::move(body), &seen]() mutable {
        seen = std::string(b["agent"].as_string());
        json::object gone = std::move(b);  // the arena's block joins this thread's stash
    });
    t.join();
    EXPECT_EQ(seen, "gw-1");
}

}  // namespace
