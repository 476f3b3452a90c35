#include "kernel/gateway/store.hpp"

#include <sqlite3.h>

#include <boost/json/serialize.hpp>

#include <agenthost/json.hpp>

namespace agenthost::gateway {

using sdk::Errc;
using sdk::Status;

namespace {

const char* kind_name(SpoolKind k) {
    return k == SpoolKind::result ? "result" : "telemetry";
}

std::string index_key(SpoolKind k, std::string_view key) {
    return std::string(kind_name(k)) + ":" + std::string(key);
}

// RAII statement; every use binds, steps and finalizes within one locked section.
class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        prepared_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) == SQLITE_OK;
    }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    bool ok() const { return prepared_; }
    Stmt& bind(int i, std::string_view s) {
        sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(st_, i, v);
        return *this;
    }
    int step() { return sqlite3_step(st_); }
    std::string text(int col) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
                 : std::string();
    }
    std::int64_t int64(int col) const { return sqlite3_column_int64(st_, col); }
    Status error(std::string_view what) const {
        return sdk::error(Errc::unavailable, std::string(what) + ": " + sqlite3_errmsg(db_));
    }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
    bool prepared_ = false;
};

}  // namespace

std::string interrupted_result_body(const std::string& command_id, std::int64_t now_ms) {
    sdk::json::object body{
        {"command_id", command_id}, {"status", "failed"},
        {"exit_code", nullptr},     {"output", "interrupted by gateway restart"},
        {"truncated", false},       {"started_at", now_ms},
        {"finished_at", now_ms},
    };
    return boost::json::serialize(body);
}

GatewayStore::GatewayStore(sqlite3* db, StoreOptions options) : db_(db), options_(options) {}

GatewayStore::~GatewayStore() {
    sqlite3_close(db_);
}

Status GatewayStore::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        return sdk::error(Errc::unavailable, std::string("sqlite: ") + msg);
    }
    return {};
}

sdk::Result<std::unique_ptr<GatewayStore>> GatewayStore::open(const std::string& path,
                                                              StoreOptions options,
                                                              std::int64_t now_ms) {
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        return sdk::error(Errc::unavailable, "cannot open " + path + ": " + msg);
    }
    std::unique_ptr<GatewayStore> store(new GatewayStore(db, options));
    sqlite3_busy_timeout(db, 5000);
    for (const char* sql : {
             "PRAGMA journal_mode=WAL",
             "PRAGMA synchronous=FULL",
             "CREATE TABLE IF NOT EXISTS executed ("
             " command_id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL,"
             " result TEXT, started_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL)",
             "CREATE TABLE IF NOT EXISTS spool ("
             " seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,"
             " body TEXT NOT NULL, UNIQUE(kind, key))",
         }) {
        if (Status s = store->exec(sql); !s.ok()) {
            return s;
        }
    }
    {
        Stmt prune(db, "DELETE FROM executed WHERE state = 'finished' AND updated_ms < ?");
        prune.bind(1, now_ms - options.record_retention_ms);
        if (!prune.ok() || prune.step() != SQLITE_DONE) {
            return prune.error("prune executed");
        }
    }
    if (Status s = store->load(); !s.ok()) {
        return s;
    }
    if (Status s = store->recover_interrupted(now_ms); !s.ok()) {
        return s;
    }
    return store;
}

Status GatewayStore::recover_interrupted(std::int64_t now_ms) {
    std::vector<std::pair<std::string, std::string>> started;
    {
        Stmt q(db_, "SELECT command_id, name FROM executed WHERE state = 'started'");
        while (q.ok() && q.step() == SQLITE_ROW) {
            started.emplace_back(q.text(0), q.text(1));
        }
    }
    for (const auto& [id, name] : started) {
        if (Status s = finish(id, name, interrupted_result_body(id, now_ms), now_ms); !s.ok()) {
            return s;
        }
        interrupted_.push_back(id);
    }
    return {};
}

