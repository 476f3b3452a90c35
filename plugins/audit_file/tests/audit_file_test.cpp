// audit_file: ordered JSON lines written off the loop, 0600, redaction, failure
// handling (unwritable path, write errors), sequence recovery and fsync policy.

#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "plugins/audit_file/audit_plugin.hpp"
#include "plugins/audit_file/audit_writer.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::plugins::audit_file {
namespace {

using namespace std::chrono_literals;
using testing::FakeContext;
using testing::TempDir;

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

sdk::json::object parse_line(const std::string& line) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    EXPECT_FALSE(ec) << line;
    EXPECT_TRUE(v.is_object()) << line;
    return v.is_object() ? v.get_object() : sdk::json::object{};
}

sdk::AuditEvent event(const std::string& action, sdk::json::object details = {}) {
    return sdk::AuditEvent{"operator:dev", action, "agent-1", "success", std::move(details)};
}

class AuditFileTest : public ::testing::Test {
protected:
    FakeContext ctx;
    TempDir dir{"audit-test"};
    AuditConfig cfg{dir.file("audit.log"), FsyncPolicy::interval, 1000};

    std::shared_ptr<AuditFileWriter> open_writer() {
        auto w = AuditFileWriter::create(ctx, cfg);
        EXPECT_TRUE(w->open().ok());
        return w;
    }
};

TEST_F(AuditFileTest, RecordsAppearInOrderAsJsonLinesWrittenOffTheLoop) {
    auto w = open_writer();
    EXPECT_TRUE(w->writable());
    std::vector<int> completed;
    std::vector<sdk::Status> statuses;
    auto record = [&](int i) {
        w->record(event("command.enqueue", {{"n", i}}), [&, i](sdk::Status st) {
            completed.push_back(i);
            statuses.push_back(st);
        });
    };
    for (int i = 0; i < 3; ++i) {
        record(i);
    }
    EXPECT_TRUE(completed.empty()) << "record() must not write inline";
    EXPECT_TRUE(read_lines(cfg.path).empty());
    EXPECT_EQ(ctx.blocking_impl.pending(), 1u) << "one write job on the blocking pool";
    ctx.advance(1500ms);  // runs the pool: three records written
    EXPECT_EQ(completed.size(), 3u);
    record(3);
    record(4);
    ctx.run_until_idle();

    EXPECT_EQ(completed, (std::vector<int>{0, 1, 2, 3, 4}));
    for (const auto& st : statuses) {
        EXPECT_TRUE(st.ok()) << st.message();
    }
    const auto lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), 5u);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        auto o = parse_line(lines[i]);
        EXPECT_EQ(o.at("seq").to_number<std::uint64_t>(), i + 1);
        EXPECT_EQ(o.at("actor").as_string(), "operator:dev");
        EXPECT_EQ(o.at("action").as_string(), "command.enqueue");
        EXPECT_EQ(o.at("target").as_string(), "agent-1");
        EXPECT_EQ(o.at("outcome").as_string(), "success");
        EXPECT_EQ(o.at("details").at("n").to_number<int>(), static_cast<int>(i));
        EXPECT_EQ(o.at("ts").as_string(),
                  i < 3 ? "2026-11-27T08:00:00.000Z" : "2026-11-27T08:00:01.500Z");
    }
    EXPECT_EQ(w->last_seq(), 5u);
    EXPECT_EQ(ctx.metrics_impl.counter_value("audit_records_total"), 5u);
}

// The log removed (or replaced) under the writer: records written to the old inode
// would be lost with it, so the next batch notices (the open file's identity against
// the path's) and continues the chain in a new file at the path.
TEST_F(AuditFileTest, RemovedOrReplacedLogIsReopenedAtThePath) {
    auto w = open_writer();
    w->record(event("first"), {});
    ctx.run_until_idle();
    ASSERT_EQ(read_lines(cfg.path).size(), 1u);
    ASSERT_EQ(std::remove(cfg.path.c_str()), 0);
    sdk::Status st = sdk::error(sdk::Errc::internal, "not completed");
    w->record(event("second"), [&](sdk::Status s) { st = s; });
    ctx.run_until_idle();
    EXPECT_TRUE(st.ok()) << st.message();
    auto lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), 1u) << "a new file at the path";
    EXPECT_EQ(parse_line(lines[0]).at("action").as_string(), "second");
    EXPECT_EQ(parse_line(lines[0]).at("seq").to_number<std::uint64_t>(), 2u);
    // Replaced by another file (e.g. a careless rotation): the same.
    const std::string moved = dir.file("moved.log");
    ASSERT_EQ(std::rename(cfg.path.c_str(), moved.c_str()), 0);
    { std::ofstream(cfg.path) << ""; }
    w->record(event("third"), {});
    ctx.run_until_idle();
    lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(parse_line(lines[0]).at("action").as_string(), "third");
    EXPECT_EQ(read_lines(moved).size(), 1u) << "nothing more went to the old inode";
    w->close();
}

