#include "plugins/_common_replay/nonce_table.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace agenthost::replay {
namespace {

constexpr std::size_t kInitialSlots = 16;  // a power of two
// Linear probing stays short below ~70 % occupancy; the table doubles past it.
constexpr std::size_t kMaxLoadPercent = 70;

inline std::uint64_t rotl(std::uint64_t x, int b) noexcept {
    return (x << b) | (x >> (64 - b));
}

inline void sip_round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2,
                      std::uint64_t& v3) noexcept {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
}

inline std::uint64_t load_le64(const unsigned char* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

template <int kCompression, int kFinalization>
std::uint64_t siphash(std::uint64_t k0, std::uint64_t k1, std::string_view data) noexcept {
    std::uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    std::uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    std::uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    std::uint64_t v3 = 0x7465646279746573ULL ^ k1;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t n = data.size();
    const std::size_t full = n & ~std::size_t{7};
    auto absorb = [&](std::uint64_t m) {
        v3 ^= m;
        for (int r = 0; r < kCompression; ++r) {
            sip_round(v0, v1, v2, v3);
        }
        v0 ^= m;
    };
    for (std::size_t i = 0; i < full; i += 8) {
        absorb(load_le64(p + i));
    }
    std::uint64_t last = static_cast<std::uint64_t>(n) << 56;
    for (std::size_t i = 0; i < n - full; ++i) {
        last |= static_cast<std::uint64_t>(p[full + i]) << (8 * i);
    }
    absorb(last);
    v2 ^= 0xff;
    for (int r = 0; r < kFinalization; ++r) {
        sip_round(v0, v1, v2, v3);
    }
    return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace

std::uint64_t siphash13(std::uint64_t k0, std::uint64_t k1, std::string_view data) noexcept {
    return siphash<1, 3>(k0, k1, data);
}

std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, std::string_view data) noexcept {
    return siphash<2, 4>(k0, k1, data);
}

NonceTable::NonceTable() {
    slots_ = new Slot[kInitialSlots]();
    mask_ = kInitialSlots - 1;
    shift_ = 64 - 4;
}

NonceTable::~NonceTable() {
    for (std::size_t i = 0; i <= mask_; ++i) {
        if (slots_[i].node != nullptr) {
            ::operator delete(slots_[i].node);
        }
    }
    delete[] slots_;
}

std::uint64_t NonceTable::node_bytes(std::size_t key_size) noexcept {
    // glibc malloc chunk for the request: 8 bytes of header, 16-byte granularity.
    return std::max<std::uint64_t>(32, (sizeof(Node) + key_size + 8 + 15) & ~std::uint64_t{15});
}

NonceTable::Node* NonceTable::find(std::string_view key, std::uint64_t h) const noexcept {
    for (std::size_t i = home(h);; i = (i + 1) & mask_) {
        const Slot& s = slots_[i];
        if (s.node == nullptr) {
            return nullptr;
        }
        if (s.hash == h && s.node->key() == key) {
            return s.node;
        }
    }
}

NonceTable::Node* NonceTable::insert(std::string_view key, std::uint64_t h, std::int64_t expiry) {
    if ((count_ + 1) * 100 > (mask_ + 1) * kMaxLoadPercent) {
        grow();
    }
    void* mem = ::operator new(sizeof(Node) + key.size());
    Node* node = new (mem) Node{h, expiry, static_cast<std::uint32_t>(key.size())};
    std::memcpy(node + 1, key.data(), key.size());
    std::size_t i = home(h);
    while (slots_[i].node != nullptr) {
        i = (i + 1) & mask_;
    }
    slots_[i] = Slot{h, node};
    ++count_;
    return node;
}

void NonceTable::erase(Node* node) noexcept {
    std::size_t i = home(node->hash);
    while (slots_[i].node != node) {
        i = (i + 1) & mask_;
    }
    // Backward-shift deletion: pull later members of the probe run into the hole
    // unless their home lies cyclically in (hole, their slot], so no lookup ever
    // stops early at the hole.
    std::size_t j = i;
    for (;;) {
        j = (j + 1) & mask_;
        if (slots_[j].node == nullptr) {
            break;
        }
        const std::size_t k = home(slots_[j].hash);
        const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            slots_[i] = slots_[j];
            i = j;
        }
    }
    slots_[i] = Slot{0, nullptr};
    --count_;
    ::operator delete(node);
}

void NonceTable::grow() {
    const std::size_t old_cap = mask_ + 1;
    const std::size_t cap = old_cap * 2;
    Slot* fresh = new Slot[cap]();  // may throw: the table is unchanged then
    Slot* old = slots_;
    slots_ = fresh;
    mask_ = cap - 1;
    shift_ -= 1;
    for (std::size_t o = 0; o < old_cap; ++o) {
        if (old[o].node == nullptr) {
            continue;
        }
        std::size_t i = home(old[o].hash);
        while (slots_[i].node != nullptr) {
            i = (i + 1) & mask_;
        }
        slots_[i] = old[o];
    }
    delete[] old;
}

}  // namespace agenthost::replay
