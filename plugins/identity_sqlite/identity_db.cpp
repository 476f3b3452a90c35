#include "plugins/identity_sqlite/identity_db.hpp"

#include <array>

#include <sqlite3.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <agenthost/json.hpp>

namespace agenthost::identity_sqlite {

using sdk::Errc;
using sdk::Status;
using sqlite::Connection;
using sqlite::Savepoint;
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

std::string capabilities_json(const std::vector<std::string>& caps) {
    json::array arr;
    for (const auto& c : caps) {
        arr.emplace_back(c);
    }
    return json::serialize(arr);
}

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

// 1 when the agent is revoked, 0 when not, -1 when unknown.
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

// The session row holding this agent's lease, as a `duplicate` outcome. Its own
// function so the statement is reset before the caller commits.
sdk::Result<sdk::OpenSessionResult> holder(Connection& c, const std::string& agent_id) {
    auto q =
        c.prepare("SELECT session_id, host_id, cert_fingerprint FROM sessions WHERE agent_id = ?1");
    if (!q) {
        return q.status();
    }
    q->bind(1, agent_id);
    int rc = q->step();
    if (rc != SQLITE_ROW) {
        return c.error(rc, "select session");
    }
    return sdk::OpenSessionResult{sdk::OpenOutcome::duplicate, q->text(0), q->text(1), q->text(2)};
}

}  // namespace

std::span<const std::string_view> IdentityDb::migrations() {
    return kMigrations;
}

sdk::Result<std::unique_ptr<IdentityDb>> IdentityDb::open(const sqlite::Options& options) {
    auto db = sqlite::Database::open(options, migrations());
    if (!db) {
        return db.status();
    }
    return std::unique_ptr<IdentityDb>(new IdentityDb(
        std::move(db).value(), options.synchronous == sqlite::Synchronous::full));
}

sdk::Result<sdk::OpenSessionResult> IdentityDb::open_session(const sdk::AgentHello& hello,
                                                             std::int64_t now_ms,
                                                             std::int64_t lease_ms) {
    using R = sdk::Result<sdk::OpenSessionResult>;
    if (hello.agent_id.empty() || hello.session_id.empty() || hello.host_id.empty()) {
        return Status(Errc::invalid_argument, "hello needs agent_id, session_id and host_id");
    }
    if (lease_ms <= 0) {
        return Status(Errc::invalid_argument, "lease must be positive");
    }
    return db_->write([&](Connection& c) -> R {
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        if (!tx) {
            return tx.status();
        }
        auto revoked = revoked_state(c, hello.agent_id);
        if (!revoked) {
            return revoked.status();
        }
        if (*revoked == 1) {
            return sdk::OpenSessionResult{sdk::OpenOutcome::revoked, {}, {}, {}};
        }
        // An expired lease is not a live session: clear it so the INSERT can succeed.
        auto expire =
            c.prepare("DELETE FROM sessions WHERE agent_id = ?1 AND lease_expires_ms <= ?2");
        if (!expire) {
            return expire.status();
        }
        expire->bind(1, hello.agent_id).bind(2, now_ms);
        if (auto st = expire->run(); !st) {
            return st;
        }

        auto sp = Savepoint::begin(c, "open_session");
        if (!sp) {
            return sp.status();
        }
        auto upsert = c.prepare(
            "INSERT INTO agents (agent_id, cert_fingerprint, first_seen_ms, last_seen_ms,"
            " agent_version, hostname, platform, capabilities)"
            " VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7)"
            " ON CONFLICT (agent_id) DO UPDATE SET cert_fingerprint = excluded.cert_fingerprint,"
            " last_seen_ms = excluded.last_seen_ms, agent_version = excluded.agent_version,"
            " hostname = excluded.hostname, platform = excluded.platform,"
            " capabilities = excluded.capabilities");
        if (!upsert) {
            return upsert.status();
        }
        upsert->bind(1, hello.agent_id)
            .bind(2, hello.cert_fingerprint)
            .bind(3, now_ms)
            .bind(4, hello.agent_version)
            .bind(5, hello.hostname)
            .bind(6, hello.platform)
            .bind(7, capabilities_json(hello.capabilities));
        if (auto st = upsert->run(); !st) {
            return st;
        }
        auto insert = c.prepare(
            "INSERT INTO sessions (agent_id, session_id, host_id, cert_fingerprint, opened_ms,"
            " lease_expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        if (!insert) {
            return insert.status();
        }
        insert->bind(1, hello.agent_id)
            .bind(2, hello.session_id)
            .bind(3, hello.host_id)
            .bind(4, hello.cert_fingerprint)
            .bind(5, now_ms)
            .bind(6, now_ms + lease_ms);
        int rc = insert->step();
        if (rc == SQLITE_DONE) {
            if (auto st = sp->release(); !st) {
                return st;
            }
            if (auto st = tx->commit(); !st) {
                return st;
            }
            return sdk::OpenSessionResult{};
        }
        if (rc != SQLITE_CONSTRAINT_PRIMARYKEY) {
            return c.error(rc, "insert session");
        }
        // A live lease exists. Undo the agent upsert: a refused hello (maybe an
        // impostor with another certificate) must not rewrite the agent's record.
        if (auto st = sp->rollback(); !st) {
            return st;
        }
        auto found = holder(c, hello.agent_id);
        if (!found) {
            return found.status();
        }
        const sdk::OpenSessionResult& dup = *found;
        if (dup.existing_session_id == hello.session_id && dup.existing_host_id == hello.host_id) {
            // Our own earlier attempt (the caller retried after losing the answer).
            auto extend =
                c.prepare("UPDATE sessions SET lease_expires_ms = ?2 WHERE agent_id = ?1");
            if (!extend) {
                return extend.status();
            }
            extend->bind(1, hello.agent_id).bind(2, now_ms + lease_ms);
            if (auto st = extend->run(); !st) {
                return st;
            }
            if (auto st = tx->commit(); !st) {
                return st;
            }
            return sdk::OpenSessionResult{};
        }
        if (auto st = tx->commit(); !st) {
            return st;
        }
        return dup;
    });
}

