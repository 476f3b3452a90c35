#include "kernel/crypto/keyring.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kernel/util/encoding.hpp"

namespace fs = std::filesystem;
using namespace agenthost;

namespace {

std::string test_master() {
    std::string m;
    for (int i = 0; i < 32; ++i) {
        m.push_back(static_cast<char>(i));
    }
    return m;
}

class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ah-keyring-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        path_ = ::mkdtemp(buf.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string write(const std::string& name, const std::string& content) const {
        std::string p = (path_ / name).string();
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

}  // namespace

TEST(Hkdf, ProtocolTestVector) {
    std::string k = crypto::derive_agent_key(test_master(), "gw-01");
    EXPECT_EQ(util::hex_encode(k),
              "60978c22018d3a2514c88e84842ef4cbb66f5fc6dab4ba56aec0c31d63c0611b");
    EXPECT_EQ(util::base64_encode(k), "YJeMIgGNOiUUyI6EhC70y7ZvX8batLpWrsDDHWPAYRs=");
}

TEST(Hkdf, DependsOnAgentAndMaster) {
    auto a = crypto::derive_agent_key(test_master(), "gw-01");
    EXPECT_NE(a, crypto::derive_agent_key(test_master(), "gw-02"));
    std::string other = test_master();
    other[0] = 'x';
    EXPECT_NE(a, crypto::derive_agent_key(other, "gw-01"));
}

TEST(Hmac, Rfc4231TestCase2) {
    EXPECT_EQ(util::hex_encode(crypto::hmac_sha256("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, Rfc4231TestCase1AndRepeatedUse) {
    std::string key(20, '\x0b');
    // The per-thread context is re-keyed each call: interleave two keys.
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(util::hex_encode(crypto::hmac_sha256(key, "Hi There")),
                  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        EXPECT_EQ(util::hex_encode(crypto::hmac_sha256("Jefe", "what do ya want for nothing?")),
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}

// Many sessions' keys on one thread (more keys than the per-thread context slots, so
// slots are shared and re-keyed): every MAC equals OpenSSL's one-shot HMAC.
TEST(Hmac, ManyAlternatingKeysMatchOneShotHmac) {
    std::vector<std::string> keys;
    for (int i = 0; i < 300; ++i) {
        keys.push_back(crypto::derive_agent_key(test_master(), "gw-" + std::to_string(i)));
    }
    keys.push_back("");
    keys.push_back("short");
    for (int round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const std::string& key = keys[(i * 7 + static_cast<std::size_t>(round)) % keys.size()];
            const std::string data = "frame " + std::to_string(i) + std::string(i % 97, 'x');
            unsigned char want[EVP_MAX_MD_SIZE];
            unsigned int len = 0;
            static const unsigned char kEmpty = 0;
            const void* k = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
            HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(data.data()), data.size(), want, &len);
            ASSERT_EQ(crypto::hmac_sha256(key, data),
                      std::string(reinterpret_cast<const char*>(want), len))
                << "round " << round << " key " << i;
        }
    }
}

TEST(Hmac, EmptyKeyAndData) {
    EXPECT_EQ(util::hex_encode(crypto::hmac_sha256("", "")),
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(EqualCt, ComparesContentAndLength) {
    EXPECT_TRUE(crypto::equal_ct("abc", "abc"));
    EXPECT_TRUE(crypto::equal_ct("", ""));
    EXPECT_FALSE(crypto::equal_ct("abc", "abd"));
    EXPECT_FALSE(crypto::equal_ct("abc", "abcd"));
    EXPECT_FALSE(crypto::equal_ct("", "a"));
}

TEST(KeyFile, ReadsBase64WithSurroundingWhitespace) {
    TempDir dir;
    auto p = dir.write("k", "  \n" + util::base64_encode(test_master()) + "\r\n\n");
    auto key = crypto::read_key_file(p);
    ASSERT_TRUE(key.ok()) << key.status().message();
    EXPECT_EQ(*key, test_master());
}

TEST(KeyFile, RejectsShortKey) {
    TempDir dir;
    auto p = dir.write("k", util::base64_encode(std::string(31, 'a')) + "\n");
    auto key = crypto::read_key_file(p);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), sdk::Errc::invalid_argument);
    EXPECT_NE(key.status().message().find("31 bytes"), std::string::npos) << key.status().message();
    EXPECT_NE(key.status().message().find(p), std::string::npos);
    // A custom minimum applies.
    EXPECT_TRUE(crypto::read_key_file(p, 16).ok());
}

TEST(KeyFile, RejectsBadBase64) {
    TempDir dir;
    std::string b64 = util::base64_encode(test_master() + "xy");  // ends with '='
    ASSERT_EQ(b64.back(), '=');
    for (const std::string& bad :
         {b64.substr(0, b64.size() - 1),                       // padding missing
          std::string("!!") + b64.substr(2),                   // wrong alphabet
          b64.substr(0, 20) + " " + b64.substr(20),            // whitespace inside
          util::base64url_encode(std::string(33, '\xff'))}) {  // url alphabet
        auto p = dir.write("bad", bad);
        auto key = crypto::read_key_file(p);
        EXPECT_FALSE(key.ok()) << bad;
        if (!key.ok()) {
            EXPECT_EQ(key.status().code(), sdk::Errc::invalid_argument);
        }
    }
}

TEST(KeyFile, EmptyAndMissing) {
    TempDir dir;
    auto empty = crypto::read_key_file(dir.write("e", " \n\t"));
    ASSERT_FALSE(empty.ok());
    EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
    auto missing = crypto::read_key_file((dir.path() / "nope").string());
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), sdk::Errc::not_found);
    EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
}

TEST(Keyring, MastersDeriveAndCache) {
    auto ring = crypto::Keyring::from_masters({{"k1", test_master()}, {"k2", "other-master"}});
    EXPECT_TRUE(ring.knows("k1"));
    EXPECT_TRUE(ring.knows("k2"));
    EXPECT_FALSE(ring.knows("k3"));
    auto k = ring.agent_key("k1", "gw-01");
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(*k, crypto::derive_agent_key(test_master(), "gw-01"));
    EXPECT_EQ(ring.agent_key("k1", "gw-01"), k);  // cached path gives the same key
    EXPECT_NE(ring.agent_key("k2", "gw-01"), k);
    EXPECT_NE(ring.agent_key("k1", "gw-02"), k);
    EXPECT_FALSE(ring.agent_key("k3", "gw-01").has_value());
}

TEST(Keyring, AgentFormOnlyServesItsAgent) {
    std::string key = crypto::derive_agent_key(test_master(), "gw-01");
    auto ring = crypto::Keyring::from_agent_key("k1", "gw-01", key);
    EXPECT_TRUE(ring.knows("k1"));
    EXPECT_FALSE(ring.knows("k2"));
    EXPECT_EQ(ring.agent_key("k1", "gw-01"), key);
    EXPECT_FALSE(ring.agent_key("k1", "gw-02").has_value());
    EXPECT_FALSE(ring.agent_key("k2", "gw-01").has_value());
}

TEST(Keyring, ConcurrentReadersAgree) {
    auto ring = crypto::Keyring::from_masters({{"k1", test_master()}});
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                std::string agent = "gw-" + std::to_string(i % 17);
                if (ring.agent_key("k1", agent) != crypto::derive_agent_key(test_master(), agent)) {
                    ++mismatches[static_cast<std::size_t>(t)];
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    for (int m : mismatches) {
        EXPECT_EQ(m, 0);
    }
}
