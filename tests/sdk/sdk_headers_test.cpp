// The per-header compile checks exist for every SDK header (the build of
// sdk_header_checks is the real test), and the ABI tag has the documented shape.
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include <agenthost/sdk.hpp>

namespace {
namespace fs = std::filesystem;

TEST(SdkHeaders, EveryHeaderHasAStandaloneCompileCheck) {
    const char* src = std::getenv("AGENTHOST_SOURCE_DIR");
    const char* checks = std::getenv("AGENTHOST_SDK_CHECK_DIR");
    ASSERT_NE(src, nullptr);
    ASSERT_NE(checks, nullptr);
    fs::path include = fs::path(src) / "sdk" / "include";
    std::size_t headers = 0;
    for (const auto& e : fs::recursive_directory_iterator(include / "agenthost")) {
        if (e.path().extension() != ".hpp") {
            continue;
        }
        ++headers;
        std::string id = fs::relative(e.path(), include).string();
        for (char& c : id) {
            if (!std::isalnum(static_cast<unsigned char>(c))) {
                c = '_';
            }
        }
        EXPECT_TRUE(fs::exists(fs::path(checks) / (id + ".cpp"))) << e.path();
    }
    EXPECT_GE(headers, 15u);
}

TEST(SdkHeaders, AbiTagNamesEveryBuildCondition) {
    std::string tag = agenthost::sdk::abi_tag;
    EXPECT_EQ(tag.rfind("agenthost-sdk/" + std::to_string(AGENTHOST_SDK_VERSION_MAJOR) + ";", 0),
              0u)
        << tag;
    for (const char* part : {";cxx=", ";stdlib=", ";boost=", ";hdr="}) {
        EXPECT_NE(tag.find(part), std::string::npos) << part << " missing in " << tag;
    }
    std::string hash = AGENTHOST_SDK_HEADERS_HASH;
    EXPECT_EQ(hash.size(), 16u);
    EXPECT_EQ(tag.substr(tag.size() - hash.size()), hash);
}

}  // namespace