Status IdentityDb::renew_session(const std::string& agent_id, const std::string& session_id,
                                 std::int64_t now_ms, std::int64_t lease_ms) {
    return db_->write([&](Connection& c) -> Status {
        // A renewal needs no fsync: a lease matters only while this process lives (a
        // crash ends every session), and a renewal lost in a power cut only brings the
        // expiry nearer. In WAL mode the next FULL commit syncs it anyway. Renewals come
        // with every heartbeat of every agent: their fsyncs were most of the idle CPU
        // (docs/PERFORMANCE.md).
        struct SyncScope {
            Connection& c;
            bool full;
            ~SyncScope() {
                if (full) {
                    (void)c.exec("PRAGMA synchronous=FULL");
                }
            }
        } scope{c, full_sync_};
        if (full_sync_) {
            if (auto st = c.exec("PRAGMA synchronous=NORMAL"); !st) {
                return st;
            }
        }
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        if (!tx) {
            return tx.status();
        }
        auto revoked = revoked_state(c, agent_id);
        if (!revoked) {
            return revoked.status();
        }
        if (*revoked == 1) {
            return {Errc::conflict, "agent revoked"};
        }
        auto renew = c.prepare(
            "UPDATE sessions SET lease_expires_ms = ?3 WHERE agent_id = ?1 AND session_id = ?2");
        if (!renew) {
            return renew.status();
        }
        renew->bind(1, agent_id).bind(2, session_id).bind(3, now_ms + lease_ms);
        if (auto st = renew->run(); !st) {
            return st;
        }
        if (c.changes() == 0) {
            return {Errc::not_found, "session no longer holds the lease"};
        }
        auto seen = c.prepare("UPDATE agents SET last_seen_ms = ?2 WHERE agent_id = ?1");
        if (!seen) {
            return seen.status();
        }
        seen->bind(1, agent_id).bind(2, now_ms);
        if (auto st = seen->run(); !st) {
            return st;
        }
        return tx->commit();
    });
}

Status IdentityDb::close_session(const std::string& agent_id, const std::string& session_id,
                                 std::int64_t now_ms) {
    return db_->write([&](Connection& c) -> Status {
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        if (!tx) {
            return tx.status();
        }
        auto del = c.prepare("DELETE FROM sessions WHERE agent_id = ?1 AND session_id = ?2");
        if (!del) {
            return del.status();
        }
        del->bind(1, agent_id).bind(2, session_id);
        if (auto st = del->run(); !st) {
            return st;
        }
        if (c.changes() > 0) {
            auto seen = c.prepare("UPDATE agents SET last_seen_ms = ?2 WHERE agent_id = ?1");
            if (!seen) {
                return seen.status();
            }
            seen->bind(1, agent_id).bind(2, now_ms);
            if (auto st = seen->run(); !st) {
                return st;
            }
        }
        return tx->commit();
    });
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
