#pragma once
// Pool: a bounded pool of libpqxx connections shared by the PostgreSQL plugins.
//
// Blocking by design: every call here talks to the server, so callers run it on the
// kernel's blocking pool (never on the event loop). Thread-safe. Connections are
// opened lazily (the first caller that finds no idle one opens one, up to
// max_connections); a connection that breaks is dropped and the next caller opens a
// fresh one, which is all "reconnect" means here: no background thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/status.hpp>

#include <pqxx/connection>

namespace agenthost::pg {

struct PoolOptions {
    // libpq connection string: a URL (postgresql://user@host:port/db?...) or
    // "key=value" pairs. May carry a password: never log it (see redact_url()).
    std::string url;
    std::size_t max_connections = 4;
    std::chrono::milliseconds acquire_timeout{2000};    // wait for a free connection
    std::chrono::milliseconds connect_timeout{3000};    // libpq connect_timeout (>= 2 s)
    std::chrono::milliseconds statement_timeout{5000};  // SET statement_timeout per session
    std::string application_name = "agenthost";
    // After a failed connect, callers needing a new connection fail fast (unavailable)
    // for this long instead of each waiting out connect_timeout on a blocking thread.
    std::chrono::milliseconds reconnect_backoff{1000};
};

class Pool {
public:
    explicit Pool(PoolOptions options);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // Runs fn(connection) on the caller's thread with a connection from the pool and
    // returns its Status. Exceptions escaping fn are mapped (see status_from_exception)
    // and never propagate. A connection that broke (or failed to open) is dropped and
    // the call answers Errc::unavailable; no free connection within acquire_timeout →
    // Errc::exhausted. fn must not keep the connection or a transaction past return.
    sdk::Status with_connection(const std::function<sdk::Status(pqxx::connection&)>& fn);

    // Runs "SELECT 1" and records its latency; updates healthy().
    sdk::Status ping();
    // False after a connect failure or a broken connection until the next success.
    bool healthy() const;
    std::chrono::microseconds last_ping_latency() const;

    // Connections currently open (idle + in use); for tests and metrics.
    std::size_t open_connections() const;
    // The URL with any password replaced by "***" (safe for logs and errors).
    const std::string& redacted_url() const noexcept { return redacted_; }
    const PoolOptions& options() const noexcept { return options_; }

private:
    std::unique_ptr<pqxx::connection> acquire(sdk::Status& error);
    void give_back(std::unique_ptr<pqxx::connection> conn, bool broken);
    std::unique_ptr<pqxx::connection> connect(sdk::Status& error);

    PoolOptions options_;
    std::string conninfo_;  // url + connect_timeout/application_name
    std::string redacted_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<pqxx::connection>> idle_;
    std::size_t open_ = 0;  // idle + lent + being opened

    std::atomic<bool> healthy_{true};
    std::atomic<std::int64_t> retry_after_ns_{0};  // steady clock; see reconnect_backoff
    std::atomic<std::int64_t> ping_us_{0};
};

// "postgresql://u:secret@h/db" → "postgresql://u:***@h/db"; "password=x" → "password=***".
std::string redact_url(std::string_view url);

// How an exception from libpqxx maps to a Status (messages are redacted of nothing:
// libpq never echoes the password). `broken` is set when the connection must be
// dropped: broken_connection, in_doubt_error, SQLSTATE class 08 and 57P01-57P03.
//   broken → unavailable; 57014 (statement timeout) → timeout;
//   40001/40P01 (serialization failure/deadlock) → conflict, message starts "40001"/"40P01";
//   23xxx (integrity) → conflict; other sql_error → internal; others → internal.
sdk::Status status_from_exception(const std::exception& e, bool* broken = nullptr);
// The SQLSTATE of a pqxx::sql_error ("" for anything else).
std::string sqlstate_of(const std::exception& e);
// True for 40001 / 40P01: the transaction may simply be retried.
bool is_retryable_sqlstate(std::string_view sqlstate);

}  // namespace agenthost::pg
