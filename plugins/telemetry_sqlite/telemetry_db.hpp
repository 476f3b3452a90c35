#pragma once
// TelemetryDb: the synchronous SQLite logic of the telemetry store. Blocking; the
// plugin runs it on the blocking pool. Thread-safe (writer and reader connections
// each behind a mutex). Idempotency is the tables' PRIMARY KEYs: results by
// command_id, points by (agent_id, metric, ts_ms, labels_key); a conflicting row is
// never overwritten (ON CONFLICT DO NOTHING).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_sqlite/sqlite.hpp"

namespace agenthost::telemetry_sqlite {

// The canonical storage form of a label set: a JSON object with members sorted by
// name, e.g. {"cpu":"0","mode":"idle"}; {} for no labels. Two equal sets always give
// the same bytes, so the text can be part of the primary key. A repeated label name
// is invalid_argument.
sdk::Result<std::string> canonical_labels(const sdk::LabelSet& labels);
sdk::LabelSet parse_labels(std::string_view canonical);

class TelemetryDb {
public:
    static sdk::Result<std::unique_ptr<TelemetryDb>> open(const sqlite::Options& options);
    static std::span<const std::string_view> migrations();

    // true: stored now; false: a result with this command_id was already stored.
    sdk::Result<bool> store_result(const sdk::CommandResult& result);
    sdk::Result<std::optional<sdk::CommandResult>> get_result(const std::string& command_id);
    // One transaction. Points repeated inside the batch are stored once: the first
    // copy counts as accepted (if new), later copies as duplicates. When this returns
    // ok the transaction is committed (durable per the connection's `synchronous`).
    sdk::Result<sdk::IngestOutcome> store_batch(const sdk::TelemetryBatch& batch);
    // Newest first (ts_ms descending), at most `query.limit` points.
    sdk::Result<std::vector<sdk::TelemetryPoint>> query(const sdk::TelemetryQuery& query);

    sqlite::Database& database() noexcept { return *db_; }

private:
    explicit TelemetryDb(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
    std::unique_ptr<sqlite::Database> db_;
};

}  // namespace agenthost::telemetry_sqlite
