#include "plugins/_common_postgres/pg_pool.hpp"

#include <algorithm>

#include <pqxx/pqxx>

namespace agenthost::pg {

using sdk::Errc;
using sdk::Status;

namespace {

// Appends libpq parameters to a URL or a key=value string.
std::string with_params(const std::string& url, const std::vector<std::string>& params) {
    const bool is_url = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
    std::string out = url;
    for (const auto& p : params) {
        if (is_url) {
            out += out.find('?') == std::string::npos ? '?' : '&';
            out += p;
        } else {
            out += (out.empty() ? "" : " ") + p;
        }
    }
    return out;
}

std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string redact_url(std::string_view url) {
    std::string out(url);
    // URL form: scheme://user:password@host → mask between ':' and '@' of the authority.
    if (auto scheme = out.find("://"); scheme != std::string::npos) {
        const std::size_t start = scheme + 3;
        const std::size_t end = out.find_first_of("/?", start);
        const std::size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
        if (at != std::string::npos && at >= start) {
            const std::size_t colon = out.find(':', start);
            if (colon != std::string::npos && colon < at) {
                out.replace(colon + 1, at - colon - 1, "***");
            }
        }
    }
    // password=... in the query string or in key=value form.
    for (std::size_t pos = out.find("password="); pos != std::string::npos;
         pos = out.find("password=", pos + 1)) {
        const std::size_t from = pos + 9;
        std::size_t to = out.find_first_of("& ", from);
        if (to == std::string::npos) {
            to = out.size();
        }
        out.replace(from, to - from, "***");
    }
    return out;
}

std::string sqlstate_of(const std::exception& e) {
    if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
        return sql->sqlstate();
    }
    return {};
}

bool is_retryable_sqlstate(std::string_view sqlstate) {
    return sqlstate == "40001" || sqlstate == "40P01";
}

Status status_from_exception(const std::exception& e, bool* broken) {
    bool drop = false;
    Status st;
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
        dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
        drop = true;
        st = Status(Errc::unavailable, std::string("postgres connection lost: ") + e.what());
    } else if (dynamic_cast<const pqxx::sql_error*>(&e) != nullptr) {
        const std::string state = sqlstate_of(e);
        if (starts_with(state, "08") || state == "57P01" || state == "57P02" || state == "57P03") {
            drop = true;
            st = Status(Errc::unavailable, "postgres unavailable (" + state + "): " + e.what());
        } else if (state == "57014") {
            st = Status(Errc::timeout, "postgres statement timed out: " + std::string(e.what()));
        } else if (is_retryable_sqlstate(state) || starts_with(state, "23")) {
            st = Status(Errc::conflict, state + ": " + e.what());
        } else {
            st = Status(Errc::internal, "postgres error " + state + ": " + e.what());
        }
    } else {
        st = Status(Errc::internal, e.what());
    }
    if (broken != nullptr) {
        *broken = drop;
    }
    return st;
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {
    options_.max_connections = std::max<std::size_t>(options_.max_connections, 1);
    // libpq's connect_timeout is whole seconds and treats values below 2 as 2.
    const auto secs = std::max<long long>(
        2, std::chrono::ceil<std::chrono::seconds>(options_.connect_timeout).count());
    conninfo_ = with_params(options_.url, {"connect_timeout=" + std::to_string(secs),
                                           "application_name=" + options_.application_name});
    redacted_ = redact_url(options_.url);
}

Pool::~Pool() {
    std::lock_guard lock(mu_);
    idle_.clear();
}

std::unique_ptr<pqxx::connection> Pool::connect(Status& error) {
    try {
        auto conn = std::make_unique<pqxx::connection>(conninfo_);
        pqxx::nontransaction tx(*conn);
        tx.exec("SET statement_timeout = " + std::to_string(options_.statement_timeout.count()));
        return conn;
    } catch (const std::exception& e) {
        // A failed connect is always "unavailable" to the caller, whatever the cause.
        error = Status(Errc::unavailable,
                       "postgres " + redacted_ + ": " + status_from_exception(e).message());
        return nullptr;
    }
}

std::unique_ptr<pqxx::connection> Pool::acquire(Status& error) {
    {
        std::unique_lock lock(mu_);
        const bool got = cv_.wait_for(lock, options_.acquire_timeout, [&] {
            return !idle_.empty() || open_ < options_.max_connections;
        });
        if (!got) {
            error = Status(Errc::exhausted, "postgres pool: no connection free within " +
                                                std::to_string(options_.acquire_timeout.count()) +
                                                " ms");
            return nullptr;
        }
        if (!idle_.empty()) {
            auto conn = std::move(idle_.back());
            idle_.pop_back();
            return conn;
        }
        if (steady_ns() < retry_after_ns_.load()) {
            error = Status(Errc::unavailable,
                           "postgres " + redacted_ + ": unreachable, next connect attempt soon");
            return nullptr;
        }
        ++open_;  // reserve the slot; connect outside the lock
    }
    auto conn = connect(error);
    if (!conn) {
        healthy_ = false;
        retry_after_ns_ =
            steady_ns() + std::chrono::nanoseconds(options_.reconnect_backoff).count();
        std::lock_guard lock(mu_);
        --open_;
        cv_.notify_one();
    }
    return conn;
}

void Pool::give_back(std::unique_ptr<pqxx::connection> conn, bool broken) {
    if (broken || !conn->is_open()) {
        conn.reset();  // close outside the lock
        std::lock_guard lock(mu_);
        --open_;
        cv_.notify_one();
        return;
    }
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(conn));
    cv_.notify_one();
}

Status Pool::with_connection(const std::function<Status(pqxx::connection&)>& fn) {
    Status error;
    auto conn = acquire(error);
    if (!conn) {
        return error;
    }
    Status result;
    bool broken = false;
    try {
        result = fn(*conn);
    } catch (const std::exception& e) {
        result = status_from_exception(e, &broken);
    } catch (...) {
        result = Status(Errc::internal, "unknown exception");
    }
    if (broken) {
        healthy_ = false;
    } else if (conn->is_open()) {
        healthy_ = true;  // the server answered
    }
    give_back(std::move(conn), broken);
    return result;
}

Status Pool::ping() {
    const auto t0 = std::chrono::steady_clock::now();
    Status st = with_connection([](pqxx::connection& c) -> Status {
        pqxx::nontransaction tx(c);
        tx.exec("SELECT 1");
        return {};
    });
    if (st.ok()) {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - t0);
        ping_us_ = us.count();
    } else if (st.code() != Errc::exhausted) {
        healthy_ = false;  // a busy pool is not a sick server
    }
    return st;
}

bool Pool::healthy() const {
    return healthy_.load();
}

std::chrono::microseconds Pool::last_ping_latency() const {
    return std::chrono::microseconds(ping_us_.load());
}

std::size_t Pool::open_connections() const {
    std::lock_guard lock(mu_);
    return open_;
}

}  // namespace agenthost::pg
