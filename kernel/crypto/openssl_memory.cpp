// See openssl_memory.hpp.
#include "kernel/crypto/openssl_memory.hpp"

#include <malloc.h>

#include <cstdint>
#include <cstdlib>

#include <openssl/crypto.h>

#include "kernel/util/block_stash.hpp"

namespace agenthost::crypto {
namespace detail {
namespace {

struct RecordTag;
using RecordStash = util::BlockStash<RecordTag, kStashBlock, kStashSlots, kStashAlign>;

bool stashable(void* ptr) {
    // OpenSSL frees thousands of small blocks per handshake: only page-aligned ones
    // (ours, and about one malloc block in 256) are worth asking malloc for their size.
    if ((reinterpret_cast<std::uintptr_t>(ptr) & (kStashAlign - 1)) != 0) {
        return false;
    }
    // Whatever its origin, a block this size can serve any request the stash takes.
    const std::size_t usable = malloc_usable_size(ptr);
    return usable >= kStashBlock && usable < kStashBlock + 64;
}

}  // namespace

void* stash_malloc(std::size_t size, const char*, int) {
    if (size < kStashMinRequest || size > kStashBlock) {
        return std::malloc(size);
    }
    return RecordStash::take();
}

void* stash_realloc(void* ptr, std::size_t size, const char*, int) {
    return std::realloc(ptr, size);
}

void stash_free(void* ptr, const char*, int) {
    if (ptr != nullptr && stashable(ptr)) {
        RecordStash::give(ptr);
        return;
    }
    std::free(ptr);
}

std::size_t stash_size() { return RecordStash::held(); }

}  // namespace detail

bool install_openssl_record_stash() {
    return CRYPTO_set_mem_functions(detail::stash_malloc, detail::stash_realloc,
                                    detail::stash_free) == 1;
}

}  // namespace agenthost::crypto
