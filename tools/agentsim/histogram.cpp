#include "tools/agentsim/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace agenthost::agentsim {

std::size_t Histogram::index_of(std::uint64_t value) noexcept {
    if (value < (1u << kSubBits)) {
        return static_cast<std::size_t>(value);
    }
    const int msb = 63 - std::countl_zero(value);
    int shift = msb - (kSubBits - 1);  // value >> shift lands in [kHalf, 2 * kHalf)
    if (shift > kMaxShift) {
        return kBuckets - 1;
    }
    return static_cast<std::size_t>(shift) * kHalf + static_cast<std::size_t>(value >> shift);
}

std::uint64_t Histogram::upper_bound_of(std::size_t index) noexcept {
    if (index < (1u << kSubBits)) {
        return index;
    }
    const std::size_t shift = index / kHalf - 1;
    const std::uint64_t mantissa = index % kHalf + kHalf;
    return ((mantissa + 1) << shift) - 1;
}

void Histogram::record(std::uint64_t value) noexcept {
    ++counts_[index_of(value)];
    ++count_;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
}

void Histogram::merge(const Histogram& other) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) {
        counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

std::uint64_t Histogram::percentile(double p) const noexcept {
    if (count_ == 0) {
        return 0;
    }
    p = std::clamp(p, 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            return std::clamp(upper_bound_of(i), min(), max_);
        }
    }
    return max_;
}

}  // namespace agenthost::agentsim
