#include "plugins/_common_sqlite/sqlite.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include <sqlite3.h>

namespace agenthost::sqlite {

using sdk::Errc;
using sdk::Status;

namespace {

Errc errc_for(int rc) {
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_CANTOPEN:
        case SQLITE_FULL:
        case SQLITE_IOERR:
        case SQLITE_READONLY:
            return Errc::unavailable;
        case SQLITE_CONSTRAINT:
            return Errc::conflict;
        default:
            return Errc::internal;
    }
}

// SQLite gives the -wal and -shm files the mode of the main file, so creating the
// main file 0600 first keeps all three private to the service user.
Status create_private(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return {Errc::unavailable, "cannot create " + path + ": " +
                                       std::error_code(errno, std::generic_category()).message()};
    }
    ::close(fd);
    return {};
}

}  // namespace

// ---- Stmt -----------------------------------------------------------------------

Stmt::~Stmt() {
    if (stmt_ != nullptr) {
        reset();
    }
}

void Stmt::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

Stmt& Stmt::bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}

Stmt& Stmt::bind(int index, double value) {
    sqlite3_bind_double(stmt_, index, value);
    return *this;
}

Stmt& Stmt::bind(int index, std::string_view value) {
    sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
}

Stmt& Stmt::bind(int index, const std::optional<std::int64_t>& value) {
    return value ? bind(index, *value) : bind_null(index);
}

Stmt& Stmt::bind(int index, const std::optional<std::string>& value) {
    return value ? bind(index, std::string_view(*value)) : bind_null(index);
}

Stmt& Stmt::bind_null(int index) {
    sqlite3_bind_null(stmt_, index);
    return *this;
}

int Stmt::step() {
    return sqlite3_step(stmt_);
}

Status Stmt::run() {
    int rc = step();
    if (rc == SQLITE_DONE) {
        return {};
    }
    sqlite3* db = sqlite3_db_handle(stmt_);
    return {errc_for(rc), std::string("sqlite: ") + sqlite3_errmsg(db)};
}

std::int64_t Stmt::int64(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

double Stmt::real(int column) const {
    return sqlite3_column_double(stmt_, column);
}

std::string Stmt::text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    int n = sqlite3_column_bytes(stmt_, column);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

bool Stmt::is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---- Connection -----------------------------------------------------------------

sdk::Result<std::unique_ptr<Connection>> Connection::open(const Options& options) {
    if (auto st = create_private(options.path); !st) {
        return st;
    }
    sqlite3* db = nullptr;
    // NOMUTEX: each connection is used under the owner's mutex, never concurrently.
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return Status(Errc::unavailable, "cannot open " + options.path + ": " + msg);
    }
    sqlite3_extended_result_codes(db, 1);
    std::unique_ptr<Connection> conn(new Connection(db));
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    // WAL: readers never block the writer and a commit appends to one file.
    // foreign_keys: the sessions → agents reference is enforced, not decorative.
    std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;";
    pragmas += options.synchronous == Synchronous::full ? "PRAGMA synchronous=FULL;"
                                                        : "PRAGMA synchronous=NORMAL;";
    if (auto st = conn->exec(pragmas.c_str()); !st) {
        return st;
    }
    return conn;
}

Connection::~Connection() {
    for (auto& [sql, stmt] : cache_) {
        sqlite3_finalize(stmt);
    }
    sqlite3_close_v2(db_);
}

Status Connection::exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc == SQLITE_OK) {
        return {};
    }
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return {errc_for(rc), "sqlite: " + msg};
}

sdk::Result<Stmt> Connection::prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) {
        return Stmt(it->second);
    }
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        return error(rc, "prepare");
    }
    cache_.emplace(sql, stmt);
    return Stmt(stmt);
}

std::int64_t Connection::changes() const {
    return sqlite3_changes64(db_);
}

Status Connection::error(int rc, std::string_view what) const {
    return {errc_for(rc), "sqlite " + std::string(what) + ": " + sqlite3_errmsg(db_)};
}

// ---- Transaction / Savepoint ----------------------------------------------------

