// audit_file: the keyed chain (prev/mac), checkpoints in the second sink, rotation that
// carries the chain, restart from the tail (chain_break on damage), and fail-closed
// behaviour: a log replaced by a directory makes the sink unwritable, a probe write
// recovers it; a stuck queue reads as unwritable after write_timeout_ms.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "kernel/crypto/audit_chain.hpp"
#include "kernel/util/encoding.hpp"
#include "plugins/audit_file/audit_plugin.hpp"
#include "plugins/audit_file/audit_writer.hpp"
#include "plugins/audit_file/chain_tail.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::plugins::audit_file {
namespace {

using namespace std::chrono_literals;
namespace chain = crypto::audit_chain;
namespace fs = std::filesystem;
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

sdk::json::object obj(const std::string& line) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    return !ec && v.is_object() ? v.get_object() : sdk::json::object{};
}

std::string s(const sdk::json::object& o, const char* k) {
    return o.contains(k) && o.at(k).is_string() ? std::string(o.at(k).as_string()) : "";
}

sdk::AuditEvent event(const std::string& action) {
    return sdk::AuditEvent{"operator:dev", action, "agent-1", "success", {{"n", 1}}};
}

// Walks `lines` as one chain from genesis; returns "" or the first problem.
std::string check_chain(const std::vector<std::string>& lines, const std::string& key,
                        std::uint64_t first_seq = 1,
                        std::string prev = std::string(chain::genesis)) {
    std::uint64_t seq = first_seq;
    for (const auto& line : lines) {
        auto o = obj(line);
        if (!chain::verify_line(key, chain::LineKind::record, line)) {
            return "mac at seq " + std::to_string(seq);
        }
        if (o.at("seq").to_number<std::uint64_t>() != seq) {
            return "seq " + std::to_string(seq);
        }
        if (s(o, "prev") != prev) {
            return "prev at seq " + std::to_string(seq);
        }
        prev = s(o, "mac");
        ++seq;
    }
    return "";
}

class ChainTest : public ::testing::Test {
protected:
    FakeContext ctx;
    TempDir dir{"audit-chain"};
    std::string key_bytes = std::string(32, '\x5a');
    AuditConfig cfg;

    void SetUp() override {
        const std::string key_file = dir.file("audit.key");
        std::ofstream(key_file) << util::base64_encode(key_bytes) << "\n";
        ::chmod(key_file.c_str(), 0600);
        cfg.path = dir.file("audit.log");
        cfg.key_file = key_file;
        cfg.fsync = FsyncPolicy::never;
    }

    std::shared_ptr<AuditFileWriter> open_writer() {
        auto w = AuditFileWriter::create(ctx, cfg);
        auto st = w->open();
        EXPECT_TRUE(st.ok()) << st.message();
        return w;
    }

    void write_n(AuditFileWriter& w, int n, const std::string& action = "command.enqueue") {
        for (int i = 0; i < n; ++i) {
            w.record(event(action), {});
        }
        ctx.run_until_idle();
    }
};

TEST_F(ChainTest, RecordsAreChainedUnderTheKey) {
    auto w = open_writer();
    EXPECT_TRUE(w->keyed());
    write_n(*w, 5);
    const auto lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), 5u);
    EXPECT_EQ(check_chain(lines, key_bytes), "");
    // The member order is fixed (audit_chain.hpp): the MAC covers the exact bytes.
    EXPECT_EQ(lines[0].rfind("{\"seq\":1,\"ts\":", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find("\"details\":{\"n\":1},\"prev\":\"0000"), std::string::npos);
    // Another key (an attacker recomputing the chain) does not verify.
    EXPECT_FALSE(chain::verify_line(std::string(32, 'x'), chain::LineKind::record, lines[0]));
    // Editing one byte breaks that record's MAC.
    std::string edited = lines[2];
    edited.replace(edited.find("agent-1"), 7, "agent-2");
    EXPECT_FALSE(chain::verify_line(key_bytes, chain::LineKind::record, edited));
}

