#include "plugins/telemetry_sqlite/telemetry_db.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <unordered_set>

#include <sqlite3.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <agenthost/json.hpp>

namespace agenthost::telemetry_sqlite {

using sdk::Errc;
using sdk::Status;
using sqlite::Connection;
using sqlite::Transaction;
namespace json = sdk::json;

namespace {

// Append-only: never edit a shipped step; add a new one.
constexpr std::array<std::string_view, 1> kMigrations = {
    R"sql(
CREATE TABLE results (
    command_id      TEXT PRIMARY KEY NOT NULL,
    agent_id        TEXT NOT NULL,
    status          TEXT NOT NULL,
    exit_code       INTEGER,            -- NULL when the command did not run to completion
    output          TEXT NOT NULL,
    output_encoding TEXT NOT NULL,      -- 'utf-8' or 'base64'
    truncated       INTEGER NOT NULL,
    started_ms      INTEGER NOT NULL,
    finished_ms     INTEGER NOT NULL,
    received_ms     INTEGER NOT NULL
);
-- The primary key is the idempotency key of PROTOCOL.md §5.
CREATE TABLE telemetry (
    agent_id   TEXT NOT NULL,
    metric     TEXT NOT NULL,
    ts_ms      INTEGER NOT NULL,
    labels_key TEXT NOT NULL,           -- canonical JSON of the sorted labels
    value      REAL NOT NULL,
    PRIMARY KEY (agent_id, metric, ts_ms, labels_key)
) WITHOUT ROWID;
-- Serves queries without a metric filter (newest first per agent).
CREATE INDEX telemetry_by_time ON telemetry (agent_id, ts_ms);
)sql",
};

constexpr const char* kResultColumns =
    "command_id, agent_id, status, exit_code, output, output_encoding, truncated,"
    " started_ms, finished_ms, received_ms";

}  // namespace

sdk::Result<std::string> canonical_labels(const sdk::LabelSet& labels) {
    std::vector<const std::pair<std::string, std::string>*> sorted;
    sorted.reserve(labels.size());
    for (const auto& l : labels) {
        sorted.push_back(&l);
    }
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    json::object obj;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        if (i > 0 && sorted[i]->first == sorted[i - 1]->first) {
            return Status(Errc::invalid_argument, "repeated label name: " + sorted[i]->first);
        }
        obj.emplace(sorted[i]->first, sorted[i]->second);  // object keeps insertion order
    }
    return json::serialize(obj);
}

sdk::LabelSet parse_labels(std::string_view canonical) {
    sdk::LabelSet out;
    boost::system::error_code ec;
    json::value v = json::parse(canonical, ec);
    if (ec || !v.is_object()) {
        return out;
    }
    for (const auto& [k, val] : v.get_object()) {
        if (val.is_string()) {
            out.emplace_back(std::string(k), std::string(val.get_string()));
        }
    }
    return out;
}

std::span<const std::string_view> TelemetryDb::migrations() {
    return kMigrations;
}

sdk::Result<std::unique_ptr<TelemetryDb>> TelemetryDb::open(const sqlite::Options& options) {
    auto db = sqlite::Database::open(options, migrations());
    if (!db) {
        return db.status();
    }
    return std::unique_ptr<TelemetryDb>(new TelemetryDb(std::move(db).value()));
}

sdk::Result<bool> TelemetryDb::store_result(const sdk::CommandResult& r) {
    if (r.command_id.empty()) {
        return Status(Errc::invalid_argument, "result without command_id");
    }
    const std::string encoding = r.output_encoding.empty() ? "utf-8" : r.output_encoding;
    if (encoding != "utf-8" && encoding != "base64") {
        return Status(Errc::invalid_argument, "unknown output_encoding: " + encoding);
    }
    return db_->write([&](Connection& c) -> sdk::Result<bool> {
        // Autocommit: one statement is its own (durable) transaction.
        auto ins = c.prepare(std::string("INSERT INTO results (") + kResultColumns +
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                             " ON CONFLICT (command_id) DO NOTHING");
        if (!ins) {
            return ins.status();
        }
        ins->bind(1, r.command_id)
            .bind(2, r.agent_id)
            .bind(3, std::string_view(sdk::to_string(r.status)))
            .bind(4, r.exit_code)
            .bind(5, r.output)
            .bind(6, encoding)
            .bind(7, std::int64_t{r.truncated ? 1 : 0})
            .bind(8, r.started_ms)
            .bind(9, r.finished_ms)
            .bind(10, r.received_ms);
        if (auto st = ins->run(); !st) {
            return st;
        }
        return c.changes() == 1;
    });
}

sdk::Result<std::optional<sdk::CommandResult>> TelemetryDb::get_result(
    const std::string& command_id) {
    using R = sdk::Result<std::optional<sdk::CommandResult>>;
    return db_->read([&](Connection& c) -> R {
        auto q = c.prepare(std::string("SELECT ") + kResultColumns +
                           " FROM results WHERE command_id = ?1");
        if (!q) {
            return q.status();
        }
        q->bind(1, command_id);
        int rc = q->step();
        if (rc == SQLITE_DONE) {
            return std::optional<sdk::CommandResult>();
        }
        if (rc != SQLITE_ROW) {
            return c.error(rc, "select result");
        }
        sdk::CommandResult r;
        r.command_id = q->text(0);
        r.agent_id = q->text(1);
        r.status = sdk::command_state_from(q->text(2)).value_or(sdk::CommandState::failed);
        if (!q->is_null(3)) {
            r.exit_code = q->int64(3);
        }
        r.output = q->text(4);
        r.output_encoding = q->text(5);
        r.truncated = q->int64(6) != 0;
        r.started_ms = q->int64(7);
        r.finished_ms = q->int64(8);
        r.received_ms = q->int64(9);
        return std::optional<sdk::CommandResult>(std::move(r));
    });
}

