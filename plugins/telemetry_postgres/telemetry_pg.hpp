#pragma once
// The synchronous PostgreSQL logic of telemetry_postgres over one pqxx connection.
// Blocking: only ever called on the blocking pool. Every function either returns a
// value or throws a pqxx exception; classify() maps those to a Status.
//
// Idempotency is the tables' keys (migrations/): results by command_id, points by
// (agent_id, metric, ts_ms, labels_hash). A stored point is never changed
// (ON CONFLICT DO NOTHING); a stored terminal result is never overwritten.

#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/status.hpp>

#include "plugins/telemetry_postgres/rows.hpp"

namespace pqxx {
class connection_base;
}

namespace agenthost::telemetry_postgres {

enum class WriteMode {
    multirow,  // one INSERT … SELECT FROM unnest($arrays) ON CONFLICT DO NOTHING
    copy,      // COPY into a temp staging table, then INSERT … SELECT … ON CONFLICT
};
const char* to_string(WriteMode mode) noexcept;

// Writes the whole group in ONE transaction, rows deduplicated and in key order;
// retries it (from scratch) on deadlock 40P01 / serialization failure 40001 up to
// `max_retries` times, adding each retry to *retries. Returns one outcome per batch.
std::vector<sdk::IngestOutcome> write_group(pqxx::connection_base& conn,
                                            std::span<const PreparedBatch> group, WriteMode mode,
                                            unsigned max_retries, std::uint64_t* retries);

// true: stored now (new, or replacing a non-terminal row with a newer one); false:
// a duplicate that changed nothing. Throws std::invalid_argument on bad input.
bool store_result(pqxx::connection_base& conn, const sdk::CommandResult& result);
// A group of results in ONE statement (one commit), with the semantics of calling
// store_result() for each in order: per command_id the batch keeps one winner (a later
// copy replaces an earlier non-terminal one that is not newer), and the winner is
// upserted under the table's rule. Returns one flag per input: true for the winner when
// the database row changed, false for everything else. Retries 40P01/40001 up to
// `max_retries` times. Throws std::invalid_argument on bad input (nothing written).
std::vector<bool> store_results(pqxx::connection_base& conn,
                                std::span<const sdk::CommandResult> results, unsigned max_retries,
                                std::uint64_t* retries);
std::optional<sdk::CommandResult> get_result(pqxx::connection_base& conn,
                                             const std::string& command_id);
// Newest first (ts_ms descending), at most query.limit points.
std::vector<sdk::TelemetryPoint> query(pqxx::connection_base& conn,
                                       const sdk::TelemetryQuery& query);

// Maps an exception from the functions above: broken connection → unavailable,
// bad input → invalid_argument, anything else → internal (message kept).
sdk::Status classify(const std::exception& e);
// True when the error left the connection unusable (the pool should reopen it).
bool connection_lost(const std::exception& e);

// Array literal helpers for the multirow statement (exposed for unit tests).
void append_text_element(std::string& out, std::string_view text);
void append_double(std::string& out, double v);

}  // namespace agenthost::telemetry_postgres
