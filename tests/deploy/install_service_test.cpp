// deploy/install-service.sh under a temp prefix: two releases side by side, `current`
// and `previous` links, config kept across upgrades, modes, rollback, dry-run.
#include <gtest/gtest.h>

#include "tests/deploy/deploy_test_util.hpp"

using namespace agenthost::deploytest;

namespace {

class InstallService : public ::testing::Test {
protected:
    void SetUp() override {
        src_ = env("AGENTHOST_SOURCE_DIR");
        // A stage as `cmake --install` makes it from this very build tree.
        std::string out;
        ASSERT_EQ(sh("cmake --install '" + env("AGENTHOST_BINARY_DIR") + "' --prefix '" +
                         stage_.path() + "'",
                     &out),
                  0)
            << out;
        ASSERT_TRUE(exists(stage_.path() + "/bin/agenthost"));
    }

    int install(const std::string& args, std::string* out = nullptr) {
        return sh("bash '" + src_ + "/deploy/install-service.sh' --prefix '" + root_.path() +
                      "' " + args,
                  out);
    }

    std::string base() const { return root_.path() + "/opt/agenthost"; }

    std::string src_;
    TempDir stage_;
    TempDir root_;
};

TEST_F(InstallService, InstallsUpgradesAndRollsBack) {
    std::string out;
    ASSERT_EQ(install("--role backend --from '" + stage_.path() + "' --version 1.0.0", &out), 0)
        << out;
    EXPECT_EQ(link_target(base() + "/current"), "releases/1.0.0");
    EXPECT_FALSE(exists(base() + "/previous"));
    // The installed binary runs from the release and finds its plugins.
    ASSERT_EQ(sh("'" + base() + "/current/bin/agenthost' version", &out), 0) << out;
    EXPECT_NE(out.find("agenthost "), std::string::npos);
    EXPECT_TRUE(exists(base() + "/current/lib/agenthost/plugins/agenthost_identity_sqlite.so"));
    // State and log directories are private to the service.
    EXPECT_EQ(mode_of(root_.path() + "/var/lib/agenthost"), 0750u);
    EXPECT_EQ(mode_of(root_.path() + "/var/log/agenthost"), 0750u);
    const std::string cfg = root_.path() + "/etc/agenthost/backend.yaml";
    if (exists(cfg)) {
        EXPECT_EQ(mode_of(cfg), 0640u);
        // An operator's edit survives the upgrade.
        ASSERT_EQ(sh("echo '# edited by the operator' >> '" + cfg + "'"), 0);
    }
    const std::string unit = root_.path() + "/etc/systemd/system/agenthost-backend.service";
    if (exists(src_ + "/deploy/systemd/agenthost-backend.service")) {
        ASSERT_TRUE(exists(unit));
        EXPECT_NE(slurp(unit).find("/opt/agenthost/current/bin/agenthost"), std::string::npos);
    }

    ASSERT_EQ(install("--role backend --from '" + stage_.path() + "' --version 2.0.0", &out), 0)
        << out;
    EXPECT_EQ(link_target(base() + "/current"), "releases/2.0.0");
    EXPECT_EQ(link_target(base() + "/previous"), "releases/1.0.0");
    EXPECT_TRUE(exists(base() + "/releases/1.0.0/bin/agenthost"));
    if (exists(cfg)) {
        EXPECT_NE(slurp(cfg).find("# edited by the operator"), std::string::npos);
    }

    ASSERT_EQ(install("--rollback", &out), 0) << out;
    EXPECT_EQ(link_target(base() + "/current"), "releases/1.0.0");
    EXPECT_EQ(link_target(base() + "/previous"), "releases/2.0.0");
    ASSERT_EQ(sh("'" + base() + "/current/bin/agenthost' version"), 0);

    // Rolling back twice returns to the newer release: the two links swap.
    ASSERT_EQ(install("--rollback", &out), 0) << out;
    EXPECT_EQ(link_target(base() + "/current"), "releases/2.0.0");
}

TEST_F(InstallService, DryRunChangesNothing) {
    std::string out;
    ASSERT_EQ(install("--role backend --from '" + stage_.path() + "' --version 1.0.0"), 0);
    std::string before;
    ASSERT_EQ(sh("cd '" + root_.path() + "' && find . -printf '%p %l %m\\n' | sort", &before), 0);
    ASSERT_EQ(install("--role backend --from '" + stage_.path() + "' --version 2.0.0 --dry-run",
                      &out),
              0)
        << out;
    EXPECT_NE(out.find("dry-run: "), std::string::npos);
    ASSERT_EQ(install("--rollback --dry-run", &out), 1) << out;  // nothing to roll back to
    std::string after;
    ASSERT_EQ(sh("cd '" + root_.path() + "' && find . -printf '%p %l %m\\n' | sort", &after), 0);
    EXPECT_EQ(before, after);
}

TEST_F(InstallService, RefusesBadInput) {
    std::string out;
    EXPECT_EQ(install("--role nonsense --from '" + stage_.path() + "'", &out), 1);
    EXPECT_NE(out.find("--role must be backend or gateway"), std::string::npos) << out;
    EXPECT_EQ(install("--role backend --from /nonexistent", &out), 1);
    EXPECT_NE(out.find("not an executable"), std::string::npos) << out;
    EXPECT_EQ(install("--role backend --from '" + stage_.path() + "' --version '../x'", &out), 1);
    EXPECT_EQ(install("--rollback", &out), 1);
    EXPECT_NE(out.find("no previous release"), std::string::npos) << out;
    EXPECT_EQ(install("--bogus", &out), 2);
}

}  // namespace