Status GatewayStore::load() {
    std::lock_guard lk(mu_);
    records_.clear();
    spool_bytes_.clear();
    counts_ = {};
    Stmt r(db_, "SELECT command_id, state FROM executed");
    while (r.ok() && r.step() == SQLITE_ROW) {
        records_[r.text(0)] =
            r.text(1) == "finished" ? RecordState::finished : RecordState::started;
    }
    Stmt s(db_, "SELECT kind, key, length(body) FROM spool");
    while (s.ok() && s.step() == SQLITE_ROW) {
        const SpoolKind kind = s.text(0) == "result" ? SpoolKind::result : SpoolKind::telemetry;
        const auto bytes = static_cast<std::uint64_t>(s.int64(2));
        spool_bytes_[index_key(kind, s.text(1))] = bytes;
        (kind == SpoolKind::result ? counts_.results : counts_.telemetry) += 1;
        counts_.bytes += bytes;
    }
    return {};
}

std::optional<RecordState> GatewayStore::lookup(std::string_view command_id) const {
    std::lock_guard lk(mu_);
    auto it = records_.find(std::string(command_id));
    if (it == records_.end()) {
        return std::nullopt;
    }
    return it->second;
}

Status GatewayStore::mark_started(const std::string& command_id, const std::string& name,
                                  std::int64_t now_ms) {
    std::lock_guard lk(mu_);
    if (records_.count(command_id) != 0) {
        return sdk::error(Errc::conflict, "command " + command_id + " already recorded");
    }
    Stmt q(db_,
           "INSERT INTO executed (command_id, name, state, started_ms, updated_ms)"
           " VALUES (?, ?, 'started', ?, ?)");
    q.bind(1, command_id).bind(2, name).bind(3, now_ms).bind(4, now_ms);
    if (!q.ok() || q.step() != SQLITE_DONE) {
        return q.error("record start");
    }
    records_[command_id] = RecordState::started;
    return {};
}

Status GatewayStore::finish(const std::string& command_id, const std::string& name,
                            const std::string& result_body, std::int64_t now_ms) {
    std::lock_guard lk(mu_);
    auto it = records_.find(command_id);
    if (it != records_.end() && it->second == RecordState::finished) {
        return {};  // first result wins
    }
    if (Status s = exec("BEGIN IMMEDIATE"); !s.ok()) {
        return s;
    }
    Status s;
    {
        Stmt q(db_,
               "INSERT INTO executed (command_id, name, state, result, started_ms, updated_ms)"
               " VALUES (?1, ?2, 'finished', ?3, ?4, ?4)"
               " ON CONFLICT(command_id) DO UPDATE SET state = 'finished', result = ?3,"
               " updated_ms = ?4");
        q.bind(1, command_id).bind(2, name).bind(3, result_body).bind(4, now_ms);
        if (!q.ok() || q.step() != SQLITE_DONE) {
            s = q.error("record result");
        }
    }
    if (s.ok()) {
        s = spool_sql(SpoolKind::result, command_id, result_body);
    }
    if (s.ok()) {
        s = exec("COMMIT");
    }
    if (!s.ok()) {
        (void)exec("ROLLBACK");
        return s;
    }
    records_[command_id] = RecordState::finished;
    note_spooled(SpoolKind::result, command_id, result_body.size());
    return {};
}

sdk::Result<std::string> GatewayStore::stored_result(const std::string& command_id) const {
    std::lock_guard lk(mu_);
    Stmt q(db_, "SELECT result FROM executed WHERE command_id = ? AND state = 'finished'");
    q.bind(1, command_id);
    if (!q.ok()) {
        return q.error("read result");
    }
    if (q.step() != SQLITE_ROW) {
        return sdk::error(Errc::not_found, "no stored result for " + command_id);
    }
    return q.text(0);
}

