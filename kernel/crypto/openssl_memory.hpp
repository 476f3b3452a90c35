#pragma once
// OpenSSL's memory functions with a per-thread stash of TLS record buffers.
//
// Connections run with SSL_MODE_RELEASE_BUFFERS so that an idle one holds no record
// buffer (the memory-per-connection target). The price is that a busy connection
// frees its ~16-18 KB read and write buffers after every record and allocates them
// again for the next one: two large malloc/free pairs per message, and each large
// malloc makes glibc consolidate its fast bins, after which the message path's small
// allocations miss the thread cache too (docs/PERFORMANCE.md, session 5). The stash
// keeps a few record-sized blocks per thread, so those become a pointer pop and push;
// every other allocation goes to malloc/realloc/free unchanged.

#include <cstddef>

namespace agenthost::crypto {

// Installs the functions. Must run before OpenSSL allocates anything (first thing in
// main); returns false, changing nothing, when OpenSSL already has.
bool install_openssl_record_stash();

namespace detail {

// The functions installed, exposed for tests. Blocks served from the stash are
// ordinary malloc blocks: any of them may be realloc'ed or freed by another thread.
void* stash_malloc(std::size_t size, const char* file, int line);
void* stash_realloc(void* ptr, std::size_t size, const char* file, int line);
void stash_free(void* ptr, const char* file, int line);

// Blocks held by the calling thread's stash (tests).
std::size_t stash_size();
// Requests in this range are served from the stash (one block size for all).
inline constexpr std::size_t kStashMinRequest = 12 * 1024;
inline constexpr std::size_t kStashBlock = 20 * 1024;
inline constexpr std::size_t kStashSlots = 8;
// Stash blocks are page-aligned, so frees of other blocks skip the size lookup.
inline constexpr std::size_t kStashAlign = 4096;

}  // namespace detail
}  // namespace agenthost::crypto
