// See frame_arena.hpp.
#include "kernel/proto/frame_arena.hpp"

#include <boost/json/memory_resource.hpp>
#include <boost/json/monotonic_resource.hpp>

#include "kernel/util/block_stash.hpp"

namespace agenthost::proto::detail {
namespace {

namespace json = boost::json;

struct ArenaTag;
using ArenaStash = util::BlockStash<ArenaTag, kFrameArenaBlock, 32>;

// A monotonic arena whose first block comes from (and goes back to) the stash; later
// blocks, if the body outgrows it, come from the heap as usual.
class StashedArena final : public json::memory_resource {
public:
    explicit StashedArena(void* block)
        : block_(block), inner_(static_cast<unsigned char*>(block), kFrameArenaBlock) {}
    ~StashedArena() override {
        inner_.release();
        ArenaStash::give(block_);
    }
    StashedArena(const StashedArena&) = delete;
    StashedArena& operator=(const StashedArena&) = delete;

private:
    void* do_allocate(std::size_t n, std::size_t align) override {
        return inner_.allocate(n, align);
    }
    void do_deallocate(void*, std::size_t, std::size_t) override {}
    bool do_is_equal(const json::memory_resource& other) const noexcept override {
        return this == &other;
    }

    void* block_;
    json::monotonic_resource inner_;
};

}  // namespace
}  // namespace agenthost::proto::detail

// Nothing in the arena is freed piecemeal: containers may skip their deallocations.
template <>
struct boost::json::is_deallocate_trivial<agenthost::proto::detail::StashedArena>
    : std::true_type {};

namespace agenthost::proto::detail {

json::storage_ptr make_frame_arena(std::size_t payload_bytes) {
    // The body takes about twice its text as values plus a fixed overhead.
    const std::size_t want = 2 * payload_bytes + 512;
    if (want <= kFrameArenaBlock) {
        if (void* block = ArenaStash::take()) {
            return json::make_shared_resource<StashedArena>(block);
        }
    }
    return json::make_shared_resource<json::monotonic_resource>(want);
}

std::size_t frame_arena_blocks_held() { return ArenaStash::held(); }

}  // namespace agenthost::proto::detail