TEST_F(ChainTest, CheckpointsGoToTheSecondSinkEveryNRecordsEveryTSecondsAndOnClose) {
    cfg.checkpoint_every = 3;
    cfg.checkpoint_interval_ms = 2000;
    cfg.probe_interval_ms = 1000;
    auto w = open_writer();
    const std::string cp = cfg.path + ".checkpoints";
    for (int i = 0; i < 7; ++i) {  // one batch per record: checkpoints at 3 and 6
        write_n(*w, 1);
    }
    auto cps = read_lines(cp);
    ASSERT_EQ(cps.size(), 2u);
    EXPECT_EQ(obj(cps[0]).at("seq").to_number<int>(), 3);
    EXPECT_EQ(obj(cps[1]).at("seq").to_number<int>(), 6);
    const auto lines = read_lines(cfg.path);
    EXPECT_EQ(s(obj(cps[1]), "head"), s(obj(lines[5]), "mac"));
    for (const auto& c : cps) {
        EXPECT_TRUE(chain::verify_line(key_bytes, chain::LineKind::checkpoint, c)) << c;
        EXPECT_FALSE(chain::verify_line(key_bytes, chain::LineKind::record, c))
            << "a checkpoint MAC never passes as a record MAC";
    }
    ctx.advance(2500ms);  // record 7 waited T: a time-based checkpoint
    cps = read_lines(cp);
    ASSERT_EQ(cps.size(), 3u);
    EXPECT_EQ(obj(cps[2]).at("seq").to_number<int>(), 7);
    ctx.advance(5s);
    EXPECT_EQ(read_lines(cp).size(), 3u) << "nothing new, no checkpoint";
    write_n(*w, 1);
    w->close();
    cps = read_lines(cp);
    ASSERT_EQ(cps.size(), 4u) << "close() anchors the tail";
    EXPECT_EQ(obj(cps[3]).at("seq").to_number<int>(), 8);
    struct stat st {};
    ASSERT_EQ(::stat(cp.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
    EXPECT_EQ(ctx.scheduler_impl.pending_timers(), 0u);
}

TEST_F(ChainTest, RotationCarriesTheChainAcrossFiles) {
    cfg.max_bytes = 4096;
    auto w = open_writer();
    for (int i = 0; i < 60; ++i) {
        write_n(*w, 1);
    }
    w->close();
    std::vector<std::string> rotated;
    for (const auto& e : fs::directory_iterator(dir.path())) {
        const auto name = e.path().filename().string();
        if (name.rfind("audit.log.0", 0) == 0) {
            rotated.push_back(e.path().string());
        }
    }
    std::sort(rotated.begin(), rotated.end());
    ASSERT_GE(rotated.size(), 2u);
    EXPECT_EQ(w->rotations(), rotated.size());
    std::vector<std::string> all;
    for (const auto& f : rotated) {
        EXPECT_LE(fs::file_size(f), 4096u) << f;
        const auto lines = read_lines(f);
        ASSERT_FALSE(lines.empty());
        // Named after the seq of its last record.
        EXPECT_EQ(f,
                  rotated_name(cfg.path, obj(lines.back()).at("seq").to_number<std::uint64_t>()));
        all.insert(all.end(), lines.begin(), lines.end());
    }
    const auto live = read_lines(cfg.path);
    all.insert(all.end(), live.begin(), live.end());
    ASSERT_EQ(all.size(), 60u);
    EXPECT_EQ(check_chain(all, key_bytes), "") << "the first record of each file links to the last "
                                                  "of the previous one";
    EXPECT_EQ(newest_rotated(cfg.path), rotated.back());
}

TEST_F(ChainTest, RestartContinuesTheChainEvenRightAfterARotation) {
    cfg.max_bytes = 4096;
    {
        auto w = open_writer();
        write_n(*w, 5);
        w->close();
    }
    {
        auto w = open_writer();
        EXPECT_EQ(w->last_seq(), 5u);
        write_n(*w, 5);
        w->close();
    }
    EXPECT_EQ(check_chain(read_lines(cfg.path), key_bytes), "");
    // An empty live file (rotated just before a stop): the chain continues from the
    // newest rotated file.
    const std::string rotated = rotated_name(cfg.path, 10);
    fs::rename(cfg.path, rotated);
    auto w = open_writer();
    EXPECT_EQ(w->last_seq(), 10u);
    write_n(*w, 2);
    w->close();
    auto all = read_lines(rotated);
    auto live = read_lines(cfg.path);
    all.insert(all.end(), live.begin(), live.end());
    EXPECT_EQ(check_chain(all, key_bytes), "");
}

TEST_F(ChainTest, EditedTailAtRestartIsRecordedAsAChainBreakNotHidden) {
    {
        auto w = open_writer();
        write_n(*w, 4);
        w->close();
    }
    auto lines = read_lines(cfg.path);
    lines[3].replace(lines[3].find("command.enqueue"), 15, "command.dequeue");
    {
        std::ofstream out(cfg.path, std::ios::trunc);
        for (const auto& l : lines) {
            out << l << "\n";
        }
    }
    auto w = open_writer();
    write_n(*w, 1);
    w->close();
    lines = read_lines(cfg.path);
    ASSERT_EQ(lines.size(), 6u);
    auto brk = obj(lines[4]);
    EXPECT_EQ(s(brk, "action"), "audit.chain_break");
    EXPECT_EQ(brk.at("seq").to_number<int>(), 5) << "seq stays unique past the damaged line";
    EXPECT_EQ(s(brk, "prev"), s(obj(lines[2]), "mac")) << "links to the last good record (3)";
    EXPECT_EQ(s(brk.at("details").as_object(), "reason"), "mac mismatch");
    EXPECT_TRUE(chain::verify_line(key_bytes, chain::LineKind::record, lines[4]));
    EXPECT_TRUE(chain::verify_line(key_bytes, chain::LineKind::record, lines[5]));
}

TEST_F(ChainTest, MissingOrWeakKeyStopsStartUp) {
    cfg.key_file = dir.file("nope.key");
    auto w = AuditFileWriter::create(ctx, cfg);
    EXPECT_FALSE(w->open().ok());
    const std::string weak = dir.file("weak.key");
    std::ofstream(weak) << util::base64_encode(std::string(16, 'w')) << "\n";
    cfg.key_file = weak;
    auto w2 = AuditFileWriter::create(ctx, cfg);
    auto st = w2->open();
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("16 bytes"), std::string::npos) << st.message();
    EXPECT_EQ(st.message().find(util::base64_encode(std::string(16, 'w'))), std::string::npos);

    sdk::ConfigErrors errors;
    validate_config(sdk::json::object{{"key_file", weak}}, "plugins.audit_file.config", errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "plugins.audit_file.config.key_file");
}

TEST_F(ChainTest, LogReplacedByADirectoryFailsThenAProbeWriteRecovers) {
    cfg.probe_interval_ms = 500;
    AuditFilePlugin plugin(ctx, cfg);
    ASSERT_TRUE(plugin.start().ok());
    auto& w = plugin.writer();
    write_n(w, 3);
    const std::string saved = dir.file("saved.log");
    fs::copy_file(cfg.path, saved);

    // Root ignores permissions; a directory at the path really cannot be written.
    fs::remove(cfg.path);
    fs::create_directory(cfg.path);
    std::optional<sdk::Status> st;
    w.record(event("command.enqueue"), [&](sdk::Status s) { st = s; });
    ctx.run_until_idle();
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->code(), sdk::Errc::unavailable);
    EXPECT_FALSE(w.writable());
    EXPECT_EQ(ctx.health_impl.run("audit:writable")->state, sdk::HealthState::fail);
    ctx.advance(2s);  // probes keep failing while the directory is there
    EXPECT_FALSE(w.writable());
    EXPECT_EQ(w.last_seq(), 3u) << "a failed write consumes no seq";

    fs::remove(cfg.path);
    ctx.advance(600ms);  // the next probe writes audit.sink_recovered
    EXPECT_TRUE(w.writable());
    EXPECT_EQ(ctx.health_impl.run("audit:writable")->state, sdk::HealthState::pass);
    write_n(w, 1);
    plugin.stop();
    auto all = read_lines(saved);
    const auto live = read_lines(cfg.path);
    ASSERT_EQ(live.size(), 2u);
    EXPECT_EQ(s(obj(live[0]), "action"), "audit.sink_recovered");
    all.insert(all.end(), live.begin(), live.end());
    EXPECT_EQ(check_chain(all, key_bytes), "") << "the chain continues across the outage";
}

TEST_F(ChainTest, AStuckQueueReadsAsUnwritableAfterTheTimeoutAndTheQueueIsBounded) {
    cfg.write_timeout_ms = 1000;
    cfg.max_queue = 2;
    auto w = open_writer();
    w->record(event("a"), {});  // the pool is manual: nothing runs yet
    EXPECT_TRUE(w->writable());
    ctx.clock_impl.advance(1500ms);
    EXPECT_FALSE(w->writable()) << "a record waiting longer than write_timeout_ms";
    w->record(event("b"), {});
    std::optional<sdk::Status> third;
    w->record(event("c"), [&](sdk::Status s) { third = s; });
    ASSERT_TRUE(third.has_value()) << "over max_queue: refused at once";
    EXPECT_EQ(third->code(), sdk::Errc::unavailable);
    ctx.run_until_idle();
    EXPECT_TRUE(w->writable());
    EXPECT_EQ(read_lines(cfg.path).size(), 2u);
}

}  // namespace
}  // namespace agenthost::plugins::audit_file