TEST_F(AuditFileTest, ControlCharactersCannotForgeALine) {
    auto w = open_writer();
    auto e = event("auth.failure");
    e.target = "evil\n{\"seq\":99,\"action\":\"forged\"}";
    w->record(std::move(e), {});
    ctx.run_until_idle();
    const auto lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(parse_line(lines[0]).at("target").as_string(),
              "evil\n{\"seq\":99,\"action\":\"forged\"}");
}

TEST_F(AuditFileTest, FileIsOwnerOnly) {
    auto w = open_writer();
    struct stat st {};
    ASSERT_EQ(::stat(cfg.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);

    // A pre-existing world-readable log is tightened.
    const std::string loose = dir.file("loose.log");
    { std::ofstream(loose) << ""; }
    ASSERT_EQ(::chmod(loose.c_str(), 0644), 0);
    auto w2 = AuditFileWriter::create(ctx, AuditConfig{loose, FsyncPolicy::never, 1000});
    ASSERT_TRUE(w2->open().ok());
    ASSERT_EQ(::stat(loose.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_F(AuditFileTest, SecretLookingDetailsAreRedacted) {
    auto w = open_writer();
    sdk::json::object details;
    details["token"] = "tok-SECRET1";
    details["Api_Key"] = "key-SECRET2";
    details["agent_id"] = "agent-7";
    details["nested"] = sdk::json::object{{"password", "pw-SECRET3"}, {"reason", "bad mac"}};
    details["list"] = sdk::json::array{sdk::json::object{{"client_secret", "SECRET4"}}};
    w->record(event("auth.failure", details), {});
    ctx.run_until_idle();
    const auto lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].find("SECRET"), std::string::npos) << lines[0];
    auto d = parse_line(lines[0]).at("details").as_object();
    EXPECT_EQ(d.at("token").as_string(), "[redacted]");
    EXPECT_EQ(d.at("Api_Key").as_string(), "[redacted]");
    EXPECT_EQ(d.at("agent_id").as_string(), "agent-7");
    EXPECT_EQ(d.at("nested").at("password").as_string(), "[redacted]");
    EXPECT_EQ(d.at("nested").at("reason").as_string(), "bad mac");
    EXPECT_EQ(d.at("list").at(0).at("client_secret").as_string(), "[redacted]");
}

TEST_F(AuditFileTest, UnwritablePathFailsOpenAndEveryRecord) {
    cfg.path = dir.file("missing-dir/audit.log");
    auto w = AuditFileWriter::create(ctx, cfg);
    auto st = w->open();
    EXPECT_EQ(st.code(), sdk::Errc::unavailable);
    EXPECT_NE(st.message().find("missing-dir"), std::string::npos);
    EXPECT_FALSE(w->writable());
    std::optional<sdk::Status> got;
    w->record(event("x.y"), [&](sdk::Status s) { got = s; });
    ASSERT_TRUE(got.has_value()) << "a refused record completes at once";
    EXPECT_FALSE(got->ok());
    EXPECT_FALSE(w->flush().ok());

    AuditFilePlugin plugin(ctx, cfg);
    EXPECT_FALSE(plugin.start().ok()) << "no audit log, no start";
}

TEST_F(AuditFileTest, WriteErrorTurnsTheSinkUnwritable) {
    cfg.path = "/dev/full";  // opens fine, every write fails with ENOSPC
    cfg.checkpoint_path = dir.file("audit.checkpoints");
    AuditFilePlugin plugin(ctx, cfg);
    ASSERT_TRUE(plugin.start().ok());
    auto& w = plugin.writer();
    EXPECT_TRUE(w.writable());
    EXPECT_EQ(ctx.health_impl.run("audit:writable")->state, sdk::HealthState::pass);

    std::optional<sdk::Status> first;
    w.record(event("x.y"), [&](sdk::Status s) { first = s; });
    ctx.run_until_idle();
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->code(), sdk::Errc::unavailable);
    EXPECT_FALSE(w.writable());
    EXPECT_GE(ctx.metrics_impl.counter_value("audit_write_errors_total").value_or(0), 1u);
    EXPECT_EQ(ctx.health_impl.run("audit:writable")->state, sdk::HealthState::fail);
    EXPECT_TRUE(ctx.health_impl.affects_readiness("audit:writable"));
    EXPECT_FALSE(ctx.health().ready());

    std::optional<sdk::Status> second;
    w.record(event("x.y"), [&](sdk::Status s) { second = s; });
    ASSERT_TRUE(second.has_value());
    EXPECT_FALSE(second->ok());
    plugin.stop();
}

TEST_F(AuditFileTest, SequenceContinuesAcrossRestartsAndTornLines) {
    {
        auto w = open_writer();
        for (int i = 0; i < 3; ++i) {
            w->record(event("a.b"), {});
        }
        ctx.run_until_idle();
        w->close();
    }
    { std::ofstream(cfg.path, std::ios::app) << "{\"seq\":4,\"ts\":\"2026-"; }  // crash mid-line
    auto w = open_writer();
    // The torn line is not hidden: an explicit, sealed audit.chain_break (seq 4) links
    // the new records to seq 3, the last one that verifies (README: "Restart").
    EXPECT_EQ(w->last_seq(), 4u);
    w->record(event("after.restart"), {});
    ctx.run_until_idle();
    const auto lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), 6u);
    auto brk = parse_line(lines[4]);
    EXPECT_EQ(brk.at("seq").to_number<int>(), 4);
    EXPECT_EQ(brk.at("action").as_string(), "audit.chain_break");
    EXPECT_EQ(brk.at("details").at("last_good_seq").to_number<int>(), 3);
    EXPECT_EQ(brk.at("prev").as_string(), parse_line(lines[2]).at("mac").as_string());
    auto last = parse_line(lines[5]);
    EXPECT_EQ(last.at("seq").to_number<int>(), 5);
    EXPECT_EQ(last.at("action").as_string(), "after.restart");
}