sdk::Result<sdk::IngestOutcome> TelemetryDb::store_batch(const sdk::TelemetryBatch& batch) {
    if (batch.agent_id.empty()) {
        return Status(Errc::invalid_argument, "batch without agent_id");
    }
    // Validate and dedupe before touching the database: a bad point refuses the whole
    // batch (the agent resends it), and a repeat inside the batch is written once.
    struct Row {
        const sdk::TelemetryPoint* point;
        std::string labels_key;
    };
    std::vector<Row> rows;
    rows.reserve(batch.points.size());
    std::unordered_set<std::string> seen;
    for (const auto& p : batch.points) {
        if (p.metric.empty()) {
            return Status(Errc::invalid_argument, "point without metric");
        }
        if (!std::isfinite(p.value)) {
            return Status(Errc::invalid_argument, "non-finite value for " + p.metric);
        }
        auto labels = canonical_labels(p.labels);
        if (!labels) {
            return labels.status();
        }
        std::string key = p.metric;
        key += '\0';
        key += std::to_string(p.ts_ms);
        key += '\0';
        key += *labels;
        if (seen.insert(std::move(key)).second) {
            rows.push_back(Row{&p, std::move(labels).value()});
        }
    }

    sdk::IngestOutcome outcome;
    if (rows.empty()) {
        return outcome;
    }
    auto accepted = db_->write([&](Connection& c) -> sdk::Result<std::uint64_t> {
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        if (!tx) {
            return tx.status();
        }
        std::uint64_t n = 0;
        {
            auto ins = c.prepare(
                "INSERT INTO telemetry (agent_id, metric, ts_ms, labels_key, value)"
                " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING");
            if (!ins) {
                return ins.status();
            }
            for (const auto& row : rows) {
                ins->bind(1, batch.agent_id)
                    .bind(2, row.point->metric)
                    .bind(3, row.point->ts_ms)
                    .bind(4, row.labels_key)
                    .bind(5, row.point->value);
                if (auto st = ins->run(); !st) {
                    return st;
                }
                n += static_cast<std::uint64_t>(c.changes());
                ins->reset();
            }
        }
        if (auto st = tx->commit(); !st) {
            return st;
        }
        return n;
    });
    if (!accepted) {
        return accepted.status();
    }
    outcome.accepted = *accepted;
    outcome.duplicates = batch.points.size() - outcome.accepted;
    return outcome;
}

sdk::Result<std::vector<sdk::TelemetryPoint>> TelemetryDb::query(const sdk::TelemetryQuery& q) {
    using R = sdk::Result<std::vector<sdk::TelemetryPoint>>;
    std::vector<sdk::TelemetryPoint> out;
    if (q.limit == 0) {
        return out;
    }
    const std::int64_t since = q.since_ms.value_or(std::numeric_limits<std::int64_t>::min());
    const std::int64_t until = q.until_ms.value_or(std::numeric_limits<std::int64_t>::max());
    const auto limit = static_cast<std::int64_t>(std::min<std::size_t>(
        q.limit, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
    return db_->read([&](Connection& c) -> R {
        // Two fixed statements (with and without the metric filter) so each stays
        // cached and uses its index; an "?2 IS NULL OR" filter would defeat both.
        auto stmt = q.metric ? c.prepare(
                                   "SELECT metric, ts_ms, value, labels_key FROM telemetry"
                                   " WHERE agent_id = ?1 AND metric = ?2 AND ts_ms >= ?3"
                                   " AND ts_ms < ?4 ORDER BY ts_ms DESC, labels_key DESC"
                                   " LIMIT ?5")
                             : c.prepare(
                                   "SELECT metric, ts_ms, value, labels_key FROM telemetry"
                                   " WHERE agent_id = ?1 AND ts_ms >= ?3 AND ts_ms < ?4"
                                   " ORDER BY ts_ms DESC, metric DESC, labels_key DESC"
                                   " LIMIT ?5");
        if (!stmt) {
            return stmt.status();
        }
        stmt->bind(1, q.agent_id);
        if (q.metric) {
            stmt->bind(2, *q.metric);
        }
        stmt->bind(3, since).bind(4, until).bind(5, limit);
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) {
            sdk::TelemetryPoint p;
            p.metric = stmt->text(0);
            p.ts_ms = stmt->int64(1);
            p.value = stmt->real(2);
            p.labels = parse_labels(stmt->text(3));
            out.push_back(std::move(p));
        }
        if (rc != SQLITE_DONE) {
            return c.error(rc, "query telemetry");
        }
        return std::move(out);
    });
}

}  // namespace agenthost::telemetry_sqlite
