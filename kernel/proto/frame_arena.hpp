#pragma once
// The memory a verified frame's JSON body lives in: one arena per frame, released as
// a whole when the envelope goes. Small frames (the common case: telemetry, acks,
// results) take the arena's first block from a per-thread stash instead of the heap,
// so a message costs no allocation of 1 KiB or more (docs/PERFORMANCE.md, session 5).

#include <cstddef>

#include <boost/json/storage_ptr.hpp>

namespace agenthost::proto::detail {

// An arena for the body of a payload of `payload_bytes` bytes.
boost::json::storage_ptr make_frame_arena(std::size_t payload_bytes);

// The first-block size of stash-backed arenas, and the stash's blocks on this thread
// (tests).
inline constexpr std::size_t kFrameArenaBlock = 4096;
std::size_t frame_arena_blocks_held();

}  // namespace agenthost::proto::detail
