#pragma once
// Pure row logic of telemetry_postgres (no database): validation, the storage key,
// deduplication inside a batch and across a group of batches, and attribution of
// the rows a group insert reported as new back to the batches they came from.
//
// Why sorting matters: two transactions inserting overlapping keys in different
// orders can deadlock on the unique index (40P01), and one INSERT … ON CONFLICT
// touching the same key twice fails ("cannot affect row a second time"). Every
// group is therefore deduplicated and written in one global key order.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/status.hpp>

namespace agenthost::telemetry_postgres {

// Canonical JSON of a label set, members sorted by name ({} when empty); a repeated
// name is invalid_argument. The same set always gives the same bytes.
sdk::Result<std::string> canonical_labels(const sdk::LabelSet& labels);
sdk::LabelSet parse_labels(std::string_view canonical);
// 63 bits of SHA-256 over the canonical labels (non-negative, fits a BIGINT).
std::int64_t labels_hash(std::string_view canonical);

struct Row {
    std::string metric;
    std::int64_t ts_ms = 0;
    std::int64_t labels_hash = 0;
    std::string labels;  // canonical JSON
    double value = 0;
};

// A validated batch, repeats inside it removed (first copy kept).
struct PreparedBatch {
    std::string agent_id;
    std::vector<Row> rows;
    std::uint64_t points = 0;  // as received, repeats included
};

// Refuses the whole batch on any bad point (the agent resends it after fixing
// nothing, so the error is permanent and reported as invalid_argument): empty
// agent or metric, a non-finite value, a repeated label name, a NUL byte (PostgreSQL
// text cannot hold one, and one bad row must not fail a whole group).
sdk::Result<PreparedBatch> prepare_batch(const sdk::TelemetryBatch& batch);

// The storage key order shared by every writer: (agent_id, metric, ts_ms, labels_hash).
struct KeyView {
    std::string_view agent_id;
    std::string_view metric;
    std::int64_t ts_ms = 0;
    std::int64_t labels_hash = 0;
    friend auto operator<=>(const KeyView&, const KeyView&) = default;
};

// One distinct row of a group and the batch that owns it (the first in queue order).
struct GroupRow {
    const std::string* agent_id;
    const Row* row;
    std::uint32_t owner;
    KeyView key() const { return {*agent_id, row->metric, row->ts_ms, row->labels_hash}; }
};

// Distinct rows of `batches`, sorted by key. `batches` must outlive the result.
std::vector<GroupRow> merge_group(std::span<const PreparedBatch> batches);

// Given the keys the database reported as newly inserted (any order), the outcome
// of each batch: accepted = its owned rows that were inserted, duplicates = the rest
// of its points.
std::vector<sdk::IngestOutcome> attribute(std::span<const PreparedBatch> batches,
                                          std::span<const GroupRow> rows,
                                          std::vector<KeyView> inserted);

}  // namespace agenthost::telemetry_postgres
