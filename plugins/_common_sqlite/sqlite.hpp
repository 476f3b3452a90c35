#pragma once
// A thin RAII layer over the sqlite3 C API for the SQLite-backed plugins.
//
// Threading: a Connection is NOT thread-safe; Database pairs each connection with a
// mutex (one writer, one reader) and hands it out only under that lock. Everything
// here blocks (disk I/O, busy waits), so callers run it on the blocking pool only.
// Errors come back as sdk::Status (no exceptions): SQLITE_BUSY/LOCKED map to
// Errc::unavailable, constraint violations to Errc::conflict, the rest to internal.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include <agenthost/status.hpp>

struct sqlite3;
struct sqlite3_stmt;

namespace agenthost::sqlite {

enum class Synchronous { normal, full };

struct Options {
    std::string path;            // database file; created (mode 0600) when missing
    int busy_timeout_ms = 5000;  // how long a statement waits for another writer
    Synchronous synchronous = Synchronous::full;
};

// A cached prepared statement in use. Resets it and clears its bindings on
// destruction so the next user starts clean. Valid while its connection is locked.
class Stmt {
public:
    explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
    Stmt(Stmt&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    Stmt& operator=(Stmt&&) = delete;
    ~Stmt();

    // Binding, 1-based like sqlite3_bind_*. Text is copied (SQLITE_TRANSIENT).
    Stmt& bind(int index, std::int64_t value);
    Stmt& bind(int index, double value);
    Stmt& bind(int index, std::string_view value);
    Stmt& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
    Stmt& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Stmt& bind(int index, const std::optional<std::int64_t>& value);
    Stmt& bind(int index, const std::optional<std::string>& value);
    Stmt& bind_null(int index);

    // One step: SQLITE_ROW, SQLITE_DONE, or an error code.
    int step();
    // Steps once and expects SQLITE_DONE (DML without RETURNING).
    sdk::Status run();
    // Makes the statement ready for the next set of bindings (reuse inside a loop).
    void reset();

    std::int64_t int64(int column) const;
    double real(int column) const;
    std::string text(int column) const;
    bool is_null(int column) const;

private:
    sqlite3_stmt* stmt_;
};

class Connection {
public:
    static sdk::Result<std::unique_ptr<Connection>> open(const Options& options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Runs one or more statements without results (DDL, pragmas, BEGIN/COMMIT).
    sdk::Status exec(const char* sql);
    // The cached statement for `sql` (prepared once per connection, reused after).
    sdk::Result<Stmt> prepare(const std::string& sql);
    // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
    std::int64_t changes() const;
    // A Status for an sqlite result code, with the connection's error message.
    sdk::Status error(int rc, std::string_view what) const;
    sqlite3* raw() const noexcept { return db_; }

private:
    explicit Connection(sqlite3* db) : db_(db) {}
    sqlite3* db_;
    std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// BEGIN ... COMMIT; rolls back on destruction unless committed.
class Transaction {
public:
    enum class Kind { deferred, immediate };
    static sdk::Result<Transaction> begin(Connection& conn, Kind kind);
    Transaction(Transaction&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    Transaction& operator=(Transaction&&) = delete;
    ~Transaction();
    sdk::Status commit();

private:
    explicit Transaction(Connection* conn) : conn_(conn) {}
    Connection* conn_;
};

// A SAVEPOINT inside a transaction: undo part of it without losing the rest.
class Savepoint {
public:
    static sdk::Result<Savepoint> begin(Connection& conn, std::string name);
    Savepoint(Savepoint&& other) noexcept : conn_(other.conn_), name_(std::move(other.name_)) {
        other.conn_ = nullptr;
    }
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;
    Savepoint& operator=(Savepoint&&) = delete;
    ~Savepoint();  // rolls back to the savepoint and releases it unless released
    sdk::Status release();
    sdk::Status rollback();

private:
    Savepoint(Connection* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
    Connection* conn_;
    std::string name_;
};

// Applies `migrations[i]` for every i >= PRAGMA user_version, each in its own
// IMMEDIATE transaction that also bumps user_version to i + 1. A database whose
// user_version is newer than the list is refused (written by a newer release).
sdk::Status migrate(Connection& conn, std::span<const std::string_view> migrations);
sdk::Result<std::int64_t> user_version(Connection& conn);

// The store's two connections: one writer (every write goes through it, so writers
// never fight over SQLite's single write lock inside this process) and one reader
// (WAL lets it read concurrently with the writer). Each is used under its own mutex.
class Database {
public:
    static sdk::Result<std::unique_ptr<Database>> open(
        const Options& options, std::span<const std::string_view> migrations);

    template <typename F>
    auto write(F&& fn) {
        std::lock_guard lock(write_mu_);
        return fn(*writer_);
    }
    template <typename F>
    auto read(F&& fn) {
        std::lock_guard lock(read_mu_);
        return fn(*reader_);
    }

    // Round trip through the writer (takes and drops the write lock) and the reader;
    // returns the elapsed time, or the error that a write would meet.
    sdk::Result<std::chrono::microseconds> ping();
    const std::string& path() const noexcept { return path_; }

private:
    Database() = default;
    std::string path_;
    std::mutex write_mu_;
    std::unique_ptr<Connection> writer_;
    std::mutex read_mu_;
    std::unique_ptr<Connection> reader_;
};

// Resolves the configured `path` against `state_dir`: empty → <state_dir>/<name>.db,
// relative → <state_dir>/<path>, absolute → as is.
std::string resolve_path(const std::string& configured, const std::string& state_dir,
                         std::string_view name);

}  // namespace agenthost::sqlite