TEST_F(AuditFileTest, FsyncPolicies) {
    cfg.fsync = FsyncPolicy::always;
    auto always = open_writer();
    always->record(event("a"), {});
    ctx.run_until_idle();
    EXPECT_EQ(always->fsync_count(), 1u);
    always->close();

    cfg.path = dir.file("interval.log");
    cfg.fsync = FsyncPolicy::interval;
    auto interval = open_writer();
    interval->record(event("a"), {});
    ctx.run_until_idle();
    EXPECT_EQ(interval->fsync_count(), 0u) << "within the interval: written, not yet synced";
    ctx.advance(1s);
    EXPECT_EQ(interval->fsync_count(), 1u);
    ctx.advance(5s);
    EXPECT_EQ(interval->fsync_count(), 1u) << "nothing new to sync";
    interval->close();
    EXPECT_EQ(ctx.scheduler_impl.pending_timers(), 0u);

    cfg.path = dir.file("never.log");
    cfg.fsync = FsyncPolicy::never;
    auto never = open_writer();
    never->record(event("a"), {});
    ctx.advance(3s);  // (a checkpoint, due after checkpoint_interval_ms, fsyncs first)
    EXPECT_EQ(never->fsync_count(), 0u);
    EXPECT_TRUE(never->flush().ok());
    EXPECT_EQ(never->fsync_count(), 1u);
}

TEST_F(AuditFileTest, ConcurrentRecordersKeepSequenceOrderInTheFile) {
    ctx.blocking_impl.set_mode(testing::FakeBlockingPool::Mode::threaded);
    auto w = open_writer();
    constexpr int threads = 4;
    constexpr int per_thread = 100;
    std::atomic<int> ok{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                w->record(event("c.d"), [&](sdk::Status st) { ok += st.ok() ? 1 : 0; });
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    ASSERT_TRUE(testing::wait_until([&] { return ok.load() == threads * per_thread; }));
    ASSERT_TRUE(w->flush().ok());
    const auto lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(threads * per_thread));
    for (std::size_t i = 0; i < lines.size(); ++i) {
        ASSERT_EQ(parse_line(lines[i]).at("seq").to_number<std::uint64_t>(), i + 1);
    }
    w->close();
}

TEST_F(AuditFileTest, PluginDefaultsToStateDirAndRegistersTheSink) {
    AuditFilePlugin plugin(ctx, AuditConfig{});
    EXPECT_EQ(plugin.writer().path(), ctx.state_dir() + "/audit.log");
    ASSERT_TRUE(plugin.start().ok());
    auto* sink = static_cast<sdk::AuditSink*>(ctx.services().find_raw(sdk::capability::audit));
    ASSERT_EQ(sink, &plugin.writer());
    sink->record(event("plugin.load"), {});
    ctx.run_until_idle();
    plugin.stop();
    EXPECT_EQ(read_lines(ctx.state_dir() + "/audit.log").size(), 1u);
    std::optional<sdk::Status> after;
    sink->record(event("late"), [&](sdk::Status s) { after = s; });
    ASSERT_TRUE(after.has_value());
    EXPECT_FALSE(after->ok()) << "a stopped sink refuses";
}

TEST(AuditConfigTest, SchemaDefaults) {
    sdk::json::object filled;
    for (const auto& f : config_schema()) {
        ASSERT_TRUE(f.default_value.has_value()) << f.key;
        filled[f.key] = *f.default_value;
    }
    const AuditConfig c = parse_config(filled);
    EXPECT_EQ(c.path, "");
    EXPECT_EQ(c.fsync, FsyncPolicy::interval);
    EXPECT_EQ(c.fsync_interval_ms, 1000);
    filled["fsync"] = "always";
    EXPECT_EQ(parse_config(filled).fsync, FsyncPolicy::always);
}

}  // namespace
}  // namespace agenthost::plugins::audit_file
