// docs/plugin-sdk.md shows the example plugin's code; each listing is marked with
// `<!-- file: PATH -->` and must equal that file (which the SDK test builds out of tree
// and loads), so the tutorial's code is code that compiles and runs.
#include <gtest/gtest.h>

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

}  // namespace

TEST(DocsTutorial, ListingsAreTheExamplePluginVerbatim) {
    const std::string src = std::getenv("AGENTHOST_SOURCE_DIR");
    const std::string doc = slurp(src + "/docs/plugin-sdk.md");
    const std::string marker = "<!-- file: ";
    int listings = 0;
    for (auto pos = doc.find(marker); pos != std::string::npos;
         pos = doc.find(marker, pos + 1)) {
        const auto name_end = doc.find(" -->", pos);
        ASSERT_NE(name_end, std::string::npos);
        const std::string path = doc.substr(pos + marker.size(), name_end - pos - marker.size());
        const auto fence = doc.find("```", name_end);
        const auto body_start = doc.find('\n', fence) + 1;
        const auto body_end = doc.find("\n```", body_start);
        ASSERT_NE(body_end, std::string::npos) << path;
        const std::string listing = doc.substr(body_start, body_end + 1 - body_start);
        const std::string file = slurp(src + "/" + path);
        ASSERT_FALSE(file.empty()) << path << " is missing";
        EXPECT_EQ(listing, file) << "docs/plugin-sdk.md's listing of " << path
                                 << " differs from the file";
        ++listings;
    }
    EXPECT_GE(listings, 3);
}
