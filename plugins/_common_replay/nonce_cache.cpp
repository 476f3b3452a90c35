#include "plugins/_common_replay/nonce_cache.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <utility>

namespace agenthost::replay {

namespace {

// Unambiguous key: a 4-byte length of the agent id, the agent id, then the nonce,
// so ("ab", "c") and ("a", "bc") never collide whatever bytes they hold.
std::string make_key(std::string_view agent, std::string_view nonce) {
    std::string key;
    key.reserve(4 + agent.size() + nonce.size());
    const auto n = static_cast<std::uint32_t>(agent.size());
    key.push_back(static_cast<char>(n >> 24));
    key.push_back(static_cast<char>(n >> 16));
    key.push_back(static_cast<char>(n >> 8));
    key.push_back(static_cast<char>(n));
    key.append(agent);
    key.append(nonce);
    return key;
}

// glibc malloc chunk size for a request of n bytes (what a string's heap buffer costs).
std::uint64_t malloc_chunk(std::uint64_t n) {
    return std::max<std::uint64_t>(32, (n + 8 + 15) & ~std::uint64_t{15});
}

// Heap bytes behind a key string: none while it fits the small-string buffer.
std::uint64_t key_heap_bytes(const std::string& key) {
    constexpr std::size_t sso_capacity = 15;  // libstdc++
    return key.size() > sso_capacity ? malloc_chunk(key.capacity() + 1) : 0;
}

}  // namespace

NonceCache::NonceCache(Options options) : options_(options) {
    options_.capacity = std::max<std::uint64_t>(1, options_.capacity);
    options_.bucket_ms = std::max<std::int64_t>(1, options_.bucket_ms);
    const unsigned n = std::clamp<unsigned>(options_.shards, 1, 4096);
    options_.shards = n;
    shards_.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        shards_.push_back(std::make_unique<Shard>());
    }
}

NonceCache::Shard& NonceCache::shard_for(std::string_view key) noexcept {
    // Mix the hash so the shard choice is independent of the map's bucket choice.
    const std::uint64_t h = std::hash<std::string_view>{}(key);
    const std::uint64_t mixed = (h * 0x9E3779B97F4A7C15ULL) >> 32;
    return *shards_[mixed % shards_.size()];
}

bool NonceCache::try_reserve() noexcept {
    std::uint64_t cur = size_.load(std::memory_order_relaxed);
    while (cur < options_.capacity) {
        if (size_.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed)) {
            return true;
        }
    }
    return false;
}

void NonceCache::index_locked(Shard& s, const std::string* key, std::int64_t expiry) {
    s.buckets[expiry / options_.bucket_ms].push_back(Item{key, expiry});
    s.hint = std::min(s.hint, expiry);
}

void NonceCache::insert_locked(Shard& s, std::string key, std::int64_t expiry) {
    key_heap_bytes_.fetch_add(key_heap_bytes(key), std::memory_order_relaxed);
    auto [it, inserted] = s.map.emplace(std::move(key), expiry);
    (void)inserted;  // the caller checked the key is absent
    index_locked(s, &it->first, expiry);
}

void NonceCache::drop_item_locked(Shard& s, const Item& item) {
    // Items of one key are processed oldest first and an entry is erased only by its
    // newest item, so item.key still points at a live node here.
    auto it = s.map.find(*item.key);
    if (it == s.map.end() || it->second != item.expiry) {
        return;
    }
    key_heap_bytes_.fetch_sub(key_heap_bytes(it->first), std::memory_order_relaxed);
    s.map.erase(it);
    size_.fetch_sub(1, std::memory_order_relaxed);
}

void NonceCache::purge_whole_buckets_locked(Shard& s, std::int64_t now_ms) {
    // A bucket whose end is <= now holds only expired items (expired: expiry <= now).
    while (!s.buckets.empty()) {
        auto first = s.buckets.begin();
        if ((first->first + 1) * options_.bucket_ms > now_ms) {
            return;
        }
        for (const Item& item : first->second) {
            drop_item_locked(s, item);
        }
        s.buckets.erase(first);
    }
}

void NonceCache::purge_exact_locked(Shard& s, std::int64_t now_ms) {
    purge_whole_buckets_locked(s, now_ms);
    while (!s.buckets.empty() && now_ms >= s.hint) {
        auto first = s.buckets.begin();
        std::int64_t min_left = std::numeric_limits<std::int64_t>::max();
        auto& items = first->second;
        // Stable partition keeps insertion order, which drop_item_locked relies on.
        auto keep = std::stable_partition(items.begin(), items.end(),
                                          [&](const Item& i) { return i.expiry > now_ms; });
        for (auto it = items.begin(); it != keep; ++it) {
            min_left = std::min(min_left, it->expiry);
        }
        for (auto it = keep; it != items.end(); ++it) {
            drop_item_locked(s, *it);
        }
        items.erase(keep, items.end());
        if (!items.empty()) {
            s.hint = min_left;
            return;
        }
        s.buckets.erase(first);
        s.hint = s.buckets.empty() ? std::numeric_limits<std::int64_t>::max()
                                   : s.buckets.begin()->first * options_.bucket_ms;
    }
}

NonceCache::Outcome NonceCache::check_and_insert(std::string_view agent, std::string_view nonce,
                                                 std::int64_t expiry_ms, std::int64_t now_ms) {
    std::string key = make_key(agent, nonce);
    Shard& s = shard_for(key);
    for (int attempt = 0; attempt < 2; ++attempt) {
        {
            std::lock_guard lock(s.mu);
            purge_whole_buckets_locked(s, now_ms);
            if (auto it = s.map.find(key); it != s.map.end()) {
                if (it->second > now_ms) {
                    return Outcome::replayed;
                }
                // Expired but not purged yet: reuse the node (no capacity change).
                it->second = expiry_ms;
                index_locked(s, &it->first, expiry_ms);
                return Outcome::fresh;
            }
            if (try_reserve()) {
                insert_locked(s, std::move(key), expiry_ms);
                return Outcome::fresh;
            }
            purge_exact_locked(s, now_ms);
            if (try_reserve()) {
                insert_locked(s, std::move(key), expiry_ms);
                return Outcome::fresh;
            }
        }
        if (attempt == 0) {
            // Expired entries may sit in other shards: free them, then decide again
            // (one shard lock at a time, so no lock-order issue).
            purge_expired(now_ms);
        }
    }
    return Outcome::full;
}

void NonceCache::purge_expired(std::int64_t now_ms) {
    for (auto& shard : shards_) {
        std::lock_guard lock(shard->mu);
        purge_exact_locked(*shard, now_ms);
    }
}

std::uint64_t NonceCache::bytes_per_entry_overhead() noexcept {
    // Map node (next pointer, key string object, expiry, cached hash) as a malloc
    // chunk, about one hash-bucket pointer per entry, and an index item in a vector
    // that is on average 2/3 full.
    constexpr std::uint64_t node = 8 + sizeof(std::string) + sizeof(std::int64_t) + 8;
    return malloc_chunk(node) + sizeof(void*) + sizeof(Item) * 3 / 2;
}

std::uint64_t NonceCache::bytes() const noexcept {
    const std::uint64_t fixed = sizeof(NonceCache) + shards_.size() * sizeof(Shard);
    return fixed + size() * bytes_per_entry_overhead() +
           key_heap_bytes_.load(std::memory_order_relaxed);
}

}  // namespace agenthost::replay
