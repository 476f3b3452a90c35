#pragma once
// Where the chain stands on disk: the last verifiable record at the end of the log
// (read at start-up so the chain continues), and the rotated-file naming.
//
// Rotated files are named <path>.<seq of their last record, 20 digits>, e.g.
// audit.log.00000000000000012345, so name order is chain order and
// `agenthost audit verify audit.log.* audit.log` checks the whole trail.

#include <cstdint>
#include <string>
#include <string_view>

namespace agenthost::plugins::audit_file {

struct ChainTail {
    std::uint64_t seq = 0;           // last record whose MAC verifies (0: none)
    std::string head;                // its mac; genesis when none
    std::uint64_t max_seen_seq = 0;  // highest seq parsed at all (damaged lines too)
    std::size_t damaged_lines = 0;   // lines after `seq` that do not verify (incl. torn)
    bool torn = false;               // the file does not end in a newline
    bool damaged() const { return damaged_lines > 0; }
};

// Reads at most the last `window` bytes of `file` and finds the chain head in them.
// An empty or missing file gives seq 0, head genesis.
ChainTail read_chain_tail(const std::string& file, std::string_view key,
                          std::size_t window = 256 * 1024);

// "<path>.<20-digit last_seq>".
std::string rotated_name(const std::string& path, std::uint64_t last_seq);
// The rotated file of `path` with the highest seq, or "" when there is none.
std::string newest_rotated(const std::string& path);

}  // namespace agenthost::plugins::audit_file
