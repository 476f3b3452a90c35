// deploy/systemd/*.service: every directive issue 7 asks for is there, `systemd-analyze
// verify` accepts each unit, and `systemd-analyze security --offline=true` scores its
// exposure at or below kMaxExposure (deploy/systemd/README.md). No running systemd is
// needed: the unit is rendered with ExecStart pointing at the built binary (verify
// checks that the executable exists) and analysed as a file.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace {

constexpr double kMaxExposure = 2.0;  // "OK" is < 4.0 in systemd's scale; we hold 2.0
constexpr const char* kInstalledBinary = "/opt/agenthost/current/bin/agenthost";

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v != nullptr ? v : fallback;
}

std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int run(const std::string& cmd, std::string* out) {
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        return -1;
    }
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    out->clear();
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
        out->append(buf.data(), n);
    }
    const int st = ::pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

class SystemdUnitTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        std::string out;
        if (run("systemd-analyze --version", &out) != 0) {
            GTEST_SKIP() << "systemd-analyze not installed";
        }
        char tmpl[] = "/tmp/ah-units-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        source_ = env_or("AGENTHOST_SOURCE_DIR", ".") + "/deploy/systemd/" + GetParam();
        text_ = read(source_);
        ASSERT_FALSE(text_.empty()) << source_;
    }
    void TearDown() override {
        if (!dir_.empty()) {
            std::filesystem::remove_all(dir_);
        }
    }

    // The unit with ExecStart* pointing at `binary`, written under the temp dir.
    std::string render(const std::string& binary) {
        std::string text = text_;
        for (std::size_t at = text.find(kInstalledBinary); at != std::string::npos;
             at = text.find(kInstalledBinary, at + binary.size())) {
            text.replace(at, std::string(kInstalledBinary).size(), binary);
        }
        const std::string path = dir_ + "/" + GetParam();
        std::ofstream(path) << text;
        return path;
    }

    std::string dir_;
    std::string source_;
    std::string text_;
};

TEST_P(SystemdUnitTest, HasTheRequiredDirectives) {
    for (const char* line :
         {"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
          "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/agenthost",
          "PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=\n",
          "SystemCallFilter=@system-service", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"}) {
        EXPECT_NE(text_.find(std::string("\n") + line), std::string::npos) << line;
    }
    for (const char* key : {"WatchdogSec=", "RestartSec=", "StartLimitIntervalSec=",
                            "StartLimitBurst=", "MemoryMax=", "LimitNOFILE=", "TasksMax="}) {
        EXPECT_TRUE(
            std::regex_search(text_, std::regex(std::string("\n") + key + "[0-9]+[GMK]?\n")))
            << key;
    }
}

TEST_P(SystemdUnitTest, VerifyPasses) {
    const std::string unit = render(env_or("AGENTHOST_BIN", "/bin/true"));
    std::string out;
    EXPECT_EQ(run("systemd-analyze verify --man=no '" + unit + "'", &out), 0) << out;
    EXPECT_EQ(out.find(GetParam()), std::string::npos) << "verify warned:\n" << out;
}

TEST_P(SystemdUnitTest, VerifyRejectsAMissingBinary) {
    // Proves the check above can fail: the same unit with an ExecStart that is not there.
    const std::string unit = render(dir_ + "/no-such-binary");
    std::string out;
    EXPECT_NE(run("systemd-analyze verify --man=no '" + unit + "'", &out), 0) << out;
}

TEST_P(SystemdUnitTest, SecurityExposureIsAtMostTheThreshold) {
    const std::string unit = render(env_or("AGENTHOST_BIN", "/bin/true"));
    std::string out;
    ASSERT_EQ(run("systemd-analyze security --offline=true --no-pager '" + unit + "'", &out), 0)
        << out;
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(out, m, std::regex("Overall exposure level for [^:]+: ([0-9.]+) (\\w+)")))
        << out;
    const double exposure = std::stod(m[1]);
    std::printf("%s: exposure %.1f %s\n", GetParam().c_str(), exposure, m[2].str().c_str());
    EXPECT_LE(exposure, kMaxExposure) << out;
}

INSTANTIATE_TEST_SUITE_P(Units, SystemdUnitTest,
                         ::testing::Values("agenthost-backend.service",
                                           "agenthost-gateway.service"),
                         [](const auto& info) {
                             return info.param.substr(10, info.param.find('.') - 10);
                         });

}  // namespace
