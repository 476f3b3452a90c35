#include "plugins/telemetry_postgres/telemetry_pg.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <pqxx/pqxx>

namespace agenthost::telemetry_postgres {

using sdk::Errc;
using sdk::Status;

namespace {

constexpr const char* kInsertMultirow =
    "INSERT INTO telemetry (agent_id, metric, ts_ms, labels_hash, labels, value)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[],"
    " $6::float8[]) ON CONFLICT DO NOTHING";
// The staging table lives as long as the session; rows vanish at each commit.
constexpr const char* kCreateStaging =
    "CREATE TEMP TABLE IF NOT EXISTS telemetry_staging (agent_id text COLLATE \"C\","
    " metric text COLLATE \"C\", ts_ms bigint, labels_hash bigint, labels text, value float8)"
    " ON COMMIT DELETE ROWS";
// No ORDER BY: a sequential scan of the freshly filled staging table returns the
// rows in COPY order, which is already the key order.
constexpr const char* kInsertFromStaging =
    "INSERT INTO telemetry (agent_id, metric, ts_ms, labels_hash, labels, value)"
    " SELECT agent_id, metric, ts_ms, labels_hash, labels, value FROM telemetry_staging"
    " ON CONFLICT DO NOTHING";
constexpr const char* kReturningKeys = " RETURNING agent_id, metric, ts_ms, labels_hash";

constexpr const char* kResultColumns =
    "command_id, agent_id, status, exit_code, output, output_encoding, truncated,"
    " started_ms, finished_ms, received_ms";

// The upsert rule shared by the single and the batched statement.
constexpr const char* kResultUpsert =
    " ON CONFLICT (command_id) DO UPDATE SET agent_id = EXCLUDED.agent_id,"
    " status = EXCLUDED.status, exit_code = EXCLUDED.exit_code, output = EXCLUDED.output,"
    " output_encoding = EXCLUDED.output_encoding, truncated = EXCLUDED.truncated,"
    " started_ms = EXCLUDED.started_ms, finished_ms = EXCLUDED.finished_ms,"
    " received_ms = EXCLUDED.received_ms"
    " WHERE results.status NOT IN ('succeeded', 'failed', 'rejected', 'timed_out',"
    " 'cancelled', 'dead_lettered') AND EXCLUDED.finished_ms >= results.finished_ms";

// Sessions (by backend pid) known to have the staging table. A reconnect gets a new
// pid, so a stale entry is harmless; the set is bounded by pids ever seen per host.
std::mutex g_staging_mu;
std::set<std::pair<const void*, int>> g_staging_ready;

void append_bigint(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

struct Arrays {
    std::string agent, metric, ts, hash, labels, value;
};

Arrays build_arrays(std::span<const GroupRow> rows) {
    Arrays a;
    for (auto* s : {&a.agent, &a.metric, &a.ts, &a.hash, &a.labels, &a.value}) {
        s->reserve(rows.size() * 16 + 2);
        s->push_back('{');
    }
    a.labels.reserve(rows.size() * 32);
    bool first = true;
    for (const auto& r : rows) {
        if (!first) {
            for (auto* s : {&a.agent, &a.metric, &a.ts, &a.hash, &a.labels, &a.value}) {
                s->push_back(',');
            }
        }
        first = false;
        append_text_element(a.agent, *r.agent_id);
        append_text_element(a.metric, r.row->metric);
        append_bigint(a.ts, r.row->ts_ms);
        append_bigint(a.hash, r.row->labels_hash);
        append_text_element(a.labels, r.row->labels);
        append_double(a.value, r.row->value);
    }
    for (auto* s : {&a.agent, &a.metric, &a.ts, &a.hash, &a.labels, &a.value}) {
        s->push_back('}');
    }
    return a;
}

void ensure_staging(pqxx::connection_base& conn, pqxx::work& w) {
    const std::pair<const void*, int> id{&conn, conn.backendpid()};
    {
        std::lock_guard lk(g_staging_mu);
        if (g_staging_ready.count(id) != 0) {
            return;
        }
    }
    // Checked first: CREATE … IF NOT EXISTS on an existing table raises a NOTICE.
    auto r = w.exec("SELECT to_regclass('pg_temp.telemetry_staging') IS NOT NULL");
    if (!r[0][0].as<bool>()) {
        w.exec(kCreateStaging);
    }
    std::lock_guard lk(g_staging_mu);
    g_staging_ready.insert(id);
}

// Runs the insert of one attempt; returns the inserted keys' result (when asked).
pqxx::result insert_rows(pqxx::connection_base& conn, pqxx::work& w, std::span<const GroupRow> rows,
                         WriteMode mode, bool returning) {
    if (mode == WriteMode::multirow) {
        Arrays a = build_arrays(rows);
        std::string sql = kInsertMultirow;
        if (returning) {
            sql += kReturningKeys;
        }
        return w.exec_params(sql, a.agent, a.metric, a.ts, a.hash, a.labels, a.value);
    }
    ensure_staging(conn, w);
    {
        pqxx::stream_to copy(w, "telemetry_staging",
                             std::vector<std::string>{"agent_id", "metric", "ts_ms", "labels_hash",
                                                      "labels", "value"});
        for (const auto& r : rows) {
            copy << std::make_tuple(std::cref(*r.agent_id), std::cref(r.row->metric), r.row->ts_ms,
                                    r.row->labels_hash, std::cref(r.row->labels), r.row->value);
        }
        copy.complete();
    }
    std::string sql = kInsertFromStaging;
    if (returning) {
        sql += kReturningKeys;
    }
    return w.exec(sql);
}

std::vector<sdk::IngestOutcome> write_once(pqxx::connection_base& conn,
                                           std::span<const PreparedBatch> group,
                                           std::span<const GroupRow> rows, WriteMode mode) {
    // One batch needs only a count; several need to know which keys were new.
    const bool returning = group.size() > 1;
    pqxx::work w(conn);
    pqxx::result r = insert_rows(conn, w, rows, mode, returning);
    w.commit();
    if (!returning) {
        sdk::IngestOutcome o;
        o.accepted = static_cast<std::uint64_t>(r.affected_rows());
        o.duplicates = group[0].points - o.accepted;
        return {o};
    }
    std::vector<KeyView> inserted;
    inserted.reserve(r.size());
    for (const auto& row : r) {
        inserted.push_back(KeyView{std::string_view(row[0].c_str(), row[0].size()),
                                   std::string_view(row[1].c_str(), row[1].size()),
                                   row[2].as<std::int64_t>(), row[3].as<std::int64_t>()});
    }
    return attribute(group, rows, std::move(inserted));
}

sdk::CommandResult read_result(const pqxx::row& row) {
    sdk::CommandResult r;
    r.command_id = row[0].as<std::string>();
    r.agent_id = row[1].as<std::string>();
    r.status =
        sdk::command_state_from(row[2].as<std::string>()).value_or(sdk::CommandState::failed);
    if (!row[3].is_null()) {
        r.exit_code = row[3].as<std::int64_t>();
    }
    r.output = row[4].as<std::string>();
    r.output_encoding = row[5].as<std::string>();
    r.truncated = row[6].as<bool>();
    r.started_ms = row[7].as<std::int64_t>();
    r.finished_ms = row[8].as<std::int64_t>();
    r.received_ms = row[9].as<std::int64_t>();
    return r;
}

}  // namespace

const char* to_string(WriteMode mode) noexcept {
    return mode == WriteMode::copy ? "copy" : "multirow";
}

void append_text_element(std::string& out, std::string_view text) {
    out.push_back('"');
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.push_back('"');
}

void append_double(std::string& out, double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    out.append(buf, r.ptr);
}

std::vector<sdk::IngestOutcome> write_group(pqxx::connection_base& conn,
                                            std::span<const PreparedBatch> group, WriteMode mode,
                                            unsigned max_retries, std::uint64_t* retries) {
    const std::vector<GroupRow> rows = merge_group(group);
    if (rows.empty()) {
        return attribute(group, rows, {});
    }
    for (unsigned attempt = 0;; ++attempt) {
        try {
            return write_once(conn, group, rows, mode);
        } catch (const pqxx::transaction_rollback&) {
            // 40P01 / 40001: the transaction was rolled back whole; nothing is half
            // written, so running it again is safe.
            if (attempt >= max_retries) {
                throw;
            }
            if (retries != nullptr) {
                ++*retries;
            }
        }
    }
}

bool store_result(pqxx::connection_base& conn, const sdk::CommandResult& r) {
    if (r.command_id.empty()) {
        throw std::invalid_argument("result without command_id");
    }
    const std::string encoding = r.output_encoding.empty() ? "utf-8" : r.output_encoding;
    if (encoding != "utf-8" && encoding != "base64") {
        throw std::invalid_argument("unknown output_encoding: " + encoding);
    }
    // A stored row is replaced only while it is not terminal and only by a copy that
    // is not older; every state a result can carry is terminal, so in practice the
    // first stored result stays (the same rule as telemetry_sqlite).
    static const std::string sql = std::string("INSERT INTO results (") + kResultColumns +
                                   ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)" +
                                   kResultUpsert + " RETURNING 1";
    // One statement is atomic by itself: autocommit saves the BEGIN and COMMIT round trips.
    pqxx::nontransaction w(conn);
    const std::optional<std::int64_t> exit_code = r.exit_code;
    pqxx::result res =
        exit_code
            ? w.exec_params(sql, r.command_id, r.agent_id, std::string(sdk::to_string(r.status)),
                            *exit_code, r.output, encoding, r.truncated, r.started_ms,
                            r.finished_ms, r.received_ms)
            : w.exec_params(sql, r.command_id, r.agent_id, std::string(sdk::to_string(r.status)),
                            nullptr, r.output, encoding, r.truncated, r.started_ms, r.finished_ms,
                            r.received_ms);
    return res.size() == 1;
}

std::vector<bool> store_results(pqxx::connection_base& conn,
                                std::span<const sdk::CommandResult> results, unsigned max_retries,
                                std::uint64_t* retries) {
    // The batch's own sequence first, by the same rule as the table: a later copy of a
    // command_id replaces the earlier one only while that one is not terminal and the
    // later one is not older. ON CONFLICT may touch a row once per statement, so one
    // winner per command_id goes to the database; std::map keeps them in key order
    // (overlapping groups lock rows in the same order: no deadlocks between writers).
    std::vector<bool> out(results.size(), false);
    std::map<std::string_view, std::size_t> winner;
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        if (r.command_id.empty()) {
            throw std::invalid_argument("result without command_id");
        }
        const std::string& enc = r.output_encoding;
        if (!enc.empty() && enc != "utf-8" && enc != "base64") {
            throw std::invalid_argument("unknown output_encoding: " + enc);
        }
        auto [it, fresh] = winner.try_emplace(r.command_id, i);
        if (!fresh) {
            const auto& cur = results[it->second];
            if (!sdk::is_terminal(cur.status) && r.finished_ms >= cur.finished_ms) {
                it->second = i;
            }
        }
    }
    std::string ids = "{", agents = "{", states = "{", codes = "{", outputs = "{", encs = "{",
                truncs = "{", started = "{", finished = "{", received = "{";
    bool first = true;
    for (const auto& [id, i] : winner) {
        const auto& r = results[i];
        if (!first) {
            for (auto* a : {&ids, &agents, &states, &codes, &outputs, &encs, &truncs, &started,
                            &finished, &received}) {
                a->push_back(',');
            }
        }
        first = false;
        append_text_element(ids, id);
        append_text_element(agents, r.agent_id);
        append_text_element(states, sdk::to_string(r.status));
        if (r.exit_code) {
            append_bigint(codes, *r.exit_code);
        } else {
            codes += "NULL";
        }
        append_text_element(outputs, r.output);
        append_text_element(encs, r.output_encoding.empty() ? "utf-8" : r.output_encoding);
        truncs += r.truncated ? "t" : "f";
        append_bigint(started, r.started_ms);
        append_bigint(finished, r.finished_ms);
        append_bigint(received, r.received_ms);
    }
    for (auto* a : {&ids, &agents, &states, &codes, &outputs, &encs, &truncs, &started, &finished,
                    &received}) {
        a->push_back('}');
    }
    static const std::string sql =
        std::string("INSERT INTO results (") + kResultColumns +
        ") SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],"
        " $6::text[], $7::boolean[], $8::bigint[], $9::bigint[], $10::bigint[])" +
        kResultUpsert + " RETURNING command_id";
    for (unsigned attempt = 0;; ++attempt) {
        try {
            // One statement: atomic without BEGIN/COMMIT, and one commit for the group.
            // Prepared (per connection, by libpqxx on first use): no parse and plan of
            // the unnest upsert per group.
            conn.prepare("telemetry_store_results", sql);
            pqxx::nontransaction w(conn);
            pqxx::result res =
                w.exec_prepared("telemetry_store_results", ids, agents, states, codes, outputs,
                                encs, truncs, started, finished, received);
            for (const auto& row : res) {
                auto it = winner.find(std::string_view(row[0].c_str(), row[0].size()));
                if (it != winner.end()) {
                    out[it->second] = true;
                }
            }
            return out;
        } catch (const pqxx::transaction_rollback&) {
            // 40P01 / 40001: the statement was rolled back whole; running it again is safe.
            if (attempt >= max_retries) {
                throw;
            }
            if (retries != nullptr) {
                ++*retries;
            }
        }
    }
}

