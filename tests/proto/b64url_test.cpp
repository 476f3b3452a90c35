// The frame path's own base64url decoder must accept exactly what the reference
// decoder in util/ accepts, and decode to the same bytes.
#include "kernel/proto/b64url.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "kernel/util/encoding.hpp"

using namespace agenthost;

namespace {

void expect_agree(const std::string& s) {
    auto ref = util::base64url_decode(s);
    std::string out = "stale";
    bool ok = proto::detail::b64url_decode_into(s, out);
    std::size_t len = 0;
    bool valid = proto::detail::b64url_valid(s, len);
    ASSERT_EQ(ok, ref.has_value()) << "'" << s << "'";
    ASSERT_EQ(valid, ref.has_value()) << "'" << s << "'";
    if (ok) {
        ASSERT_EQ(out, *ref) << "'" << s << "'";
        ASSERT_EQ(len, ref->size()) << "'" << s << "'";
    }
}

}  // namespace

TEST(B64Url, ExhaustiveShortStrings) {
    // The alphabet plus the characters a confused encoder produces.
    const std::string chars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .\xff";
    expect_agree("");
    for (char a : chars) {
        expect_agree(std::string(1, a));
        for (char b : chars) {
            expect_agree(std::string{a, b});
            for (char c : chars) {
                expect_agree(std::string{a, b, c});
            }
        }
    }
}

TEST(B64Url, RandomRoundTripsAndCorruptions) {
    std::mt19937 rng(12345);
    for (int i = 0; i < 2000; ++i) {
        std::string bytes(rng() % 100, '\0');
        for (auto& ch : bytes) {
            ch = static_cast<char>(rng() & 0xff);
        }
        std::string text = util::base64url_encode(bytes);
        std::string out;
        ASSERT_TRUE(proto::detail::b64url_decode_into(text, out));
        ASSERT_EQ(out, bytes);
        if (!text.empty()) {
            std::string bad = text;
            bad[rng() % bad.size()] = "+/=.\n"[rng() % 5];
            expect_agree(bad);
            expect_agree(text + "=");
            expect_agree(text.substr(0, text.size() - 1));
        }
    }
}

TEST(B64Url, EncodeAppendMatchesReferenceEncoder) {
    std::mt19937 rng(777);
    for (std::size_t len = 0; len < 200; ++len) {
        std::string bytes(len, '\0');
        for (auto& c : bytes) {
            c = static_cast<char>(rng() & 0xff);
        }
        std::string out = "prefix.";
        proto::detail::b64url_encode_append(bytes, out);
        ASSERT_EQ(out, "prefix." + util::base64url_encode(bytes)) << "length " << len;
    }
}
