// docs/configuration.md is generated from the schemas; this fails when it is stale.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string capture(const std::string& cmd) {
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while (p != nullptr && (n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        out.append(buf, n);
    }
    const int rc = p != nullptr ? ::pclose(p) : -1;
    EXPECT_EQ(rc, 0) << cmd;
    return out;
}

}  // namespace

TEST(DocsReference, ConfigurationReferenceMatchesTheSchemas) {
    const std::string src = std::getenv("AGENTHOST_SOURCE_DIR");
    const std::string bin = std::getenv("AGENTHOST_BINARY_DIR");
    const std::string generated = capture(bin + "/tests/config_reference " +
                                          std::getenv("AGENTHOST_PLUGIN_DIR"));
    ASSERT_NE(generated.find("## Kernel, role `backend`"), std::string::npos);
    ASSERT_NE(generated.find("### `identity_sqlite`"), std::string::npos);
    EXPECT_TRUE(generated == slurp(src + "/docs/configuration.md"))
        << "docs/configuration.md is stale: run `make docs` and commit the result";
}
