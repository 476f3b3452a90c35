#pragma once
// The gateway's durable state, one SQLite file in the state directory:
//
//  - the executed record: one row per command_id, written "started" BEFORE a
//    handler runs and "finished" (with the result body) after. A row found
//    "started" at open was interrupted by a crash: it is never re-executed; open()
//    finishes it as `failed` ("interrupted by gateway restart").
//  - the spool: result bodies and telemetry batch bodies waiting for the backend's
//    result_ack / telemetry_ack, in arrival order (seq). Bounded by max_bytes for
//    telemetry only: a batch that does not fit is refused (Errc::exhausted);
//    results are never refused or dropped.
//
// Why one file: a result is recorded and spooled in one transaction, so a crash can
// neither lose a result (recorded, not spooled) nor report an interrupted command
// that actually finished. synchronous=FULL: a commit is durable when it returns.
//
// Threading: every method is thread-safe. Methods that touch the file block (fsync)
// and belong on the blocking pool; lookup() and counts() read memory only.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <agenthost/status.hpp>

struct sqlite3;

namespace agenthost::gateway {

enum class RecordState { started, finished };

enum class SpoolKind { result, telemetry };

struct SpoolItem {
    std::int64_t seq = 0;
    SpoolKind kind = SpoolKind::result;
    std::string key;   // command_id or batch_id
    std::string body;  // JSON text of the message body
};

struct SpoolCounts {
    std::uint64_t results = 0;
    std::uint64_t telemetry = 0;
    std::uint64_t bytes = 0;
};

struct StoreOptions {
    std::uint64_t spool_max_bytes = 256u << 20;
    // Finished records older than this are pruned at open (the backend stops
    // redelivering long before: ack_timeout × max_attempts).
    std::int64_t record_retention_ms = 7LL * 24 * 3600 * 1000;
};

class GatewayStore {
public:
    // Opens (creating) the database, prunes old records and finishes interrupted
    // commands. Blocking.
    static sdk::Result<std::unique_ptr<GatewayStore>> open(const std::string& path,
                                                           StoreOptions options,
                                                           std::int64_t now_ms);
    ~GatewayStore();
    GatewayStore(const GatewayStore&) = delete;
    GatewayStore& operator=(const GatewayStore&) = delete;

    // Commands found "started" at open, now finished as failed and spooled.
    const std::vector<std::string>& interrupted() const { return interrupted_; }

    // ---- executed record ----
    std::optional<RecordState> lookup(std::string_view command_id) const;
    // Durably records that `command_id` is about to run. Errc::conflict if a row exists.
    sdk::Status mark_started(const std::string& command_id, const std::string& name,
                             std::int64_t now_ms);
    // Records the final result body and spools it, atomically. Idempotent per id: a
    // second finish of the same id keeps the first result.
    sdk::Status finish(const std::string& command_id, const std::string& name,
                       const std::string& result_body, std::int64_t now_ms);
    // The stored result body of a finished command.
    sdk::Result<std::string> stored_result(const std::string& command_id) const;
    // Puts a finished command's stored result back into the spool (a redelivery after
    // the first copy was acked).
    sdk::Status respool_result(const std::string& command_id);

    // ---- spool ----
    sdk::Status spool_telemetry(const std::string& batch_id, const std::string& body);
    // Drops an acked item; unknown keys are fine (a duplicate ack).
    sdk::Status ack(SpoolKind kind, const std::string& key);
    // Items with seq > after_seq in seq order, at most `limit`.
    sdk::Result<std::vector<SpoolItem>> pending(std::int64_t after_seq, std::size_t limit) const;
    SpoolCounts counts() const;
    bool telemetry_full(std::size_t next_bytes) const;

private:
    GatewayStore(sqlite3* db, StoreOptions options);
    sdk::Status exec(const char* sql);
    sdk::Status load();
    sdk::Status recover_interrupted(std::int64_t now_ms);
    // Both with mu_ held: the SQL write, then (after it committed) the memory index.
    sdk::Status spool_sql(SpoolKind kind, const std::string& key, const std::string& body);
    void note_spooled(SpoolKind kind, const std::string& key, std::uint64_t bytes);

    sqlite3* db_;
    StoreOptions options_;
    mutable std::mutex mu_;  // one writer at a time; guards the maps below too
    std::unordered_map<std::string, RecordState> records_;
    // Spool index: (kind, key) → body bytes, for counts and the byte bound.
    std::unordered_map<std::string, std::uint64_t> spool_bytes_;
    SpoolCounts counts_;
    std::vector<std::string> interrupted_;
};

// The result body sent for a command interrupted by a restart.
std::string interrupted_result_body(const std::string& command_id, std::int64_t now_ms);

}  // namespace agenthost::gateway
