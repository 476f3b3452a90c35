#pragma once
// A log-bucketed latency histogram in the manner of HdrHistogram: exact below 256,
// then 128 linear sub-buckets per power of two (relative error < 0.8 %), values
// up to 2^44. Fixed memory, O(1) record, mergeable across threads; percentiles
// come from the bucket counts, never from averages.

#include <array>
#include <cstdint>

namespace agenthost::agentsim {

class Histogram {
public:
    static constexpr int kSubBits = 8;  // 2^8 exact values, then 2^7 per octave
    static constexpr int kHalf = 1 << (kSubBits - 1);
    static constexpr int kMaxShift = 44 - kSubBits;
    static constexpr std::size_t kBuckets = static_cast<std::size_t>(kMaxShift + 2) * kHalf;

    void record(std::uint64_t value) noexcept;
    void merge(const Histogram& other) noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
    std::uint64_t max() const noexcept { return max_; }
    // The value at percentile p (0..100): the upper bound of the bucket holding it,
    // clamped to the largest value recorded. 0 when empty.
    std::uint64_t percentile(double p) const noexcept;

    static std::size_t index_of(std::uint64_t value) noexcept;
    static std::uint64_t upper_bound_of(std::size_t index) noexcept;

private:
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
};

}  // namespace agenthost::agentsim
