#pragma once
// `agenthost audit verify`: recomputes the keyed chain of audit_file logs
// (kernel/crypto/audit_chain.hpp) and checks it against the checkpoint sink.
//
// Catches, naming the first bad seq: an edited record (MAC mismatch), a deleted one
// (seq gap), an inserted or duplicated one (seq goes back), a reordered pair, a record
// spliced in from another chain (prev does not link), a torn or damaged line, and a
// truncated tail (the checkpoint sink vouches for a seq the log no longer has).
// Files are verified in chain order (sorted by their first seq), so
// `audit verify audit.log.* audit.log` checks rotated files and the live one at once.

#include <cstdint>
#include <string>
#include <vector>

namespace agenthost::cli {

struct AuditVerifyOptions {
    std::vector<std::string> files;
    std::string key;          // raw key bytes; empty: the public unkeyed chain
    std::string checkpoints;  // checkpoint file; empty: truncation is not detectable
};

struct AuditVerifyReport {
    bool ok = false;
    std::uint64_t bad_seq = 0;  // the first bad seq when !ok (0: not about a record)
    std::string error;          // "seq N: ..." with file and line
    std::uint64_t records = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    std::uint64_t checkpoints = 0;          // checkpoint lines verified
    std::uint64_t checkpoints_matched = 0;  // of them, matched against a record
    std::vector<std::string> notes;         // chain breaks, recoveries seen
};

AuditVerifyReport verify_audit(const AuditVerifyOptions& options);

}  // namespace agenthost::cli
