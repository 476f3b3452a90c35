// The per-thread record-buffer stash behind OpenSSL's memory functions: which requests
// it serves, its bound, and that its blocks are whole, reusable malloc blocks. Runs under
// ASan+UBSan in CI, which would flag a block too small for its request, a double free
// or a stash leaked at thread exit.
#include "kernel/crypto/openssl_memory.hpp"

#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

using namespace agenthost::crypto;
namespace d = agenthost::crypto::detail;

namespace {

// Returns whatever the calling thread's stash holds to malloc, so tests start empty.
void drain() {
    std::vector<void*> held;
    while (d::stash_size() != 0) {
        held.push_back(d::stash_malloc(d::kStashMinRequest, __FILE__, __LINE__));
    }
    for (void* p : held) {
        std::free(p);
    }
}

TEST(OpenSslRecordStash, RecordSizedBlocksAreReused) {
    drain();
    void* a = d::stash_malloc(17676, __FILE__, __LINE__);  // a TLS read buffer
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % d::kStashAlign, 0u);
    std::memset(a, 0xab, d::kStashBlock);  // the whole block is usable
    d::stash_free(a, __FILE__, __LINE__);
    EXPECT_EQ(d::stash_size(), 1u);
    void* b = d::stash_malloc(16476, __FILE__, __LINE__);  // a write buffer
    EXPECT_EQ(b, a);
    EXPECT_EQ(d::stash_size(), 0u);
    d::stash_free(b, __FILE__, __LINE__);
    drain();
}

TEST(OpenSslRecordStash, OtherSizesBypassIt) {
    drain();
    void* small = d::stash_malloc(64, __FILE__, __LINE__);
    void* below = d::stash_malloc(d::kStashMinRequest - 1, __FILE__, __LINE__);
    void* above = d::stash_malloc(d::kStashBlock + 256, __FILE__, __LINE__);
    ASSERT_NE(small, nullptr);
    ASSERT_NE(below, nullptr);
    ASSERT_NE(above, nullptr);
    std::memset(above, 1, d::kStashBlock + 256);
    d::stash_free(small, __FILE__, __LINE__);
    d::stash_free(below, __FILE__, __LINE__);
    d::stash_free(above, __FILE__, __LINE__);
    EXPECT_EQ(d::stash_size(), 0u);
    d::stash_free(nullptr, __FILE__, __LINE__);
    EXPECT_EQ(d::stash_size(), 0u);
}

TEST(OpenSslRecordStash, HoldsAtMostItsSlots) {
    drain();
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < d::kStashSlots + 3; ++i) {
        blocks.push_back(d::stash_malloc(d::kStashBlock, __FILE__, __LINE__));
    }
    for (void* p : blocks) {
        d::stash_free(p, __FILE__, __LINE__);  // the extra three go back to malloc
    }
    EXPECT_EQ(d::stash_size(), d::kStashSlots);
    drain();
    EXPECT_EQ(d::stash_size(), 0u);
}

TEST(OpenSslRecordStash, ReallocOfAStashedBlockKeepsItsBytes) {
    drain();
    auto* p = static_cast<unsigned char*>(d::stash_malloc(d::kStashBlock, __FILE__, __LINE__));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < 100; ++i) {
        p[i] = static_cast<unsigned char>(i);
    }
    auto* q = static_cast<unsigned char*>(d::stash_realloc(p, 64 * 1024, __FILE__, __LINE__));
    ASSERT_NE(q, nullptr);
    for (std::size_t i = 0; i < 100; ++i) {
        ASSERT_EQ(q[i], static_cast<unsigned char>(i));
    }
    d::stash_free(q, __FILE__, __LINE__);  // 64 KiB: not stashable
    EXPECT_EQ(d::stash_size(), 0u);
}

TEST(OpenSslRecordStash, BlocksCrossThreadsAndExitingThreadsReleaseTheirs) {
    drain();
    void* from_main = d::stash_malloc(d::kStashBlock, __FILE__, __LINE__);
    std::size_t held_in_thread = 0;
    std::thread t([&] {
        d::stash_free(from_main, __FILE__, __LINE__);  // freed by another thread
        held_in_thread = d::stash_size();
        void* again = d::stash_malloc(d::kStashBlock, __FILE__, __LINE__);
        d::stash_free(again, __FILE__, __LINE__);
        // Left in the stash: the thread's exit must free it (LeakSanitizer checks).
    });
    t.join();
    EXPECT_EQ(held_in_thread, 1u);
    EXPECT_EQ(d::stash_size(), 0u);  // the main thread's stash is its own
}

TEST(OpenSslRecordStash, InstallIsRefusedOnceOpenSslHasAllocated) {
    void* p = OPENSSL_malloc(16);
    ASSERT_NE(p, nullptr);
    OPENSSL_free(p);
    EXPECT_FALSE(install_openssl_record_stash());
}

}  // namespace
