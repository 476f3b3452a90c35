// exec_allowlist unit tests: config validation, argument checks, argv templates, and
// real child processes (exit codes, cleared environment, output cap, and a runaway
// process group killed on timeout and on cancel).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "plugins/exec_allowlist/allowlist_handler.hpp"
#include "plugins/exec_allowlist/program_spec.hpp"
#include "tests/gateway/support/fake_context.hpp"

namespace agenthost::plugins::exec_allowlist {
namespace {

namespace json = sdk::json;
namespace fs = std::filesystem;
using sdk::CommandState;

json::object program(json::array argv, json::object args = {}, std::int64_t timeout_s = 60,
                     json::object env = {}) {
    return {{"argv", std::move(argv)},
            {"args", std::move(args)},
            {"timeout_s", timeout_s},
            {"env", std::move(env)}};
}

json::object arg(std::string pattern, bool required = false) {
    return {{"pattern", std::move(pattern)}, {"required", required}};
}

sdk::ConfigErrors validate(json::object programs) {
    sdk::ConfigErrors errors;
    validate_config({{"programs", std::move(programs)}}, "plugins.exec_allowlist.config", errors);
    return errors;
}

bool has_error(const sdk::ConfigErrors& errors, std::string_view path, std::string_view text) {
    for (const auto& e : errors) {
        if (e.path == path && e.message.find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// A process is gone when it no longer exists or is a zombie nobody reaped yet.
bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0) {
        return errno == ESRCH;
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string a, b, state;
    stat >> a >> b >> state;
    return state == "Z" || state == "X";
}

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "ah-allow-XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() { fs::remove_all(path); }
    fs::path path;
};

TEST(AllowlistConfig, AcceptsAValidProgram) {
    auto errors = validate({{"du", program({"/usr/bin/du", "-sh", "{path}"},
                                           {{"path", arg("^/var/[a-z/]+$", true)}})}});
    EXPECT_TRUE(errors.empty()) << errors.front().path << ": " << errors.front().message;
}

TEST(AllowlistConfig, RejectsBadProgramsWithPaths) {
    TempDir tmp;
    const auto noexec = tmp.path / "noexec";
    std::ofstream(noexec) << "#!/bin/sh\n";
    chmod(noexec.c_str(), 0644);
    auto errors = validate({
        {"rel", program({"bin/du"})},
        {"missing", program({"/nonexistent/prog"})},
        {"noexec", program({noexec.string()})},
        {"undeclared", program({"/usr/bin/du", "--max-depth={depth}"})},
        {"badre", program({"/usr/bin/du"}, {{"x", arg("([a-z")}})},
        {"Bad Name", program({"/usr/bin/du"})},
    });
    const std::string p = "plugins.exec_allowlist.config.programs.";
    EXPECT_TRUE(has_error(errors, p + "rel.argv[0]", "absolute"));
    EXPECT_TRUE(has_error(errors, p + "missing.argv[0]", "does not exist"));
    EXPECT_TRUE(has_error(errors, p + "noexec.argv[0]", "not executable"));
    EXPECT_TRUE(has_error(errors, p + "undeclared.argv[1]", "{depth}"));
    EXPECT_TRUE(has_error(errors, p + "badre.args.x.pattern", "invalid regular expression"));
    EXPECT_TRUE(has_error(errors, p + "Bad Name", "program name"));
}

ProgramSpec du_spec() {
    json::object cfg{
        {"programs",
         {{"du", program({"/usr/bin/du", "-sh", "{path}", "--max-depth={depth}"},
                         {{"path", arg("^/var/[a-z/]+$", true)}, {"depth", arg("[0-9]")}})}}}};
    return parse_programs(cfg).at("du");
}

TEST(AllowlistArgs, RejectsBadArguments) {
    const ProgramSpec spec = du_spec();
    EXPECT_TRUE(check_args(spec, {{"path", "/var/log"}}).ok());
    EXPECT_FALSE(check_args(spec, {}).ok());                                       // required
    EXPECT_FALSE(check_args(spec, {{"path", "/etc"}}).ok());                       // pattern
    EXPECT_FALSE(check_args(spec, {{"path", "/var/log; rm -rf /"}}).ok());         // full match
    EXPECT_FALSE(check_args(spec, {{"path", "/var/log"}, {"depth", "12"}}).ok());  // full match
    EXPECT_FALSE(check_args(spec, {{"path", "/var/log"}, {"other", "x"}}).ok());   // undeclared
    EXPECT_FALSE(check_args(spec, {{"path", 5}}).ok());                            // not a string
    EXPECT_FALSE(check_args(spec, {{"path", "/var/" + std::string(5000, 'a')}}).ok());
}

TEST(AllowlistArgs, BuildsArgvFromTemplates) {
    const ProgramSpec spec = du_spec();
    EXPECT_EQ(build_argv(spec, {{"path", "/var/log"}, {"depth", "2"}}),
              (std::vector<std::string>{"/usr/bin/du", "-sh", "/var/log", "--max-depth=2"}));
    // Absent optional argument: its element is left out.
    EXPECT_EQ(build_argv(spec, {{"path", "/var/log"}}),
              (std::vector<std::string>{"/usr/bin/du", "-sh", "/var/log"}));
}

class AllowlistRunTest : public ::testing::Test {
protected:
    void configure(json::object programs) {
        handler_ = std::make_unique<AllowlistHandler>(
            ctx_, parse_programs({{"programs", std::move(programs)}}));
    }
    std::future<sdk::ExecResult> start(std::string name, json::object args,
                                       std::size_t cap = 64 * 1024) {
        sdk::CommandRequest r;
        r.command_id = "cmd-" + name;
        r.name = "allowlist." + name;
        r.args = std::move(args);
        r.output_cap_bytes = cap;
        EXPECT_TRUE(handler_->validate(r).ok());
        auto p = std::make_shared<std::promise<sdk::ExecResult>>();
        auto f = p->get_future();
        handler_->execute(std::move(r), [p](sdk::ExecResult res) { p->set_value(std::move(res)); });
        return f;
    }
    static sdk::ExecResult wait(std::future<sdk::ExecResult>& f) {
        EXPECT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
        return f.get();
    }
    testing::FakeContext ctx_;
    std::unique_ptr<AllowlistHandler> handler_;
};

TEST_F(AllowlistRunTest, RunsProgramAndReportsExitCode) {
    configure({{"echo", program({"/bin/echo", "{word}"}, {{"word", arg("[a-z]+", true)}})},
               {"fail", program({"/bin/sh", "-c", "echo oops >&2; exit 3"})}});
    EXPECT_EQ(handler_->commands(), (std::vector<std::string>{"allowlist.echo", "allowlist.fail"}));
    auto f = start("echo", {{"word", "hello"}});
    auto r = wait(f);
    EXPECT_EQ(r.status, CommandState::succeeded);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.output, "hello\n");
    auto f2 = start("fail", {});
    auto r2 = wait(f2);
    EXPECT_EQ(r2.status, CommandState::failed);
    EXPECT_EQ(r2.exit_code, 3);
    EXPECT_EQ(r2.output, "oops\n");  // stderr is captured too
}

TEST_F(AllowlistRunTest, EnvironmentIsOnlyWhatIsConfigured) {
    ::setenv("AGENTHOST_TEST_SECRET", "leak", 1);
    configure({{"env", program({"/usr/bin/env"}, {}, 60, {{"FOO", "bar"}})}});
    auto f = start("env", {});
    auto r = wait(f);
    EXPECT_EQ(r.output, "FOO=bar\n");
}

TEST_F(AllowlistRunTest, OutputIsCappedAndFlaggedTruncated) {
    configure({{"zeros", program({"/usr/bin/head", "-c", "1000000", "/dev/zero"})}});
    auto f = start("zeros", {}, 1000);
    auto r = wait(f);
    EXPECT_EQ(r.status, CommandState::succeeded);  // drained, so head never blocked
    EXPECT_EQ(r.output.size(), 1000u);
    EXPECT_TRUE(r.truncated);
}

// A script that starts a background child and waits: both must be gone afterwards.
class RunawayTest : public AllowlistRunTest {
protected:
    void SetUp() override {
        script_ = tmp_.path / "runaway.sh";
        std::ofstream(script_) << "#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > \"$1\"\nwait\n";
        pidfile_ = tmp_.path / "pids";
    }
    std::pair<pid_t, pid_t> read_pids() {
        pid_t a = 0, b = 0;
        EXPECT_TRUE(testing::wait_until([&] {
            std::ifstream in(pidfile_);
            return static_cast<bool>(in >> a >> b);
        }));
        return {a, b};
    }
    json::object runaway(std::int64_t timeout_s) {
        return program({"/bin/sh", script_.string(), "{pidfile}"},
                       {{"pidfile", arg("/[A-Za-z0-9_./-]+", true)}}, timeout_s,
                       {{"PATH", "/usr/bin:/bin"}});
    }
    TempDir tmp_;
    fs::path script_;
    fs::path pidfile_;
};

TEST_F(RunawayTest, TimeoutKillsTheWholeProcessGroup) {
    configure({{"runaway", runaway(1)}});
    auto f = start("runaway", {{"pidfile", pidfile_.string()}});
    auto [shell, child] = read_pids();
    ASSERT_GT(shell, 0);
    ASSERT_GT(child, 0);
    auto r = wait(f);
    EXPECT_EQ(r.status, CommandState::timed_out);
    EXPECT_FALSE(r.exit_code.has_value());
    EXPECT_TRUE(testing::wait_until([&] { return process_gone(shell) && process_gone(child); }));
}

TEST_F(RunawayTest, CancelKillsTheWholeProcessGroup) {
    configure({{"runaway", runaway(3600)}});
    auto f = start("runaway", {{"pidfile", pidfile_.string()}});
    auto [shell, child] = read_pids();
    handler_->cancel("cmd-runaway");
    auto r = wait(f);
    EXPECT_EQ(r.status, CommandState::failed);
    EXPECT_FALSE(r.exit_code.has_value());
    EXPECT_TRUE(testing::wait_until([&] { return process_gone(shell) && process_gone(child); }));
    EXPECT_EQ(handler_->running(), 0u);
}

TEST_F(RunawayTest, LeftoverChildrenAreKilledWhenTheLeaderExits) {
    // The leader exits at once, leaving its background child in the group.
    std::ofstream(script_) << "#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > \"$1\"\n";
    configure({{"runaway", runaway(3600)}});
    auto f = start("runaway", {{"pidfile", pidfile_.string()}});
    auto r = wait(f);
    auto [shell, child] = read_pids();
    EXPECT_EQ(r.status, CommandState::succeeded);
    EXPECT_TRUE(testing::wait_until([&] { return process_gone(child); }));
}

}  // namespace
}  // namespace agenthost::plugins::exec_allowlist
