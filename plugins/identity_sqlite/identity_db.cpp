#include "plugins/identity_sqlite/identity_db.hpp"
#include "plugins/identity_sqlite/identity_sql.hpp"

#include <array>

#include <sqlite3.h>
#include <boost/json/parse.hpp>

#include <agenthost/json.hpp>

namespace agenthost::identity_sqlite {

using sdk::Errc;
using sdk::Status;
using sqlite::Connection;
using sqlite::Transaction;
namespace json = sdk::json;

namespace {

// Append-only: never edit a shipped step; add a new one.
constexpr std::array<std::string_view, 1> kMigrations = {
    R"sql(
CREATE TABLE agents (
    agent_id         TEXT PRIMARY KEY NOT NULL,
    cert_fingerprint TEXT NOT NULL,
    first_seen_ms    INTEGER NOT NULL,
    last_seen_ms     INTEGER NOT NULL,
    revoked          INTEGER NOT NULL DEFAULT 0,
    agent_version    TEXT NOT NULL DEFAULT '',
    hostname         TEXT NOT NULL DEFAULT '',
    platform         TEXT NOT NULL DEFAULT '',
    capabilities     TEXT            -- JSON array of command names, NULL if never sent
);
-- One row per agent: the PRIMARY KEY is what makes a second live session impossible.
CREATE TABLE sessions (
    agent_id         TEXT PRIMARY KEY NOT NULL REFERENCES agents(agent_id) ON DELETE CASCADE,
    session_id       TEXT NOT NULL,
    host_id          TEXT NOT NULL,
    cert_fingerprint TEXT NOT NULL,
    opened_ms        INTEGER NOT NULL,
    lease_expires_ms INTEGER NOT NULL
);
)sql",
};

std::optional<std::vector<std::string>> parse_capabilities(const sqlite::Stmt& s, int col) {
    if (s.is_null(col)) {
        return std::nullopt;
    }
    boost::system::error_code ec;
    json::value v = json::parse(s.text(col), ec);
    std::vector<std::string> out;
    if (ec || !v.is_array()) {
        return out;  // unreadable: report "no capabilities" rather than fail the lookup
    }
    for (const auto& item : v.get_array()) {
        if (item.is_string()) {
            out.emplace_back(item.get_string());
        }
    }
    return out;
}

constexpr const char* kAgentSelect =
    "SELECT a.agent_id, a.cert_fingerprint, a.first_seen_ms, a.last_seen_ms, a.revoked,"
    " a.agent_version, a.hostname, a.platform, a.capabilities, s.session_id, s.host_id"
    " FROM agents a LEFT JOIN sessions s"
    " ON s.agent_id = a.agent_id AND s.lease_expires_ms > ?1";

sdk::AgentRecord read_agent(const sqlite::Stmt& s) {
    sdk::AgentRecord r;
    r.agent_id = s.text(0);
    r.cert_fingerprint = s.text(1);
    r.first_seen_ms = s.int64(2);
    r.last_seen_ms = s.int64(3);
    r.revoked = s.int64(4) != 0;
    r.agent_version = s.text(5);
    r.hostname = s.text(6);
    r.platform = s.text(7);
    r.capabilities = parse_capabilities(s, 8);
    if (!s.is_null(9)) {
        r.online = true;
        r.session_id = s.text(9);
        r.host_id = s.text(10);
    }
    return r;
}

}  // namespace

sdk::Result<int> revoked_state(Connection& c, const std::string& agent_id) {
    auto q = c.prepare("SELECT revoked FROM agents WHERE agent_id = ?1");
    if (!q) {
        return q.status();
    }
    q->bind(1, agent_id);
    int rc = q->step();
    if (rc == SQLITE_DONE) {
        return -1;
    }
    if (rc != SQLITE_ROW) {
        return c.error(rc, "select agent");
    }
    return q->int64(0) != 0 ? 1 : 0;
}

std::span<const std::string_view> IdentityDb::migrations() {
    return kMigrations;
}

sdk::Result<std::unique_ptr<IdentityDb>> IdentityDb::open(const sqlite::Options& options) {
    auto db = sqlite::Database::open(options, migrations());
    if (!db) {
        return db.status();
    }
    return std::unique_ptr<IdentityDb>(
        new IdentityDb(std::move(db).value(), options.synchronous == sqlite::Synchronous::full));
}

Status IdentityDb::revoke(const std::string& agent_id) {
    return db_->write([&](Connection& c) -> Status {
        // The session row stays: the holder's next renew answers conflict, which is
        // how a host learns to close it with 4403.
        auto upd = c.prepare("UPDATE agents SET revoked = 1 WHERE agent_id = ?1");
        if (!upd) {
            return upd.status();
        }
        upd->bind(1, agent_id);
        if (auto st = upd->run(); !st) {
            return st;
        }
        if (c.changes() == 0) {
            return {Errc::not_found, "unknown agent"};
        }
        return {};
    });
}

sdk::Result<std::optional<std::string>> IdentityDb::release(const std::string& agent_id) {
    using R = sdk::Result<std::optional<std::string>>;
    return db_->write([&](Connection& c) -> R {
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        if (!tx) {
            return tx.status();
        }
        auto revoked = revoked_state(c, agent_id);
        if (!revoked) {
            return revoked.status();
        }
        if (*revoked == -1) {
            return Status(Errc::not_found, "unknown agent");
        }
        auto del = c.prepare("DELETE FROM sessions WHERE agent_id = ?1 RETURNING session_id");
        if (!del) {
            return del.status();
        }
        del->bind(1, agent_id);
        std::optional<std::string> held;
        int rc = del->step();
        if (rc == SQLITE_ROW) {
            held = del->text(0);
            rc = del->step();
        }
        if (rc != SQLITE_DONE) {
            return c.error(rc, "delete session");
        }
        if (auto st = tx->commit(); !st) {
            return st;
        }
        return held;
    });
}

sdk::Result<sdk::AgentRecord> IdentityDb::get_agent(const std::string& agent_id,
                                                    std::int64_t now_ms) {
    using R = sdk::Result<sdk::AgentRecord>;
    return db_->read([&](Connection& c) -> R {
        auto q = c.prepare(std::string(kAgentSelect) + " WHERE a.agent_id = ?2");
        if (!q) {
            return q.status();
        }
        q->bind(1, now_ms).bind(2, agent_id);
        int rc = q->step();
        if (rc == SQLITE_DONE) {
            return Status(Errc::not_found, "unknown agent");
        }
        if (rc != SQLITE_ROW) {
            return c.error(rc, "select agent");
        }
        return read_agent(*q);
    });
}

sdk::Result<std::vector<sdk::AgentRecord>> IdentityDb::list_agents(std::int64_t now_ms) {
    using R = sdk::Result<std::vector<sdk::AgentRecord>>;
    return db_->read([&](Connection& c) -> R {
        auto q = c.prepare(std::string(kAgentSelect) + " ORDER BY a.agent_id");
        if (!q) {
            return q.status();
        }
        q->bind(1, now_ms);
        std::vector<sdk::AgentRecord> out;
        int rc = 0;
        while ((rc = q->step()) == SQLITE_ROW) {
            out.push_back(read_agent(*q));
        }
        if (rc != SQLITE_DONE) {
            return c.error(rc, "list agents");
        }
        return out;
    });
}

}  // namespace agenthost::identity_sqlite
