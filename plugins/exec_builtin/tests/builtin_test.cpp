// exec_builtin unit tests: argument validation, echo, cancellable sleep, sysinfo.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include <boost/json/parse.hpp>

#include "plugins/exec_builtin/builtin_handler.hpp"
#include "tests/gateway/support/fake_context.hpp"

namespace agenthost::plugins::exec_builtin {
namespace {

namespace json = sdk::json;
using sdk::CommandState;

sdk::CommandRequest req(std::string name, json::object args = {}) {
    sdk::CommandRequest r;
    r.command_id = "c-" + name;
    r.name = std::move(name);
    r.args = std::move(args);
    return r;
}

// Runs a command and waits (bounded) for its single completion.
sdk::ExecResult run(BuiltinHandler& h, sdk::CommandRequest r,
                    std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto p = std::make_shared<std::promise<sdk::ExecResult>>();
    auto f = p->get_future();
    h.execute(std::move(r), [p](sdk::ExecResult res) { p->set_value(std::move(res)); });
    EXPECT_EQ(f.wait_for(limit), std::future_status::ready);
    return f.get();
}

class BuiltinTest : public ::testing::Test {
protected:
    testing::FakeContext ctx;
    BuiltinHandler handler{ctx, BuiltinOptions{}};
};

TEST_F(BuiltinTest, ListsItsCommands) {
    auto names = handler.commands();
    EXPECT_EQ(names,
              (std::vector<std::string>{"builtin.echo", "builtin.sleep", "builtin.sysinfo"}));
}

TEST_F(BuiltinTest, ValidateRejectsBadArgs) {
    EXPECT_FALSE(handler.validate(req("builtin.echo", {{"text", 5}})).ok());
    EXPECT_FALSE(handler.validate(req("builtin.sleep", {})).ok());
    EXPECT_FALSE(handler.validate(req("builtin.sleep", {{"seconds", "1"}})).ok());
    EXPECT_FALSE(handler.validate(req("builtin.sleep", {{"seconds", 1}, {"ms", 5}})).ok());
    EXPECT_FALSE(handler.validate(req("builtin.sleep", {{"ms", 1.5}})).ok());
    EXPECT_FALSE(handler.validate(req("builtin.sleep", {{"ms", -1}})).ok());
    EXPECT_FALSE(handler.validate(req("builtin.sleep", {{"seconds", 999999}})).ok());
    EXPECT_FALSE(handler.validate(req("builtin.sysinfo", {{"x", 1}})).ok());
    EXPECT_FALSE(handler.validate(req("builtin.nope")).ok());
    EXPECT_TRUE(handler.validate(req("builtin.echo", {{"text", "hi"}})).ok());
    EXPECT_TRUE(handler.validate(req("builtin.sleep", {{"seconds", 0.5}})).ok());
    EXPECT_TRUE(handler.validate(req("builtin.sleep", {{"ms", 10}})).ok());
    EXPECT_TRUE(handler.validate(req("builtin.sysinfo")).ok());
}

TEST_F(BuiltinTest, EchoReturnsTextOrArgsJson) {
    auto r = run(handler, req("builtin.echo", {{"text", "hello"}}));
    EXPECT_EQ(r.status, CommandState::succeeded);
    EXPECT_EQ(r.output, "hello");
    EXPECT_EQ(r.exit_code, 0);
    auto r2 = run(handler, req("builtin.echo", {{"a", 1}}));
    EXPECT_EQ(json::parse(r2.output), json::parse(R"({"a":1})"));
}

TEST_F(BuiltinTest, EchoHonoursOutputCap) {
    auto r = req("builtin.echo", {{"text", std::string(100, 'x')}});
    r.output_cap_bytes = 10;
    auto res = run(handler, std::move(r));
    EXPECT_EQ(res.output.size(), 10u);
    EXPECT_TRUE(res.truncated);
}

TEST_F(BuiltinTest, SleepCompletesAfterItsDuration) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run(handler, req("builtin.sleep", {{"ms", 50}}));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
    EXPECT_EQ(r.status, CommandState::succeeded);
    EXPECT_EQ(r.exit_code, 0);
}

TEST_F(BuiltinTest, SleepIsCancellable) {
    auto p = std::make_shared<std::promise<sdk::ExecResult>>();
    auto f = p->get_future();
    handler.execute(req("builtin.sleep", {{"seconds", 3600}}),
                    [p](sdk::ExecResult res) { p->set_value(std::move(res)); });
    handler.cancel("c-builtin.sleep");
    ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    auto r = f.get();
    EXPECT_EQ(r.status, CommandState::failed);
    EXPECT_FALSE(r.exit_code.has_value());
    EXPECT_EQ(ctx.sched.pending(), 0u);  // the timer is gone, not just ignored
}

TEST_F(BuiltinTest, SysinfoReadsProc) {
    auto r = run(handler, req("builtin.sysinfo"));
    ASSERT_EQ(r.status, CommandState::succeeded) << r.output;
    auto doc = json::parse(r.output).as_object();
    EXPECT_TRUE(doc.contains("hostname"));
    EXPECT_TRUE(doc.contains("kernel"));
    EXPECT_GT(doc.at("uptime_s").as_double(), 0.0);
    EXPECT_TRUE(doc.at("load").as_object().contains("1m"));
}

TEST(BuiltinSysinfo, FailsCleanlyWithoutProc) {
    auto r = read_sysinfo("/nonexistent-proc");
    EXPECT_FALSE(r.ok());
}

TEST(BuiltinSysinfo, ParsesFixture) {
    auto dir = std::filesystem::temp_directory_path() / ("ah-proc-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "uptime") << "1234.50 99.0\n";
    std::ofstream(dir / "loadavg") << "0.25 0.50 0.75 1/100 42\n";
    auto r = read_sysinfo(dir.string());
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(r.ok());
    auto doc = json::parse(r.value()).as_object();
    EXPECT_DOUBLE_EQ(doc.at("uptime_s").as_double(), 1234.5);
    EXPECT_DOUBLE_EQ(doc.at("load").at("15m").as_double(), 0.75);
}

}  // namespace
}  // namespace agenthost::plugins::exec_builtin
