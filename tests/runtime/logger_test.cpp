// Logger: component tag, fields, text quoting, JSON lines, level filtering.
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "kernel/runtime/runtime.hpp"

namespace agenthost::runtime {
namespace {

std::string capture(const std::string& format, const std::string& level,
                    const std::function<void(sdk::Logger&)>& body) {
    RuntimeOptions o;
    o.log_format = format;
    o.log_level = level;
    Runtime rt(o);
    auto log = rt.logger("plugin:demo");
    testing::internal::CaptureStderr();
    body(*log);
    return testing::internal::GetCapturedStderr();
}

TEST(Logger, TextLinesCarryComponentAndQuotedFields) {
    auto out = capture("text", "info", [](sdk::Logger& l) {
        l.info("agent connected", {{"agent_id", "gw-01"}, {"reason", "two words"}});
    });
    EXPECT_NE(out.find(" info [plugin:demo] agent connected agent_id=gw-01 reason=\"two words\""),
              std::string::npos)
        << out;
}

TEST(Logger, JsonLinesParseAndCarryFields) {
    auto out = capture("json", "info", [](sdk::Logger& l) {
        l.warn("quote \" and newline\n", {{"k", "v"}});
    });
    ASSERT_FALSE(out.empty());
    auto line = out.substr(0, out.find('\n'));
    auto v = boost::json::parse(line).as_object();
    EXPECT_EQ(v.at("level").as_string(), "warn");
    EXPECT_EQ(v.at("component").as_string(), "plugin:demo");
    EXPECT_EQ(v.at("msg").as_string(), "quote \" and newline\n");
    EXPECT_EQ(v.at("k").as_string(), "v");
    EXPECT_TRUE(v.contains("ts"));
}

TEST(Logger, LevelFilters) {
    auto out = capture("text", "warn", [](sdk::Logger& l) {
        EXPECT_FALSE(l.enabled(sdk::LogLevel::info));
        EXPECT_TRUE(l.enabled(sdk::LogLevel::error));
        l.info("hidden");
        l.error("shown");
    });
    EXPECT_EQ(out.find("hidden"), std::string::npos);
    EXPECT_NE(out.find("shown"), std::string::npos);
}

}  // namespace
}  // namespace agenthost::runtime
