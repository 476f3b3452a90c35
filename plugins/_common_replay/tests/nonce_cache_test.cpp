// NonceCache: exactness of the bound (full only when full of live entries), expiry,
// and atomicity per key under concurrency.

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "plugins/_common_replay/nonce_cache.hpp"
#include "plugins/_common_replay/nonce_table.hpp"

namespace agenthost::replay {
namespace {

using Outcome = NonceCache::Outcome;

NonceCache::Options opts(std::uint64_t capacity, unsigned shards = 1) {
    return NonceCache::Options{capacity, shards, 100};
}

TEST(NonceCache, FreshThenReplayed) {
    NonceCache c(opts(10));
    EXPECT_EQ(c.check_and_insert("a1", "n1", 1000, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a1", "n1", 1000, 1), Outcome::replayed);
    EXPECT_EQ(c.check_and_insert("a1", "n1", 1000, 999), Outcome::replayed);
    EXPECT_EQ(c.size(), 1u);
}

TEST(NonceCache, KeyIsPerAgentAndUnambiguous) {
    NonceCache c(opts(10));
    EXPECT_EQ(c.check_and_insert("a1", "n1", 1000, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a2", "n1", 1000, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("ab", "c", 1000, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "bc", 1000, 0), Outcome::fresh);
    EXPECT_EQ(c.size(), 4u);
}

TEST(NonceCache, ExpiredEntryIsFreshAgainAndFreesItsSlot) {
    NonceCache c(opts(2));
    EXPECT_EQ(c.check_and_insert("a", "x", 150, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "y", 250, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "z", 900, 100), Outcome::full);
    // x expired at 150 (inside a partly elapsed bucket): the exact purge frees it.
    EXPECT_EQ(c.check_and_insert("a", "z", 900, 150), Outcome::fresh);
    EXPECT_EQ(c.size(), 2u);
    // y expires at 250: seen again afterwards it is a new sighting.
    EXPECT_EQ(c.check_and_insert("a", "y", 900, 249), Outcome::replayed);
    EXPECT_EQ(c.check_and_insert("a", "y", 900, 250), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "y", 900, 251), Outcome::replayed);
    EXPECT_EQ(c.size(), 2u);
}

TEST(NonceCache, FullNeverEvictsALiveEntry) {
    NonceCache c(opts(3));
    for (const char* n : {"n1", "n2", "n3"}) {
        ASSERT_EQ(c.check_and_insert("a", n, 10'000, 0), Outcome::fresh);
    }
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(c.check_and_insert("a", "new" + std::to_string(i), 10'000, 5000), Outcome::full);
    }
    for (const char* n : {"n1", "n2", "n3"}) {
        EXPECT_EQ(c.check_and_insert("a", n, 10'000, 9999), Outcome::replayed) << n;
    }
    EXPECT_EQ(c.size(), 3u);
    EXPECT_EQ(c.check_and_insert("a", "later", 20'000, 10'000), Outcome::fresh);
}

TEST(NonceCache, CapacityIsGlobalAndExpiredEntriesInOtherShardsAreReclaimed) {
    NonceCache c(opts(8, 4));
    int fresh = 0;
    for (int i = 0; i < 100; ++i) {
        fresh += c.check_and_insert("a", "n" + std::to_string(i), 50, 0) == Outcome::fresh;
    }
    EXPECT_EQ(fresh, 8);
    EXPECT_EQ(c.size(), 8u);
    // Every entry expired: any new key fits, whichever shard holds the old ones.
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(c.check_and_insert("b", "m" + std::to_string(i), 500, 60), Outcome::fresh);
    }
    EXPECT_EQ(c.size(), 8u);
}

TEST(NonceCache, PurgeExpiredEmptiesTheCacheAndTheByteEstimate) {
    NonceCache c(opts(1000, 4));
    const auto empty_bytes = c.bytes();
    for (int i = 0; i < 500; ++i) {
        c.check_and_insert("agent-0001", "nonce-that-is-22-chars" + std::to_string(i), 100 + i, 0);
    }
    EXPECT_EQ(c.size(), 500u);
    EXPECT_GT(c.bytes(), empty_bytes + 500 * NonceCache::bytes_per_entry_overhead());
    c.purge_expired(300);
    EXPECT_EQ(c.size(), 299u);  // expiries 301..599 are still live at 300
    c.purge_expired(10'000);
    EXPECT_EQ(c.size(), 0u);
    EXPECT_EQ(c.bytes(), empty_bytes);
}

// Randomised comparison with a trivially correct model: exact `full`, exact expiry,
// refreshes with varying windows (exercises the expiry index's stale items).
TEST(NonceCache, MatchesReferenceModel) {
    for (unsigned shards : {1u, 3u}) {
        NonceCache c(opts(20, shards));
        std::map<std::string, std::int64_t> model;  // key -> expiry
        std::mt19937 rng(1234 + shards);
        std::int64_t now = 0;
        for (int step = 0; step < 20'000; ++step) {
            now += static_cast<std::int64_t>(rng() % 7);
            const std::string nonce = "n" + std::to_string(rng() % 60);
            const std::int64_t expiry = now + 1 + static_cast<std::int64_t>(rng() % 400);
            std::erase_if(model, [&](const auto& kv) { return kv.second <= now; });
            Outcome want;
            if (model.count(nonce)) {
                want = Outcome::replayed;
            } else if (model.size() < 20) {
                want = Outcome::fresh;
                model[nonce] = expiry;
            } else {
                want = Outcome::full;
            }
            ASSERT_EQ(c.check_and_insert("agent", nonce, expiry, now), want)
                << "step " << step << " shards " << shards;
            ASSERT_LE(c.size(), 20u);
        }
        c.purge_expired(now);
        std::erase_if(model, [&](const auto& kv) { return kv.second <= now; });
        EXPECT_EQ(c.size(), model.size());
    }
}

TEST(NonceCache, ConcurrentInsertsOfOverlappingNoncesAreFreshExactlyOnce) {
    constexpr int threads = 8;
    constexpr int nonces = 3000;
    NonceCache c(opts(1'000'000, 16));
    std::vector<std::atomic<int>> fresh(nonces);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::vector<int> order(nonces);
            for (int i = 0; i < nonces; ++i) {
                order[i] = i;
            }
            std::shuffle(order.begin(), order.end(), std::mt19937(t));
            for (int i : order) {
                if (c.check_and_insert("agent", "nonce-" + std::to_string(i), 60'000, 0) ==
                    Outcome::fresh) {
                    fresh[i].fetch_add(1);
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    for (int i = 0; i < nonces; ++i) {
        ASSERT_EQ(fresh[i].load(), 1) << "nonce " << i;
    }
    EXPECT_EQ(c.size(), static_cast<std::uint64_t>(nonces));
}

TEST(NonceCache, ConcurrentInsertsNeverExceedCapacity) {
    constexpr int threads = 6;
    NonceCache c(opts(500, 8));
    std::atomic<int> fresh{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < 400; ++i) {
                if (c.check_and_insert("a" + std::to_string(t), std::to_string(i), 60'000, 0) ==
                    Outcome::fresh) {
                    ++fresh;
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    EXPECT_EQ(fresh.load(), 500);
    EXPECT_EQ(c.size(), 500u);
}


// Keys longer than the on-stack key buffer, and bytes a C string would cut short.
TEST(NonceCache, LongAndBinaryKeysAreExact) {
    NonceCache c(opts(10));
    const std::string agent(300, 'a');
    const std::string nonce_a = std::string("x\0y", 3) + std::string(200, 'n');
    const std::string nonce_b = std::string("x\0z", 3) + std::string(200, 'n');
    EXPECT_EQ(c.check_and_insert(agent, nonce_a, 1000, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert(agent, nonce_b, 1000, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert(agent, nonce_a, 1000, 1), Outcome::replayed);
    EXPECT_EQ(c.check_and_insert(agent.substr(1), "a" + nonce_a, 1000, 1), Outcome::fresh);
    EXPECT_EQ(c.size(), 3u);
    c.purge_expired(1000);
    EXPECT_EQ(c.size(), 0u);
}

// An expiry already past needs no record: fresh, and nothing is kept.
TEST(NonceCache, ExpiredOnArrivalIsFreshAndNotKept) {
    NonceCache c(opts(1));
    EXPECT_EQ(c.check_and_insert("a", "live", 1000, 0), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "past", 50, 100), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "past", 50, 100), Outcome::fresh);
    EXPECT_EQ(c.size(), 1u);
    EXPECT_EQ(c.check_and_insert("a", "live", 1000, 100), Outcome::replayed);
    // An expired entry refreshed with a past expiry stays expired.
    EXPECT_EQ(c.check_and_insert("a", "live", 1000, 1000), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "live", 500, 1000), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "live", 2000, 1000), Outcome::fresh);
    EXPECT_EQ(c.check_and_insert("a", "live", 2000, 1999), Outcome::replayed);
}

// Many live entries per shard (the table grows and, on purge, shifts probe runs
// back): every key stays findable until it expires, then it is gone.
TEST(NonceCache, LargeChurnMatchesReferenceModel) {
    constexpr std::uint64_t cap = 5000;
    NonceCache c(opts(cap, 2));
    std::map<std::string, std::int64_t> model;           // key -> expiry
    std::multimap<std::int64_t, std::string> by_expiry;  // to expire the model cheaply
    std::mt19937 rng(77);
    std::int64_t now = 0;
    for (int step = 0; step < 60'000; ++step) {
        now += static_cast<std::int64_t>(rng() % 3);
        const std::string nonce = "n" + std::to_string(rng() % 9000);
        const std::int64_t expiry = now + 1 + static_cast<std::int64_t>(rng() % 3000);
        while (!by_expiry.empty() && by_expiry.begin()->first <= now) {
            model.erase(by_expiry.begin()->second);
            by_expiry.erase(by_expiry.begin());
        }
        Outcome want;
        if (model.count(nonce)) {
            want = Outcome::replayed;
        } else if (model.size() < cap) {
            want = Outcome::fresh;
            model[nonce] = expiry;
            by_expiry.emplace(expiry, nonce);
        } else {
            want = Outcome::full;
        }
        ASSERT_EQ(c.check_and_insert("agent", nonce, expiry, now), want) << "step " << step;
        if (step % 997 == 0) {
            c.purge_expired(now);
            ASSERT_EQ(c.size(), model.size()) << "step " << step;
        }
    }
}

TEST(NonceTable, InsertFindEraseMatchSetModel) {
    NonceTable t;
    std::map<std::string, NonceTable::Node*> model;
    std::mt19937 rng(5);
    // A weak hash (few distinct values) forces long probe runs and wrap-arounds.
    auto weak = [](const std::string& k) {
        return siphash13(1, 2, k) & 0xF00000000000000FULL;
    };
    for (int step = 0; step < 40'000; ++step) {
        const std::string key = "k" + std::to_string(rng() % 3000);
        const std::uint64_t h = step < 20'000 ? weak(key) : siphash13(1, 2, key);
        if (step == 20'000) {
            for (auto& [k, n] : model) {
                t.erase(n);
            }
            model.clear();
            ASSERT_EQ(t.size(), 0u);
        }
        NonceTable::Node* found = t.find(key, h);
        auto it = model.find(key);
        ASSERT_EQ(found != nullptr, it != model.end()) << "step " << step;
        if (found == nullptr) {
            NonceTable::Node* n = t.insert(key, h, step);
            ASSERT_EQ(n->key(), key);
            model.emplace(key, n);
        } else {
            ASSERT_EQ(found, it->second);
            ASSERT_EQ(found->key(), key);
            t.erase(found);
            model.erase(it);
        }
        ASSERT_EQ(t.size(), model.size());
    }
    for (auto& [k, n] : model) {
        ASSERT_EQ(t.find(k, siphash13(1, 2, k)), n) << k;
    }
}

TEST(NonceTable, SipHashMatchesReferenceVectors) {
    // vectors.h of the SipHash reference implementation (SipHash-2-4, 64-bit output,
    // key 00..0f, message 00..n-1): n = 0 and n = 15 (little-endian bytes as integers).
    const std::uint64_t k0 = 0x0706050403020100ULL;
    const std::uint64_t k1 = 0x0F0E0D0C0B0A0908ULL;
    std::string msg;
    for (int n = 0; n < 15; ++n) {
        msg.push_back(static_cast<char>(n));
    }
    EXPECT_EQ(siphash24(k0, k1, ""), 0x726FDB47DD0E0E31ULL);
    EXPECT_EQ(siphash24(k0, k1, msg), 0xA129CA6149BE45E5ULL);
    // SipHash-1-3 as CPython computes it (sys.hash_info.algorithm == "siphash13"):
    // PYTHONHASHSEED=0 (zero key) python3 -c 'print(hash(b"abcdefghijk") % 2**64)'.
    EXPECT_EQ(siphash13(0, 0, "abcdefghijk"), 1450545860578130900ULL);
    EXPECT_NE(siphash13(k0, k1, msg), siphash13(k0 + 1, k1, msg));
    EXPECT_NE(siphash13(k0, k1, msg), siphash13(k0, k1, msg.substr(1)));
}

}  // namespace
}  // namespace agenthost::replay
