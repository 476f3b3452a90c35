#include "kernel/util/ids.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <cstring>
#include <stdexcept>

#include "kernel/util/encoding.hpp"

namespace agenthost::util {

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (n > 0 &&
        RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        // The CSPRNG failing is not recoverable: identifiers and nonces must be unguessable.
        throw std::runtime_error("RAND_bytes failed");
    }
    return out;
}

namespace {

// Identifiers and nonces (public values that must be unique and unguessable, never
// secrets) are cut from a per-thread block of CSPRNG output: one RAND_bytes call per
// 32 of them instead of one each (OpenSSL 3 makes a getpid() system call and takes the
// DRBG path per call). A forked child drops the block it inherited, so parent and
// child never hand out the same bytes.
struct RandomPool {
    static constexpr std::size_t kSize = 512;
    unsigned char buf[kSize];
    std::size_t used = kSize;

    void take(unsigned char* out, std::size_t n) {
        if (n > kSize) {
            throw std::runtime_error("RandomPool: request too large");
        }
        if (kSize - used < n) {
            if (RAND_bytes(buf, static_cast<int>(kSize)) != 1) {
                throw std::runtime_error("RAND_bytes failed");
            }
            used = 0;
        }
        std::memcpy(out, buf + used, n);
        OPENSSL_cleanse(buf + used, n);  // handed out once
        used += n;
    }
};

thread_local RandomPool t_pool;

void drop_pool_in_child() {
    // Only the forking thread exists in the child: its block is the only one left.
    OPENSSL_cleanse(t_pool.buf, sizeof t_pool.buf);
    t_pool.used = RandomPool::kSize;
}

RandomPool& pool() {
    static const bool registered = [] {
        pthread_atfork(nullptr, nullptr, &drop_pool_in_child);
        return true;
    }();
    (void)registered;
    return t_pool;
}

}  // namespace

std::string uuid_v4() {
    unsigned char b[16];
    pool().take(b, sizeof b);
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    // Written in place (8-4-4-4-12): one allocation per id on the send path.
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(36, '-');
    std::size_t o = 0;
    for (std::size_t i = 0; i < sizeof b; ++i) {
        if (o == 8 || o == 13 || o == 18 || o == 23) {
            ++o;
        }
        out[o++] = digits[b[i] >> 4];
        out[o++] = digits[b[i] & 15];
    }
    return out;
}

bool is_uuid(std::string_view s) noexcept {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

std::string nonce() {
    char b[16];
    pool().take(reinterpret_cast<unsigned char*>(b), sizeof b);
    return base64url_encode(std::string_view(b, sizeof b));
}

}  // namespace agenthost::util
