#pragma once
// NonceTable: one shard's exact set of replay keys, key -> expiry (used by NonceCache
// under the shard's lock; not thread-safe by itself).
//
// Why not std::unordered_map<std::string, std::int64_t>: on the frame path every
// nonce is inserted once and erased once, and with ~1M live entries every step is a
// cache miss. The standard map costs two allocations per entry (node, key string),
// a node walk through a global list for each lookup and the key's own cache line for
// each comparison. Here an entry is ONE allocation holding its key bytes inline, and
// the table is a flat array of (hash, node) slots with linear probing: a lookup of an
// absent key (the common case) touches one or two adjacent cache lines and no node.
//
// The caller hashes with siphash13() under a random per-cache key, so peers choosing
// nonces cannot aim them at one shard or one probe sequence (hash flooding); keys are
// compared exactly (a hash match is confirmed byte by byte), so two keys never share
// an entry.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace agenthost::replay {

// SipHash-1-3 (the keyed hash of Rust's and Python's hash maps) of `data` under the
// 128-bit key (k0, k1).
std::uint64_t siphash13(std::uint64_t k0, std::uint64_t k1, std::string_view data) noexcept;
// SipHash-2-4, the same code with the published round counts: lets the tests check
// the implementation against the reference vectors.
std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, std::string_view data) noexcept;

class NonceTable {
public:
    struct Node {
        std::uint64_t hash;
        std::int64_t expiry;
        std::uint32_t size;  // key bytes, stored right after the node
        std::string_view key() const noexcept {
            return {reinterpret_cast<const char*>(this + 1), size};
        }
    };

    NonceTable();
    ~NonceTable();
    NonceTable(const NonceTable&) = delete;
    NonceTable& operator=(const NonceTable&) = delete;

    // The entry for `key` (`h`: its hash, uniformly distributed), or nullptr.
    Node* find(std::string_view key, std::uint64_t h) const noexcept;
    // Adds an entry for a key known to be absent. Throws std::bad_alloc.
    Node* insert(std::string_view key, std::uint64_t h, std::int64_t expiry);
    // Removes and frees an entry returned by find/insert.
    void erase(Node* node) noexcept;

    std::size_t size() const noexcept { return count_; }
    // Heap bytes of one entry's allocation (what the node costs malloc).
    static std::uint64_t node_bytes(std::size_t key_size) noexcept;

private:
    struct Slot {
        std::uint64_t hash;
        Node* node;  // nullptr: empty
    };

    // The top bits pick the home slot (NonceCache picks the shard with the low ones).
    std::size_t home(std::uint64_t h) const noexcept { return h >> shift_; }
    void grow();

    Slot* slots_ = nullptr;
    std::size_t mask_ = 0;  // capacity - 1 (capacity a power of two)
    unsigned shift_ = 64;   // 64 - log2(capacity)
    std::size_t count_ = 0;
};

}  // namespace agenthost::replay