std::optional<sdk::CommandResult> get_result(pqxx::connection_base& conn,
                                             const std::string& command_id) {
    static const std::string sql =
        std::string("SELECT ") + kResultColumns + " FROM results WHERE command_id = $1";
    conn.prepare("telemetry_get_result", sql);  // parsed and planned once per connection
    pqxx::nontransaction t(conn);                // one SELECT: no BEGIN/COMMIT needed
    pqxx::result res = t.exec_prepared("telemetry_get_result", command_id);
    if (res.empty()) {
        return std::nullopt;
    }
    return read_result(res[0]);
}

std::vector<sdk::TelemetryPoint> query(pqxx::connection_base& conn, const sdk::TelemetryQuery& q) {
    std::vector<sdk::TelemetryPoint> out;
    if (q.limit == 0) {
        return out;
    }
    const std::int64_t since = q.since_ms.value_or(std::numeric_limits<std::int64_t>::min());
    const std::int64_t until = q.until_ms.value_or(std::numeric_limits<std::int64_t>::max());
    const auto limit = static_cast<std::int64_t>(std::min<std::size_t>(
        q.limit, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
    pqxx::read_transaction t(conn);
    pqxx::result res = q.metric ? t.exec_params(
                                      "SELECT metric, ts_ms, value, labels FROM telemetry"
                                      " WHERE agent_id = $1 AND metric = $2 AND ts_ms >= $3"
                                      " AND ts_ms < $4 ORDER BY ts_ms DESC, labels DESC LIMIT $5",
                                      q.agent_id, *q.metric, since, until, limit)
                                : t.exec_params(
                                      "SELECT metric, ts_ms, value, labels FROM telemetry"
                                      " WHERE agent_id = $1 AND ts_ms >= $2 AND ts_ms < $3"
                                      " ORDER BY ts_ms DESC, metric DESC, labels DESC LIMIT $4",
                                      q.agent_id, since, until, limit);
    out.reserve(res.size());
    for (const auto& row : res) {
        sdk::TelemetryPoint p;
        p.metric = row[0].as<std::string>();
        p.ts_ms = row[1].as<std::int64_t>();
        p.value = row[2].as<double>();
        p.labels = parse_labels(row[3].c_str());
        out.push_back(std::move(p));
    }
    return out;
}

bool connection_lost(const std::exception& e) {
    return dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
           dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
}

Status classify(const std::exception& e) {
    if (connection_lost(e)) {
        return {Errc::unavailable, std::string("database unavailable: ") + e.what()};
    }
    if (dynamic_cast<const std::invalid_argument*>(&e) != nullptr ||
        dynamic_cast<const pqxx::data_exception*>(&e) != nullptr) {
        return {Errc::invalid_argument, e.what()};
    }
    if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
        // 57P01..57P03 (admin shutdown, crash shutdown, cannot connect now) and
        // 08xxx: the server is going away or not there; 53xxx: out of resources.
        const std::string& state = sql->sqlstate();
        if (state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0 || state.rfind("53", 0) == 0 ||
            state.rfind("40", 0) == 0) {
            return {Errc::unavailable, std::string("database unavailable: ") + e.what()};
        }
    }
    return {Errc::internal, e.what()};
}

}  // namespace agenthost::telemetry_postgres
