#include "plugins/_common_replay/nonce_cache.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <random>
#include <string>
#include <utility>

namespace agenthost::replay {

namespace {

// Unambiguous key: a 4-byte length of the agent id, the agent id, then the nonce,
// so ("ab", "c") and ("a", "bc") never collide whatever bytes they hold. Built on the
// stack for the usual sizes (agent ids and nonces are short): no allocation per check.
class Key {
public:
    Key(std::string_view agent, std::string_view nonce) {
        const std::size_t n = 4 + agent.size() + nonce.size();
        char* p = inline_.data();
        if (n > inline_.size()) {
            heap_.resize(n);
            p = heap_.data();
        }
        const auto a = static_cast<std::uint32_t>(agent.size());
        p[0] = static_cast<char>(a >> 24);
        p[1] = static_cast<char>(a >> 16);
        p[2] = static_cast<char>(a >> 8);
        p[3] = static_cast<char>(a);
        std::copy(agent.begin(), agent.end(), p + 4);
        std::copy(nonce.begin(), nonce.end(), p + 4 + agent.size());
        view_ = std::string_view(p, n);
    }
    Key(const Key&) = delete;
    Key& operator=(const Key&) = delete;
    std::string_view view() const noexcept { return view_; }

private:
    std::array<char, 192> inline_;
    std::string heap_;
    std::string_view view_;
};

std::uint64_t random_u64() {
    std::random_device rd;  // getrandom(2) on Linux
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

NonceCache::NonceCache(Options options)
    : options_(options), hash_k0_(random_u64()), hash_k1_(random_u64()) {
    options_.capacity = std::max<std::uint64_t>(1, options_.capacity);
    options_.bucket_ms = std::max<std::int64_t>(1, options_.bucket_ms);
    const unsigned n = std::clamp<unsigned>(options_.shards, 1, 4096);
    options_.shards = n;
    shards_.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        shards_.push_back(std::make_unique<Shard>());
    }
}

NonceCache::Shard& NonceCache::shard_for(std::uint64_t hash) noexcept {
    // The low bits choose the shard, the table's home slot uses the high ones.
    return *shards_[(hash & 0xffffffffu) % shards_.size()];
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

void NonceCache::index_locked(Shard& s, Node* node, std::int64_t expiry) {
    const std::int64_t b = expiry / options_.bucket_ms;
    if (s.last == s.buckets.end() || s.last->first != b) {
        auto [it, created] = s.buckets.try_emplace(b);
        if (created && s.last != s.buckets.end()) {
            // Size the new bucket like the previous one: no regrowth copies at a
            // steady rate.
            it->second.reserve(s.last->second.size());
        }
        s.last = it;
    }
    s.last->second.push_back(Item{node, expiry});
    s.hint = std::min(s.hint, expiry);
}

void NonceCache::erase_bucket_locked(Shard& s, Buckets::iterator it) {
    if (it == s.last) {
        s.last = s.buckets.end();
    }
    s.buckets.erase(it);
}

void NonceCache::insert_locked(Shard& s, std::string_view key, std::uint64_t hash,
                               std::int64_t expiry) {
    Node* node = nullptr;
    try {
        node = s.table.insert(key, hash, expiry);
        index_locked(s, node, expiry);
    } catch (...) {
        // Out of memory: leave no entry without an index item, give the slot back.
        if (node != nullptr) {
            s.table.erase(node);
        }
        size_.fetch_sub(1, std::memory_order_relaxed);
        throw;
    }
    node_bytes_.fetch_add(NonceTable::node_bytes(key.size()), std::memory_order_relaxed);
}

void NonceCache::drop_item_locked(Shard& s, const Item& item) {
    // Items of one entry are processed oldest first and an entry is erased only by
    // its newest item (a refresh always moves the expiry later), so item.node is
    // still a live entry here.
    if (item.node->expiry != item.expiry) {
        return;
    }
    node_bytes_.fetch_sub(NonceTable::node_bytes(item.node->size), std::memory_order_relaxed);
    s.table.erase(item.node);
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
        erase_bucket_locked(s, first);
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
        erase_bucket_locked(s, first);
        s.hint = s.buckets.empty() ? std::numeric_limits<std::int64_t>::max()
                                   : s.buckets.begin()->first * options_.bucket_ms;
    }
}

NonceCache::Outcome NonceCache::check_and_insert(std::string_view agent, std::string_view nonce,
                                                 std::int64_t expiry_ms, std::int64_t now_ms) {
    const Key key(agent, nonce);
    const std::uint64_t hash = siphash13(hash_k0_, hash_k1_, key.view());
    Shard& s = shard_for(hash);
    for (int attempt = 0; attempt < 2; ++attempt) {
        {
            std::lock_guard lock(s.mu);
            purge_whole_buckets_locked(s, now_ms);
            if (Node* node = s.table.find(key.view(), hash); node != nullptr) {
                if (node->expiry > now_ms) {
                    return Outcome::replayed;
                }
                // Expired but not purged yet: reuse the entry (no capacity change).
                // An expiry that is already past needs no record at all (it would be
                // absent at the next check anyway), and indexing it could give the
                // entry two items of one expiry.
                if (expiry_ms > now_ms) {
                    node->expiry = expiry_ms;
                    index_locked(s, node, expiry_ms);
                }
                return Outcome::fresh;
            }
            if (expiry_ms <= now_ms) {
                return Outcome::fresh;  // expired on arrival: nothing to remember
            }
            if (try_reserve()) {
                insert_locked(s, key.view(), hash, expiry_ms);
                return Outcome::fresh;
            }
            purge_exact_locked(s, now_ms);
            if (try_reserve()) {
                insert_locked(s, key.view(), hash, expiry_ms);
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
    // Table slots (16 bytes at 35-70 % occupancy: ~2 per entry) and an index item in
    // a vector that is on average 2/3 full; the entry's own allocation (key inline)
    // is counted exactly by node_bytes_.
    constexpr std::uint64_t slot = sizeof(std::uint64_t) + sizeof(void*);
    return 2 * slot + sizeof(Item) * 3 / 2;
}

std::uint64_t NonceCache::bytes() const noexcept {
    const std::uint64_t fixed = sizeof(NonceCache) + shards_.size() * sizeof(Shard);
    return fixed + size() * bytes_per_entry_overhead() +
           node_bytes_.load(std::memory_order_relaxed);
}

}  // namespace agenthost::replay
