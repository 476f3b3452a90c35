// The lease writes of IdentityDb: open_session, renew_session, close_session, one
// transaction per call, and write_batch, many of them in one transaction (group
// commit). Both run the same item functions below, so their outcomes cannot drift.

#include <algorithm>
#include <type_traits>

#include <sqlite3.h>
#include <boost/json/serialize.hpp>

#include <agenthost/json.hpp>

#include "plugins/identity_sqlite/identity_db.hpp"
#include "plugins/identity_sqlite/identity_sql.hpp"

namespace agenthost::identity_sqlite {

using sdk::Errc;
using sdk::Status;
using sqlite::Connection;
using sqlite::Savepoint;
using sqlite::Transaction;
namespace json = sdk::json;

namespace {

using OpenResult = sdk::Result<sdk::OpenSessionResult>;

std::string capabilities_json(const std::vector<std::string>& caps) {
    json::array arr;
    for (const auto& c : caps) {
        arr.emplace_back(c);
    }
    return json::serialize(arr);
}

Status check_open(const sdk::AgentHello& hello, std::int64_t lease_ms) {
    if (hello.agent_id.empty() || hello.session_id.empty() || hello.host_id.empty()) {
        return {Errc::invalid_argument, "hello needs agent_id, session_id and host_id"};
    }
    if (lease_ms <= 0) {
        return {Errc::invalid_argument, "lease must be positive"};
    }
    return {};
}

// The session row holding this agent's lease, as a `duplicate` outcome. Its own
// function so the statement is reset before the caller commits.
OpenResult holder(Connection& c, const std::string& agent_id) {
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

// The items run inside a transaction the caller began and commits. On an error the
// caller rolls back (the transaction, or the item's savepoint in a batch); an item
// writes nothing before it decides revoked / not_found / conflict.

// revoked → revoked; drop this agent's expired lease; inside a savepoint upsert the
// agent and insert the session; a PRIMARY KEY violation → undo the upsert and answer
// duplicate, or (same session and host: a retry) extend the lease and answer opened.
OpenResult open_item(Connection& c, const sdk::AgentHello& hello, std::int64_t now_ms,
                     std::int64_t lease_ms) {
    auto revoked = revoked_state(c, hello.agent_id);
    if (!revoked) {
        return revoked.status();
    }
    if (*revoked == 1) {
        return sdk::OpenSessionResult{sdk::OpenOutcome::revoked, {}, {}, {}};
    }
    // An expired lease is not a live session: clear it so the INSERT can succeed.
    auto expire = c.prepare("DELETE FROM sessions WHERE agent_id = ?1 AND lease_expires_ms <= ?2");
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
        return sdk::OpenSessionResult{};
    }
    if (rc != SQLITE_CONSTRAINT_PRIMARYKEY) {
        return c.error(rc, "insert session");
    }
    // A live lease exists. Undo the agent upsert: a refused hello (maybe an impostor
    // with another certificate) must not rewrite the agent's record.
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
        auto extend = c.prepare("UPDATE sessions SET lease_expires_ms = ?2 WHERE agent_id = ?1");
        if (!extend) {
            return extend.status();
        }
        extend->bind(1, hello.agent_id).bind(2, now_ms + lease_ms);
        if (auto st = extend->run(); !st) {
            return st;
        }
        return sdk::OpenSessionResult{};
    }
    return dup;
}

Status touch_agent(Connection& c, const std::string& agent_id, std::int64_t now_ms) {
    auto seen = c.prepare("UPDATE agents SET last_seen_ms = ?2 WHERE agent_id = ?1");
    if (!seen) {
        return seen.status();
    }
    seen->bind(1, agent_id).bind(2, now_ms);
    return seen->run();
}

Status renew_item(Connection& c, const std::string& agent_id, const std::string& session_id,
                  std::int64_t now_ms, std::int64_t lease_ms) {
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
    return touch_agent(c, agent_id, now_ms);
}

Status close_item(Connection& c, const std::string& agent_id, const std::string& session_id,
                  std::int64_t now_ms) {
    auto del = c.prepare("DELETE FROM sessions WHERE agent_id = ?1 AND session_id = ?2");
    if (!del) {
        return del.status();
    }
    del->bind(1, agent_id).bind(2, session_id);
    if (auto st = del->run(); !st) {
        return st;
    }
    if (c.changes() > 0) {
        return touch_agent(c, agent_id, now_ms);
    }
    return {};
}

LeaseWriteResult apply(Connection& c, const LeaseWrite& write, std::int64_t now_ms) {
    return std::visit(
        [&](const auto& w) -> LeaseWriteResult {
            using W = std::decay_t<decltype(w)>;
            if constexpr (std::is_same_v<W, OpenWrite>) {
                auto r = open_item(c, w.hello, now_ms, w.lease_ms);
                if (!r) {
                    return {r.status(), {}};
                }
                return {Status{}, std::move(r).value()};
            } else if constexpr (std::is_same_v<W, RenewWrite>) {
                return {renew_item(c, w.agent_id, w.session_id, now_ms, w.lease_ms), {}};
            } else {
                return {close_item(c, w.agent_id, w.session_id, now_ms), {}};
            }
        },
        write);
}

// A renewal needs no fsync: a lease matters only while this process lives (a crash
// ends every session), and a renewal lost in a power cut only brings the expiry
// nearer. In WAL mode the next FULL commit syncs it anyway. Renewals come with every
// heartbeat of every agent: their fsyncs were most of the idle CPU
// (docs/PERFORMANCE.md). Lowers a FULL connection to NORMAL for its lifetime.
class RenewalSync {
public:
    RenewalSync(Connection& c, bool lower) : c_(c), lower_(lower) {}
    RenewalSync(const RenewalSync&) = delete;
    RenewalSync& operator=(const RenewalSync&) = delete;
    ~RenewalSync() {
        if (lowered_) {
            (void)c_.exec("PRAGMA synchronous=FULL");
        }
    }
    Status lower() {
        if (!lower_) {
            return {};
        }
        auto st = c_.exec("PRAGMA synchronous=NORMAL");
        lowered_ = static_cast<bool>(st);
        return st;
    }

private:
    Connection& c_;
    bool lower_;
    bool lowered_ = false;
};

// The per-item savepoint of a batch, through cached statements: Savepoint (exec)
// would parse two statements per item, a visible share of a renewal's cost. No RAII
// needed: on any early return the batch's transaction rolls back, savepoints too.
Status run_cached(Connection& c, const char* sql) {
    auto s = c.prepare(sql);
    if (!s) {
        return s.status();
    }
    return s->run();
}
Status item_begin(Connection& c) {
    return run_cached(c, "SAVEPOINT lease_write");
}
Status item_end(Connection& c, bool keep) {
    if (!keep) {
        if (auto st = run_cached(c, "ROLLBACK TO lease_write"); !st) {
            return st;
        }
    }
    return run_cached(c, "RELEASE lease_write");
}

}  // namespace

