#include "kernel/crypto/keyring.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "kernel/util/encoding.hpp"

namespace agenthost::crypto {
namespace {

constexpr std::string_view kSalt = "agenthost.v1";
constexpr std::size_t kKeyBytes = 32;
// The cache only saves HKDF work; bounding it keeps a flood of identities from
// growing memory without limit (it is simply rebuilt on demand).
constexpr std::size_t kMaxCachedKeys = 65536;

// Fetched once: EVP_*_fetch does a provider lookup that costs more than the MAC itself.
EVP_MAC* hmac_algorithm() {
    static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    return mac;
}

EVP_KDF* hkdf_algorithm() {
    static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    return kdf;
}

// One HMAC-SHA256 context per thread, re-keyed per call: the digest is bound once,
// so a call costs only the key schedule and the hashing.
struct HmacContext {
    EVP_MAC_CTX* ctx = nullptr;
    std::string key;  // the key ctx is set up with; a session reuses one key
    HmacContext() {
        EVP_MAC* mac = hmac_algorithm();
        if (mac == nullptr) {
            return;
        }
        ctx = EVP_MAC_CTX_new(mac);
        if (ctx == nullptr) {
            return;
        }
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
        };
        if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
            EVP_MAC_CTX_free(ctx);
            ctx = nullptr;
        }
    }
    ~HmacContext() {
        EVP_MAC_CTX_free(ctx);
        OPENSSL_cleanse(key.data(), key.size());
    }
    HmacContext(const HmacContext&) = delete;
    HmacContext& operator=(const HmacContext&) = delete;
};

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

std::string trim(std::string_view s) {
    auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    };
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

std::string cache_key(std::string_view kid, std::string_view agent) {
    std::string k;
    k.reserve(kid.size() + agent.size() + 1);
    k.append(kid);
    k.push_back('\0');  // neither part may contain NUL in practice; keeps pairs distinct
    k.append(agent);
    return k;
}

}  // namespace

std::string derive_agent_key(std::string_view master_key, std::string_view agent_id) {
    EVP_KDF* kdf = hkdf_algorithm();
    if (kdf == nullptr) {
        throw std::runtime_error("OpenSSL HKDF is unavailable");
    }
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    if (ctx == nullptr) {
        throw std::runtime_error("EVP_KDF_CTX_new failed");
    }
    char digest[] = "SHA256";
    // OSSL_PARAM takes non-const pointers but does not write through them here.
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(master_key.data()),
                                          master_key.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(kSalt.data()),
                                          kSalt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(agent_id.data()),
                                          agent_id.size()),
        OSSL_PARAM_construct_end(),
    };
    std::string out(kKeyBytes, '\0');
    int rc = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), out.size(), params);
    EVP_KDF_CTX_free(ctx);
    if (rc != 1) {
        throw std::runtime_error("HKDF-SHA256 derivation failed");
    }
    return out;
}

void hmac_sha256_into(std::string_view key, std::string_view data, unsigned char (&out)[32]) {
    thread_local HmacContext hc;
    std::size_t len = 0;
    // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
    static const unsigned char kEmpty = 0;
    const unsigned char* k = key.empty() ? &kEmpty : bytes(key);
    // Same key as the last call on this thread: a NULL key re-initialises from the
    // stored ipad/opad state and skips two SHA-256 blocks of key schedule.
    bool same_key = hc.ctx != nullptr && !hc.key.empty() && hc.key == key;
    if (hc.ctx == nullptr ||
        EVP_MAC_init(hc.ctx, same_key ? nullptr : k, key.size(), nullptr) != 1 ||
        EVP_MAC_update(hc.ctx, bytes(data), data.size()) != 1 ||
        EVP_MAC_final(hc.ctx, out, &len, sizeof out) != 1 || len != kKeyBytes) {
        hc.key.clear();
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    if (!same_key) {
        OPENSSL_cleanse(hc.key.data(), hc.key.size());
        hc.key.assign(key);
    }
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char mac[kKeyBytes];
    hmac_sha256_into(key, data, mac);
    return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

bool equal_ct(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    if (a.empty()) {
        return true;
    }
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

sdk::Result<std::string> read_key_file(const std::string& path, std::size_t min_bytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return sdk::error(sdk::Errc::not_found,
                          "cannot open key file '" + path + "': " + std::strerror(errno));
    }
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        return sdk::error(sdk::Errc::unavailable, "cannot read key file '" + path + "'");
    }
    std::string text = trim(raw);
    if (text.empty()) {
        return sdk::error(sdk::Errc::invalid_argument, "key file '" + path +
                                                           "' is empty (expected one line "
                                                           "of standard base64)");
    }
    auto key = util::base64_decode(text);
    if (!key) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "key file '" + path +
                              "' is not one line of standard padded base64 "
                              "(generate one with: openssl rand -base64 32)");
    }
    if (key->size() < min_bytes) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "key file '" + path + "' holds " + std::to_string(key->size()) +
                              " bytes; at least " + std::to_string(min_bytes) +
                              " random bytes are required");
    }
    return std::move(*key);
}

Keyring Keyring::from_masters(std::map<std::string, std::string> masters) {
    Keyring k;
    for (auto& [kid, key] : masters) {
        k.masters_.emplace(kid, std::move(key));
    }
    return k;
}

Keyring Keyring::from_agent_key(std::string kid, std::string agent_id, std::string key) {
    Keyring k;
    k.fixed_.emplace(std::move(kid), std::make_pair(std::move(agent_id), std::move(key)));
    return k;
}

bool Keyring::knows(std::string_view kid) const {
    return masters_.find(kid) != masters_.end() || fixed_.find(kid) != fixed_.end();
}

std::optional<std::string> Keyring::agent_key(std::string_view kid, std::string_view agent) const {
    if (auto f = fixed_.find(kid); f != fixed_.end()) {
        if (f->second.first != agent) {
            return std::nullopt;
        }
        return f->second.second;
    }
    auto m = masters_.find(kid);
    if (m == masters_.end()) {
        return std::nullopt;
    }
    std::string ck = cache_key(kid, agent);
    {
        std::lock_guard lock(*cache_mu_);
        if (auto it = cache_->find(ck); it != cache_->end()) {
            return it->second;
        }
    }
    std::string derived = derive_agent_key(m->second, agent);
    std::lock_guard lock(*cache_mu_);
    if (cache_->size() >= kMaxCachedKeys) {
        cache_->clear();
    }
    cache_->emplace(std::move(ck), derived);
    return derived;
}

}  // namespace agenthost::crypto