Status GatewayStore::respool_result(const std::string& command_id) {
    auto body = stored_result(command_id);
    if (!body.ok()) {
        return body.status();
    }
    std::lock_guard lk(mu_);
    if (Status s = spool_sql(SpoolKind::result, command_id, body.value()); !s.ok()) {
        return s;
    }
    note_spooled(SpoolKind::result, command_id, body.value().size());
    return {};
}

Status GatewayStore::spool_telemetry(const std::string& batch_id, const std::string& body) {
    std::lock_guard lk(mu_);
    if (counts_.bytes + body.size() > options_.spool_max_bytes) {
        return sdk::error(Errc::exhausted, "spool full (" + std::to_string(counts_.bytes) + " of " +
                                               std::to_string(options_.spool_max_bytes) +
                                               " bytes)");
    }
    if (Status s = spool_sql(SpoolKind::telemetry, batch_id, body); !s.ok()) {
        return s;
    }
    note_spooled(SpoolKind::telemetry, batch_id, body.size());
    return {};
}

bool GatewayStore::telemetry_full(std::size_t next_bytes) const {
    std::lock_guard lk(mu_);
    return counts_.bytes + next_bytes > options_.spool_max_bytes;
}

// Replacing deletes first so the item gets a new seq: it is sent again, after
// whatever is already queued.
Status GatewayStore::spool_sql(SpoolKind kind, const std::string& key, const std::string& body) {
    Stmt del(db_, "DELETE FROM spool WHERE kind = ? AND key = ?");
    del.bind(1, kind_name(kind)).bind(2, key);
    if (!del.ok() || del.step() != SQLITE_DONE) {
        return del.error("spool replace");
    }
    Stmt q(db_, "INSERT INTO spool (kind, key, body) VALUES (?, ?, ?)");
    q.bind(1, kind_name(kind)).bind(2, key).bind(3, body);
    if (!q.ok() || q.step() != SQLITE_DONE) {
        return q.error("spool insert");
    }
    return {};
}

void GatewayStore::note_spooled(SpoolKind kind, const std::string& key, std::uint64_t bytes) {
    auto [it, inserted] = spool_bytes_.try_emplace(index_key(kind, key), bytes);
    if (inserted) {
        (kind == SpoolKind::result ? counts_.results : counts_.telemetry) += 1;
    } else {
        counts_.bytes -= it->second;
        it->second = bytes;
    }
    counts_.bytes += bytes;
}

Status GatewayStore::ack(SpoolKind kind, const std::string& key) {
    std::lock_guard lk(mu_);
    auto it = spool_bytes_.find(index_key(kind, key));
    if (it == spool_bytes_.end()) {
        return {};
    }
    Stmt q(db_, "DELETE FROM spool WHERE kind = ? AND key = ?");
    q.bind(1, kind_name(kind)).bind(2, key);
    if (!q.ok() || q.step() != SQLITE_DONE) {
        return q.error("spool ack");
    }
    counts_.bytes -= it->second;
    (kind == SpoolKind::result ? counts_.results : counts_.telemetry) -= 1;
    spool_bytes_.erase(it);
    return {};
}

sdk::Result<std::vector<SpoolItem>> GatewayStore::pending(std::int64_t after_seq,
                                                          std::size_t limit) const {
    std::lock_guard lk(mu_);
    Stmt q(db_, "SELECT seq, kind, key, body FROM spool WHERE seq > ? ORDER BY seq LIMIT ?");
    q.bind(1, after_seq).bind(2, static_cast<std::int64_t>(limit));
    if (!q.ok()) {
        return q.error("spool read");
    }
    std::vector<SpoolItem> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
        out.push_back(SpoolItem{q.int64(0),
                                q.text(1) == "result" ? SpoolKind::result : SpoolKind::telemetry,
                                q.text(2), q.text(3)});
    }
    if (rc != SQLITE_DONE) {
        return q.error("spool read");
    }
    return out;
}

SpoolCounts GatewayStore::counts() const {
    std::lock_guard lk(mu_);
    return counts_;
}

}  // namespace agenthost::gateway