OpenResult IdentityDb::open_session(const sdk::AgentHello& hello, std::int64_t now_ms,
                                    std::int64_t lease_ms) {
    if (auto st = check_open(hello, lease_ms); !st) {
        return st;
    }
    return db_->write([&](Connection& c) -> OpenResult {
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        if (!tx) {
            return tx.status();
        }
        auto r = open_item(c, hello, now_ms, lease_ms);
        if (!r) {
            return r;
        }
        if (auto st = tx->commit(); !st) {
            return st;
        }
        return r;
    });
}

Status IdentityDb::renew_session(const std::string& agent_id, const std::string& session_id,
                                 std::int64_t now_ms, std::int64_t lease_ms) {
    return db_->write([&](Connection& c) -> Status {
        RenewalSync sync(c, full_sync_);
        if (auto st = sync.lower(); !st) {
            return st;
        }
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        if (!tx) {
            return tx.status();
        }
        if (auto st = renew_item(c, agent_id, session_id, now_ms, lease_ms); !st) {
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
        if (auto st = close_item(c, agent_id, session_id, now_ms); !st) {
            return st;
        }
        return tx->commit();
    });
}

std::vector<LeaseWriteResult> IdentityDb::write_batch(std::span<const LeaseWrite> writes,
                                                      std::int64_t now_ms) {
    std::vector<LeaseWriteResult> out(writes.size());
    std::vector<bool> valid(writes.size(), true);
    bool only_renewals = true;
    for (std::size_t i = 0; i < writes.size(); ++i) {
        if (const auto* open = std::get_if<OpenWrite>(&writes[i])) {
            out[i].status = check_open(open->hello, open->lease_ms);
            valid[i] = static_cast<bool>(out[i].status);
        }
        only_renewals = only_renewals && std::holds_alternative<RenewWrite>(writes[i]);
    }
    if (std::find(valid.begin(), valid.end(), true) == valid.end()) {
        return out;
    }
    // The whole batch shares one fate when the transaction itself fails.
    auto fail_all = [&](const Status& st) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            if (valid[i]) {
                out[i] = {st, {}};
            }
        }
    };
    db_->write([&](Connection& c) {
        RenewalSync sync(c, full_sync_ && only_renewals);
        if (auto st = sync.lower(); !st) {
            fail_all(st);
            return;
        }
        auto tx = Transaction::begin(c, Transaction::Kind::immediate);
        if (!tx) {
            fail_all(tx.status());
            return;
        }
        for (std::size_t i = 0; i < writes.size(); ++i) {
            if (!valid[i]) {
                continue;
            }
            if (auto st = item_begin(c); !st) {
                fail_all(st);
                return;
            }
            out[i] = apply(c, writes[i], now_ms);
            if (sqlite3_get_autocommit(c.raw()) != 0) {
                // SQLite rolled the whole transaction back (disk full, I/O error, a
                // RAISE(ROLLBACK)): the items answered so far were lost with it.
                fail_all(out[i].status ? Status(Errc::internal, "transaction rolled back")
                                       : out[i].status);
                return;
            }
            // A failed item (not_found, conflict, or an SQL error) undoes only itself.
            if (auto st = item_end(c, static_cast<bool>(out[i].status)); !st) {
                fail_all(st);
                return;
            }
        }
        if (auto st = tx->commit(); !st) {
            fail_all(st);
        }
    });
    return out;
}

}  // namespace agenthost::identity_sqlite
