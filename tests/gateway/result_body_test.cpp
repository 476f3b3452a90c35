// make_result_body: output cap, UTF-8 boundaries, base64 for binary, exit_code rules.
#include <gtest/gtest.h>

#include "kernel/gateway/result_body.hpp"

namespace agenthost::gateway {
namespace {

using sdk::CommandState;

sdk::ExecResult res(std::string out, CommandState st = CommandState::succeeded) {
    sdk::ExecResult r;
    r.status = st;
    r.output = std::move(out);
    r.exit_code = 0;
    r.started_ms = 5;
    r.finished_ms = 7;
    return r;
}

TEST(ResultBody, PlainUtf8) {
    auto b = make_result_body("c", res("héllo"), 1024);
    EXPECT_EQ(b.at("output"), "héllo");
    EXPECT_EQ(b.at("output_encoding"), "utf-8");
    EXPECT_EQ(b.at("truncated"), false);
    EXPECT_EQ(b.at("exit_code"), 0);
    EXPECT_EQ(b.at("started_at"), 5);
    EXPECT_EQ(b.at("finished_at"), 7);
}

TEST(ResultBody, CutThroughAMultibyteCharacterStaysUtf8) {
    // "aé" is 3 bytes; a cap of 2 splits the é.
    auto b = make_result_body("c", res("a\xc3\xa9"), 2);
    EXPECT_EQ(b.at("output"), "a");
    EXPECT_EQ(b.at("output_encoding"), "utf-8");
    EXPECT_EQ(b.at("truncated"), true);
}

TEST(ResultBody, BinaryIsBase64) {
    auto b = make_result_body("c", res(std::string("\xff\x00\x01", 3)), 1024);
    EXPECT_EQ(b.at("output_encoding"), "base64");
    EXPECT_EQ(b.at("output"), "/wAB");
}

TEST(ResultBody, CapNeverExceedsTheProtocolLimit) {
    auto b = make_result_body("c", res(std::string(100'000, 'x')), 1 << 20);
    EXPECT_EQ(b.at("output").as_string().size(), 64u * 1024);
    EXPECT_EQ(b.at("truncated"), true);
}

TEST(ResultBody, ExitCodeOnlyWhenTheCommandRan) {
    auto r = res("x", CommandState::timed_out);
    r.exit_code = 9;
    EXPECT_TRUE(make_result_body("c", r, 10).at("exit_code").is_null());
}

}  // namespace
}  // namespace agenthost::gateway