sdk::Result<Transaction> Transaction::begin(Connection& conn, Kind kind) {
    auto st = conn.exec(kind == Kind::immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    if (!st) {
        return st;
    }
    return Transaction(&conn);
}

Transaction::~Transaction() {
    if (conn_ != nullptr) {
        conn_->exec("ROLLBACK");
    }
}

Status Transaction::commit() {
    auto st = conn_->exec("COMMIT");
    if (st) {
        conn_ = nullptr;
    }
    return st;
}

sdk::Result<Savepoint> Savepoint::begin(Connection& conn, std::string name) {
    auto st = conn.exec(("SAVEPOINT " + name).c_str());
    if (!st) {
        return st;
    }
    return Savepoint(&conn, std::move(name));
}

Savepoint::~Savepoint() {
    if (conn_ != nullptr) {
        rollback();
    }
}

Status Savepoint::release() {
    auto st = conn_->exec(("RELEASE " + name_).c_str());
    conn_ = nullptr;
    return st;
}

Status Savepoint::rollback() {
    auto st = conn_->exec(("ROLLBACK TO " + name_ + "; RELEASE " + name_).c_str());
    conn_ = nullptr;
    return st;
}

// ---- migrations -----------------------------------------------------------------

sdk::Result<std::int64_t> user_version(Connection& conn) {
    auto stmt = conn.prepare("PRAGMA user_version");
    if (!stmt) {
        return stmt.status();
    }
    int rc = stmt->step();
    if (rc != SQLITE_ROW) {
        return conn.error(rc, "user_version");
    }
    return stmt->int64(0);
}

Status migrate(Connection& conn, std::span<const std::string_view> migrations) {
    const auto latest = static_cast<std::int64_t>(migrations.size());
    for (;;) {
        // Re-read inside the write lock: another process may have migrated meanwhile.
        auto tx = Transaction::begin(conn, Transaction::Kind::immediate);
        if (!tx) {
            return tx.status();
        }
        auto version = user_version(conn);
        if (!version) {
            return version.status();
        }
        if (*version > latest) {
            return {Errc::unavailable, "schema version " + std::to_string(*version) +
                                           " is newer than this plugin knows (" +
                                           std::to_string(latest) + ")"};
        }
        if (*version == latest) {
            return tx->commit();
        }
        std::string sql(migrations[static_cast<std::size_t>(*version)]);
        sql += ";\nPRAGMA user_version=" + std::to_string(*version + 1) + ";";
        if (auto st = conn.exec(sql.c_str()); !st) {
            return {st.code(), "migration " + std::to_string(*version + 1) + ": " + st.message()};
        }
        if (auto st = tx->commit(); !st) {
            return st;
        }
    }
}

// ---- Database -------------------------------------------------------------------

sdk::Result<std::unique_ptr<Database>> Database::open(
    const Options& options, std::span<const std::string_view> migrations) {
    std::unique_ptr<Database> db(new Database());
    db->path_ = options.path;
    auto writer = Connection::open(options);
    if (!writer) {
        return writer.status();
    }
    db->writer_ = std::move(writer).value();
    if (auto st = migrate(*db->writer_, migrations); !st) {
        return st;
    }
    auto reader = Connection::open(options);
    if (!reader) {
        return reader.status();
    }
    db->reader_ = std::move(reader).value();
    return db;
}

sdk::Result<std::chrono::microseconds> Database::ping() {
    auto start = std::chrono::steady_clock::now();
    auto st = write([](Connection& c) {
        // Taking the write lock proves a write could proceed (not locked, not read-only).
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        return tx ? Status{} : tx.status();
    });
    if (!st) {
        return st;
    }
    st = read([](Connection& c) { return user_version(c).status(); });
    if (!st) {
        return st;
    }
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 start);
}

std::string resolve_path(const std::string& configured, const std::string& state_dir,
                         std::string_view name) {
    namespace fs = std::filesystem;
    if (configured.empty()) {
        return (fs::path(state_dir) / (std::string(name) + ".db")).string();
    }
    fs::path p(configured);
    if (p.is_absolute()) {
        return p.string();
    }
    return (fs::path(state_dir) / p).string();
}

}  // namespace agenthost::sqlite
