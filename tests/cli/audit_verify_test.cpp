// `agenthost audit verify`: a 10,000-record keyed log written by the real audit_file
// writer verifies; every tamper class is caught and the first bad seq is named (edit,
// deletion, insertion, duplication, reorder, splice, torn line, truncated tail against
// the checkpoint sink, a rotated file removed, an edited checkpoint, a wrong key). The
// binary's exit codes and output are checked too.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernel/cli/audit_verify.hpp"
#include "kernel/util/encoding.hpp"
#include "plugins/audit_file/audit_writer.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::cli {
namespace {

namespace fs = std::filesystem;
using plugins::audit_file::AuditConfig;
using plugins::audit_file::AuditFileWriter;
using plugins::audit_file::FsyncPolicy;

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
    std::ofstream out(path, std::ios::trunc);
    for (const auto& l : lines) {
        out << l << "\n";
    }
}

constexpr int kRecords = 10000;

// One keyed 10,000-record log (checkpoint every 1000), made once for the whole suite.
class AuditVerifyTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new testing::TempDir("audit-verify");
        key_ = std::string(32, '\x42');
        key_file_ = dir_->file("audit.key");
        std::ofstream(key_file_) << util::base64_encode(key_) << "\n";
        fs::permissions(key_file_, fs::perms::owner_read | fs::perms::owner_write);
        testing::FakeContext ctx;
        AuditConfig cfg;
        cfg.path = dir_->file("pristine.log");
        cfg.key_file = key_file_;
        cfg.fsync = FsyncPolicy::never;
        cfg.checkpoint_every = 1000;
        auto w = AuditFileWriter::create(ctx, cfg);
        ASSERT_TRUE(w->open().ok());
        for (int i = 0; i < kRecords; ++i) {
            w->record(sdk::AuditEvent{"operator:dev",
                                      "command.enqueue",
                                      "agent-" + std::to_string(i),
                                      "success",
                                      {{"i", i}}},
                      {});
            if (i % 100 == 99) {
                ctx.run_until_idle();  // batches of 100
            }
        }
        ctx.run_until_idle();
        w->close();
        pristine_ = read_lines(cfg.path);
        checkpoints_ = read_lines(cfg.path + ".checkpoints");
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }

    // Verifies `lines` (written to a fresh file) against the pristine checkpoints.
    AuditVerifyReport verify(const std::vector<std::string>& lines, bool with_checkpoints = true,
                             const std::string& key = key_) {
        const std::string f = dir_->file("case.log");
        const std::string cp = dir_->file("case.checkpoints");
        write_lines(f, lines);
        write_lines(cp, checkpoints_);
        return verify_audit({{f}, key, with_checkpoints ? cp : ""});
    }

    static testing::TempDir* dir_;
    static std::string key_;
    static std::string key_file_;
    static std::vector<std::string> pristine_;
    static std::vector<std::string> checkpoints_;
};

testing::TempDir* AuditVerifyTest::dir_ = nullptr;
std::string AuditVerifyTest::key_;
std::string AuditVerifyTest::key_file_;
std::vector<std::string> AuditVerifyTest::pristine_;
std::vector<std::string> AuditVerifyTest::checkpoints_;

std::size_t at(int seq) {
    return static_cast<std::size_t>(seq - 1);
}

TEST_F(AuditVerifyTest, PristineLogVerifies) {
    ASSERT_EQ(pristine_.size(), static_cast<std::size_t>(kRecords));
    ASSERT_EQ(checkpoints_.size(), 10u);
    auto r = verify(pristine_);
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.records, static_cast<std::uint64_t>(kRecords));
    EXPECT_EQ(r.first_seq, 1u);
    EXPECT_EQ(r.last_seq, static_cast<std::uint64_t>(kRecords));
    EXPECT_EQ(r.checkpoints_matched, 10u);
}

TEST_F(AuditVerifyTest, EditOfAnyFieldNamesThatSeq) {
    for (int seq : {1, 4321, kRecords}) {
        auto lines = pristine_;
        auto& l = lines[at(seq)];
        l.replace(l.find("\"outcome\":\"success\""), 19, "\"outcome\":\"denied\"");
        auto r = verify(lines);
        EXPECT_FALSE(r.ok);
        EXPECT_EQ(r.bad_seq, static_cast<std::uint64_t>(seq)) << r.error;
        EXPECT_NE(r.error.find("MAC mismatch"), std::string::npos) << r.error;
    }
    auto lines = pristine_;
    auto& l = lines[at(5000)];
    l.replace(0, std::string("{\"seq\":5000").size(), "{\"seq\":5001");  // the seq itself
    auto r = verify(lines);
    EXPECT_EQ(r.bad_seq, 5000u) << r.error;
}

TEST_F(AuditVerifyTest, DeletionNamesTheMissingSeq) {
    for (int seq : {1, 5000, 7777}) {
        auto lines = pristine_;
        lines.erase(lines.begin() + static_cast<long>(at(seq)));
        auto r = verify(lines);
        EXPECT_FALSE(r.ok);
        EXPECT_EQ(r.bad_seq, static_cast<std::uint64_t>(seq)) << r.error;
    }
}

