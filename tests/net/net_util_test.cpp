// Pure helpers of kernel/net (no sockets).
#include <gtest/gtest.h>

#include "kernel/net/http_server.hpp"

namespace agenthost::net {
namespace {

TEST(NetUtil, ParseQueryDecodes) {
    auto q = parse_query("a=1&b=x%20y+z&empty=&flag&&c=%2F%zz");
    ASSERT_EQ(q.size(), 5u);
    EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"a", "1"}));
    EXPECT_EQ(q[1].second, "x y z");
    EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"empty", ""}));
    EXPECT_EQ(q[3], (std::pair<std::string, std::string>{"flag", ""}));
    EXPECT_EQ(q[4].second, "/%zz");  // a bad escape stays literal
    EXPECT_EQ(percent_decode("a+b%41", false), "a+bA");
    EXPECT_EQ(percent_decode("%4", true), "%4");
}

TEST(NetUtil, JsonErrorEscapes) {
    EXPECT_EQ(json_error("bad", "say \"hi\"\n"),
              R"({"error":{"code":"bad","message":"say \"hi\"\n"}})");
}

}  // namespace
}  // namespace agenthost::net
