// The Debian package built by `cpack -G DEB` from this build tree holds the binary,
// the plugins, the SDK, the systemd units and the example configs, and declares the
// shared libraries it needs.
#include <gtest/gtest.h>

#include "tests/deploy/deploy_test_util.hpp"

using namespace agenthost::deploytest;

TEST(Package, DebContainsEverythingAnOperatorNeeds) {
    TempDir out_dir;
    const std::string bin = env("AGENTHOST_BINARY_DIR");
    std::string out;
    ASSERT_EQ(sh("cd '" + out_dir.path() + "' && cpack -G DEB -B '" + out_dir.path() +
                     "' --config '" + bin + "/CPackConfig.cmake'",
                 &out),
              0)
        << out;
    std::string deb;
    ASSERT_EQ(sh("ls '" + out_dir.path() + "'/agenthost_*.deb", &deb), 0) << deb;
    deb.erase(deb.find_last_not_of('\n') + 1);

    std::string listing;
    ASSERT_EQ(sh("dpkg-deb -c '" + deb + "'", &listing), 0) << listing;
    for (const char* path : {"./usr/bin/agenthost",
                             "./usr/lib/agenthost/plugins/agenthost_identity_sqlite.so",
                             "./usr/lib/agenthost/plugins/agenthost_audit_file.so",
                             "./usr/include/agenthost/sdk.hpp",
                             "./usr/share/agenthost/configs/dev.yaml",
                             "./usr/share/agenthost/deploy/install-service.sh"}) {
        EXPECT_NE(listing.find(path), std::string::npos) << path << " missing from " << deb;
    }
    EXPECT_NE(listing.find("./usr/lib/systemd/system/agenthost-backend.service"),
              std::string::npos);
    EXPECT_NE(listing.find("./usr/share/agenthost/deploy/systemd/agenthost-backend.service"),
              std::string::npos);
    // The packaged unit runs the packaged binary.
    std::string unit;
    ASSERT_EQ(sh("dpkg-deb --fsys-tarfile '" + deb +
                     "' | tar -xOf - ./usr/lib/systemd/system/agenthost-backend.service",
                 &unit),
              0)
        << unit;
    EXPECT_NE(unit.find("ExecStart=/usr/bin/agenthost run"), std::string::npos) << unit;
    // No test plugins or build debris in the package.
    EXPECT_EQ(listing.find("bad_"), std::string::npos);
    EXPECT_EQ(listing.find("CMakeFiles"), std::string::npos);

    std::string fields;
    ASSERT_EQ(sh("dpkg-deb -f '" + deb + "' Package Version Depends", &fields), 0) << fields;
    EXPECT_NE(fields.find("Package: agenthost"), std::string::npos) << fields;
    EXPECT_NE(fields.find("libssl3"), std::string::npos) << fields;  // from dpkg-shlibdeps
    EXPECT_NE(fields.find("libyaml-cpp"), std::string::npos) << fields;
}