TEST_F(AuditVerifyTest, InsertionDuplicationAndSpliceAreCaught) {
    auto lines = pristine_;  // a forged line: attacker cannot compute the MAC
    std::string forged = pristine_[at(5001)];
    forged.replace(forged.find("agent-5000"), 10, "agent-9999");
    lines.insert(lines.begin() + static_cast<long>(at(5001)), forged);
    auto r = verify(lines);
    EXPECT_EQ(r.bad_seq, 5001u) << r.error;

    lines = pristine_;  // a genuine record replayed further down
    lines.insert(lines.begin() + static_cast<long>(at(5001)), pristine_[at(3000)]);
    r = verify(lines);
    EXPECT_EQ(r.bad_seq, 5001u) << r.error;
    EXPECT_NE(r.error.find("found seq 3000"), std::string::npos) << r.error;
}

TEST_F(AuditVerifyTest, ReorderNamesTheFirstOutOfPlaceSeq) {
    auto lines = pristine_;
    std::swap(lines[at(6000)], lines[at(6001)]);
    auto r = verify(lines);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 6000u) << r.error;
}

TEST_F(AuditVerifyTest, TruncatedTailIsCaughtAgainstTheCheckpointSink) {
    auto lines = pristine_;
    lines.resize(lines.size() - 10);
    auto r = verify(lines);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 9991u) << r.error;
    EXPECT_NE(r.error.find("truncated"), std::string::npos) << r.error;
    // Without the second sink a clean cut is undetectable: why the checkpoints exist.
    EXPECT_TRUE(verify(lines, false).ok);

    lines = pristine_;  // a torn last line (cut mid-record)
    lines.back().resize(lines.back().size() / 2);
    r = verify(lines);
    EXPECT_EQ(r.bad_seq, static_cast<std::uint64_t>(kRecords)) << r.error;
}

TEST_F(AuditVerifyTest, EditedCheckpointOrWrongKeyFails) {
    const std::string f = dir_->file("pristine.log");
    const std::string cp = dir_->file("edited.checkpoints");
    auto cps = checkpoints_;
    cps[4].replace(cps[4].find("\"seq\":5000"), 10, "\"seq\":5001");
    write_lines(cp, cps);
    auto r = verify_audit({{f}, key_, cp});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("checkpoint"), std::string::npos) << r.error;

    r = verify(pristine_, true, std::string(32, 'z'));
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("checkpoint"), std::string::npos) << "checkpoints are keyed too";
    r = verify(pristine_, false, std::string(32, 'z'));
    EXPECT_EQ(r.bad_seq, 1u) << r.error;
}

TEST_F(AuditVerifyTest, RotatedFilesVerifyInAnyArgumentOrderAndAMissingOneIsNamed) {
    testing::FakeContext ctx;
    AuditConfig cfg;
    cfg.path = dir_->file("rot/audit.log");
    fs::create_directories(dir_->file("rot"));
    cfg.key_file = key_file_;
    cfg.fsync = FsyncPolicy::never;
    cfg.max_bytes = 8192;
    auto w = AuditFileWriter::create(ctx, cfg);
    ASSERT_TRUE(w->open().ok());
    for (int i = 0; i < 200; ++i) {
        w->record(sdk::AuditEvent{"kernel", "session.open", "gw", "success", {}}, {});
        ctx.run_until_idle();
    }
    w->close();
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir_->file("rot"))) {
        const auto name = e.path().filename().string();
        if (name.rfind("audit.log", 0) == 0 && name.find("checkpoints") == std::string::npos) {
            files.push_back(e.path().string());
        }
    }
    ASSERT_GE(files.size(), 3u);
    std::sort(files.rbegin(), files.rend());  // deliberately not chain order
    const std::string cp = cfg.path + ".checkpoints";
    auto r = verify_audit({files, key_, cp});
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.records, 200u);

    // Name order puts "audit.log" first; the rotated files follow in chain order.
    std::sort(files.begin(), files.end());
    ASSERT_EQ(files[0], cfg.path);
    const std::string second = files[2];  // the second rotated file
    const std::uint64_t expect_missing = read_lines(files[1]).size() + 1;
    files.erase(files.begin() + 2);
    r = verify_audit({files, key_, cp});
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, expect_missing) << r.error << " (removed " << second << ")";
}

// The binary: exit 0 with a summary, exit 1 naming the seq, exit 2 on usage errors.
TEST_F(AuditVerifyTest, CommandLineExitCodes) {
    const char* bin = std::getenv("AGENTHOST_BIN");
    ASSERT_NE(bin, nullptr);
    const std::string out = dir_->file("cli.out");
    auto run = [&](const std::string& args) {
        const std::string cmd = std::string(bin) + " audit verify " + args + " > " + out + " 2>&1";
        const int st = std::system(cmd.c_str());
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    };
    const std::string log = dir_->file("pristine.log");
    const std::string cp = log + ".checkpoints";
    EXPECT_EQ(run("--key " + key_file_ + " --checkpoints " + cp + " " + log), 0);
    std::string text;
    std::getline(std::ifstream(out), text, '\0');
    EXPECT_NE(text.find("OK: 10000 records, seq 1..10000"), std::string::npos) << text;

    auto lines = pristine_;
    lines.erase(lines.begin() + static_cast<long>(at(1234)));
    write_lines(dir_->file("cut.log"), lines);
    EXPECT_EQ(run("--key " + key_file_ + " --checkpoints " + cp + " " + dir_->file("cut.log")), 1);
    std::getline(std::ifstream(out), text, '\0');
    EXPECT_NE(text.find("FAILED: seq 1234:"), std::string::npos) << text;

    EXPECT_EQ(run("--key"), 2);
    EXPECT_EQ(run("--bogus " + log), 2);
    EXPECT_EQ(run(log), 1) << "without --key a keyed log does not verify";
}

}  // namespace
}  // namespace agenthost::cli
