#pragma once
// NonceCache: the bounded, sharded (agent, nonce) set behind replay_memory and behind
// replay_redis' local fallback (plugins/_common_replay: a static library, not a plugin).
//
// Each shard holds a NonceTable key -> expiry (O(1) check-and-insert, one allocation
// per entry, see nonce_table.hpp) and an expiry index of time buckets (bucket =
// expiry / bucket_ms) whose items point at table entries. Expiries are mostly
// monotonic (now + window), so the index is nearly a FIFO: inserts append to the
// newest bucket (remembered, so no tree lookup per insert) and purging pops whole
// expired buckets from its front in amortised O(1).
//
// Bounds: the capacity is global (an atomic count). An insert at capacity first
// purges expired entries exactly (its own shard, then every shard) and only then
// answers `full`: a live entry is never evicted, and `full` means full of LIVE
// entries. A per-shard "earliest possible expiry" hint makes that exact purge O(1)
// when nothing is due, so a cache under a flood of refusals stays cheap.
//
// Time is passed in by the caller (unix ms), which keeps this class clock-free for
// tests and benchmarks. Thread-safe; check_and_insert is atomic per key.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "plugins/_common_replay/nonce_table.hpp"

namespace agenthost::replay {

class NonceCache {
public:
    struct Options {
        std::uint64_t capacity = 1'000'000;
        unsigned shards = 16;
        std::int64_t bucket_ms = 100;  // expiry index granularity
    };
    enum class Outcome { fresh, replayed, full };

    explicit NonceCache(Options options);
    NonceCache(const NonceCache&) = delete;
    NonceCache& operator=(const NonceCache&) = delete;

    // Records (agent, nonce) until `expiry_ms` unless a live entry (expiry > now)
    // exists. An expired entry that was not purged yet counts as absent.
    Outcome check_and_insert(std::string_view agent, std::string_view nonce, std::int64_t expiry_ms,
                             std::int64_t now_ms);

    // Drops every expired entry (used by the periodic sweep).
    void purge_expired(std::int64_t now_ms);

    std::uint64_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
    std::uint64_t capacity() const noexcept { return options_.capacity; }
    // Best estimate of the heap memory held: table entries (keys inline), table
    // slots and index items (see bytes_per_entry_overhead()).
    std::uint64_t bytes() const noexcept;
    static std::uint64_t bytes_per_entry_overhead() noexcept;

private:
    using Node = NonceTable::Node;
    struct Item {
        Node* node;           // the table entry (alive while an item of its expiry exists)
        std::int64_t expiry;  // the expiry this item was indexed with
    };
    using Buckets = std::map<std::int64_t, std::vector<Item>>;
    struct alignas(64) Shard {
        std::mutex mu;
        NonceTable table;
        Buckets buckets;
        // The bucket the last item went to (end(): none): with expiries near
        // now + window almost every insert lands there.
        Buckets::iterator last;
        // <= the smallest indexed expiry: nothing can be due while now < hint.
        std::int64_t hint = INT64_MIN;
        Shard() : last(buckets.end()) {}
    };

    Shard& shard_for(std::uint64_t hash) noexcept;
    bool try_reserve() noexcept;
    void insert_locked(Shard& s, std::string_view key, std::uint64_t hash, std::int64_t expiry);
    void index_locked(Shard& s, Node* node, std::int64_t expiry);
    void erase_bucket_locked(Shard& s, Buckets::iterator it);
    // Drops an item's entry if the table still holds it with the item's expiry (an
    // entry refreshed after expiring has a newer item further on).
    void drop_item_locked(Shard& s, const Item& item);
    void purge_whole_buckets_locked(Shard& s, std::int64_t now_ms);
    void purge_exact_locked(Shard& s, std::int64_t now_ms);

    Options options_;
    std::vector<std::unique_ptr<Shard>> shards_;
    std::atomic<std::uint64_t> size_{0};
    std::atomic<std::uint64_t> node_bytes_{0};  // malloc chunks of the table entries
    std::uint64_t hash_k0_ = 0, hash_k1_ = 0;  // random SipHash key of this cache
};

}  // namespace agenthost::replay
