#pragma once
// A per-thread stash of equal-sized heap blocks, for buffers a hot path allocates and
// frees once per message (TLS record buffers, a frame's JSON arena). glibc serves
// requests of 1 KiB and more outside its thread cache and consolidates its fast bins
// on each, which then slows the small allocations around them too; a stash hit is a
// pointer pop. Blocks are plain std::malloc blocks: one taken on one thread may be
// given back on another (it joins that thread's stash) or released with std::free.
//
// `Tag` separates stashes of the same geometry. At most `Slots` blocks are kept per
// thread; a thread's blocks are freed when it exits. New blocks are aligned to `Align`
// (a power of two, a multiple of sizeof(void*)), which lets a caller tell its blocks
// from others' cheaply.

#include <cstddef>
#include <cstdlib>
#include <new>

namespace agenthost::util {

template <class Tag, std::size_t BlockSize, std::size_t Slots,
          std::size_t Align = alignof(std::max_align_t)>
class BlockStash {
public:
    static_assert((Align & (Align - 1)) == 0 && Align % sizeof(void*) == 0);
    static_assert(BlockSize % Align == 0);

    // A block of BlockSize bytes (nullptr only if malloc fails).
    static void* take() noexcept {
        Stash& s = stash_;
        if (s.count != 0) {
            return s.blocks[--s.count];
        }
        if constexpr (Align <= alignof(std::max_align_t)) {
            return std::malloc(BlockSize);
        } else {
            return std::aligned_alloc(Align, BlockSize);
        }
    }

    // Keeps `block` (which must hold at least BlockSize bytes) or frees it when the
    // stash is full or this thread is exiting.
    static void give(void* block) noexcept {
        Stash& s = stash_;
        if (block == nullptr) {
            return;
        }
        if (!s.closed && s.count < Slots) {
            reaper_.armed = true;  // odr-use: constructs it, so the thread's exit runs it
            s.blocks[s.count++] = block;
            return;
        }
        std::free(block);
    }

    // Blocks the calling thread holds (tests).
    static std::size_t held() noexcept { return stash_.count; }

private:
    // Trivially destructible, so a give() made while the thread exits (after the
    // reaper ran, e.g. from OpenSSL's own thread cleanup) still finds valid storage.
    struct Stash {
        void* blocks[Slots];
        std::size_t count;
        bool closed;
    };
    struct Reaper {
        Reaper() = default;
        Reaper(const Reaper&) = delete;
        Reaper& operator=(const Reaper&) = delete;
        ~Reaper() {
            Stash& s = stash_;
            s.closed = true;
            while (s.count != 0) {
                std::free(s.blocks[--s.count]);
            }
        }
        bool armed = false;
    };
    static thread_local Stash stash_;
    static thread_local Reaper reaper_;
};

template <class Tag, std::size_t BlockSize, std::size_t Slots, std::size_t Align>
thread_local typename BlockStash<Tag, BlockSize, Slots, Align>::Stash
    BlockStash<Tag, BlockSize, Slots, Align>::stash_{};

template <class Tag, std::size_t BlockSize, std::size_t Slots, std::size_t Align>
thread_local typename BlockStash<Tag, BlockSize, Slots, Align>::Reaper
    BlockStash<Tag, BlockSize, Slots, Align>::reaper_;

}  // namespace agenthost::util
