#include "plugins/identity_postgres/identity_pg.hpp"

#include <optional>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <agenthost/json.hpp>

namespace agenthost::identity_postgres {

using sdk::Errc;
using sdk::Status;
namespace json = sdk::json;

namespace {

// A transaction that lost a serialization/deadlock race is simply run again.
constexpr int kAttempts = 3;

// Runs fn(connection) → Result<T> on a pooled connection, retrying 40001/40P01.
template <typename T, typename Fn>
sdk::Result<T> run(pg::Pool& pool, Fn&& fn) {
    Status last;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        std::optional<sdk::Result<T>> out;
        last = pool.with_connection([&](pqxx::connection& c) -> Status {
            out.emplace(fn(c));
            return out->status();
        });
        if (last.ok()) {
            return std::move(*out);
        }
        if (last.code() != Errc::conflict ||
            !pg::is_retryable_sqlstate(last.message().substr(0, 5))) {
            break;
        }
    }
    return last;
}

Status run_status(pg::Pool& pool, const std::function<Status(pqxx::connection&)>& fn) {
    auto r = run<bool>(pool, [&](pqxx::connection& c) -> sdk::Result<bool> {
        Status st = fn(c);
        if (!st) {
            return st;
        }
        return true;
    });
    return r.status();
}

std::string capabilities_json(const std::vector<std::string>& caps) {
    json::array arr;
    for (const auto& c : caps) {
        arr.emplace_back(c);
    }
    return json::serialize(arr);
}

std::optional<std::vector<std::string>> parse_capabilities(const pqxx::field& f) {
    if (f.is_null()) {
        return std::nullopt;
    }
    boost::system::error_code ec;
    json::value v = json::parse(f.as<std::string>(), ec);
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
    "SELECT a.agent_id, a.cert_fingerprint,"
    " (extract(epoch FROM a.first_seen) * 1000)::bigint,"
    " (extract(epoch FROM a.last_seen) * 1000)::bigint, a.revoked,"
    " a.agent_version, a.hostname, a.platform, a.capabilities::text, s.session_id, s.host_id"
    " FROM agents a LEFT JOIN sessions s"
    " ON s.agent_id = a.agent_id AND s.lease_expires > now()";

sdk::AgentRecord read_agent(const pqxx::row& r) {
    sdk::AgentRecord a;
    a.agent_id = r[0].as<std::string>();
    a.cert_fingerprint = r[1].as<std::string>();
    a.first_seen_ms = r[2].as<std::int64_t>();
    a.last_seen_ms = r[3].as<std::int64_t>();
    a.revoked = r[4].as<bool>();
    a.agent_version = r[5].as<std::string>();
    a.hostname = r[6].as<std::string>();
    a.platform = r[7].as<std::string>();
    a.capabilities = parse_capabilities(r[8]);
    if (!r[9].is_null()) {
        a.online = true;
        a.session_id = r[9].as<std::string>();
        a.host_id = r[10].as<std::string>();
    }
    return a;
}

// 1 revoked, 0 not, -1 unknown agent.
int revoked_state(pqxx::work& tx, const std::string& agent_id) {
    auto rows = tx.exec_params("SELECT revoked FROM agents WHERE agent_id = $1", agent_id);
    if (rows.empty()) {
        return -1;
    }
    return rows[0][0].as<bool>() ? 1 : 0;
}

// Takes the lease: inserts the row, or takes over one whose lease expired, or extends
// our own (same host and session: a retried hello). No row back: a live lease exists.
constexpr const char* kTakeLease =
    "INSERT INTO sessions AS s (agent_id, session_id, host_id, cert_fingerprint, opened_at,"
    " lease_expires)"
    " VALUES ($1, $2, $3, $4, now(), now() + $5::bigint * interval '1 millisecond')"
    " ON CONFLICT (agent_id) DO UPDATE SET"
    "  opened_at = CASE WHEN s.session_id = excluded.session_id AND s.host_id = excluded.host_id"
    "              THEN s.opened_at ELSE excluded.opened_at END,"
    "  session_id = excluded.session_id, host_id = excluded.host_id,"
    "  cert_fingerprint = excluded.cert_fingerprint, lease_expires = excluded.lease_expires"
    " WHERE s.lease_expires <= now()"
    "    OR (s.session_id = excluded.session_id AND s.host_id = excluded.host_id)"
    " RETURNING s.session_id";

}  // namespace

sdk::Result<std::vector<pg::AppliedMigration>> IdentityPg::migrate() {
    using R = std::vector<pg::AppliedMigration>;
    return run<R>(*pool_, [](pqxx::connection& c) -> sdk::Result<R> {
        return pg::apply_migrations(c, kComponent, embedded_migrations());
    });
}

sdk::Result<int> IdentityPg::schema_version() {
    return run<int>(*pool_, [](pqxx::connection& c) -> sdk::Result<int> {
        auto applied = pg::applied_migrations(c, kComponent);
        if (!applied) {
            return applied.status();
        }
        return applied->empty() ? 0 : applied->back().version;
    });
}

sdk::Result<sdk::OpenSessionResult> IdentityPg::open_session(const sdk::AgentHello& hello,
                                                             std::chrono::milliseconds lease) {
    using R = sdk::OpenSessionResult;
    if (hello.agent_id.empty() || hello.session_id.empty() || hello.host_id.empty()) {
        return Status(Errc::invalid_argument, "hello needs agent_id, session_id and host_id");
    }
    if (lease.count() <= 0) {
        return Status(Errc::invalid_argument, "lease must be positive");
    }
    const std::string caps = capabilities_json(hello.capabilities);
    return run<R>(*pool_, [&](pqxx::connection& c) -> sdk::Result<R> {
        pqxx::work tx(c, "open_session");
        if (revoked_state(tx, hello.agent_id) == 1) {
            return R{sdk::OpenOutcome::revoked, {}, {}, {}};
        }
        // A new agent is registered first (the lease row references it). If this hello
        // then loses the lease race, the row it saw was inserted by the winner, so a
        // refused hello never writes the agent record.
        tx.exec_params(
            "INSERT INTO agents (agent_id, cert_fingerprint, first_seen, last_seen,"
            " agent_version, hostname, platform, capabilities)"
            " VALUES ($1, $2, now(), now(), $3, $4, $5, $6::jsonb)"
            " ON CONFLICT (agent_id) DO NOTHING",
            hello.agent_id, hello.cert_fingerprint, hello.agent_version, hello.hostname,
            hello.platform, caps);
        auto taken =
            tx.exec_params(kTakeLease, hello.agent_id, hello.session_id, hello.host_id,
                           hello.cert_fingerprint, static_cast<std::int64_t>(lease.count()));
        if (taken.empty()) {
            auto held = tx.exec_params(
                "SELECT session_id, host_id, cert_fingerprint FROM sessions WHERE agent_id = $1",
                hello.agent_id);
            if (held.empty()) {
                // Released between the two statements: report a retryable race.
                return Status(Errc::unavailable, "lease changed hands; retry");
            }
            return R{sdk::OpenOutcome::duplicate, held[0][0].as<std::string>(),
                     held[0][1].as<std::string>(), held[0][2].as<std::string>()};
        }
        tx.exec_params(
            "UPDATE agents SET cert_fingerprint = $2, last_seen = now(), agent_version = $3,"
            " hostname = $4, platform = $5, capabilities = $6::jsonb WHERE agent_id = $1",
            hello.agent_id, hello.cert_fingerprint, hello.agent_version, hello.hostname,
            hello.platform, caps);
        tx.commit();
        return R{};
    });
}

Status IdentityPg::renew_session(const std::string& agent_id, const std::string& session_id,
                                 std::chrono::milliseconds lease) {
    return run_status(*pool_, [&](pqxx::connection& c) -> Status {
        pqxx::work tx(c, "renew_session");
        if (revoked_state(tx, agent_id) == 1) {
            return {Errc::conflict, "agent revoked"};
        }
        auto renewed = tx.exec_params(
            "UPDATE sessions SET lease_expires = now() + $3::bigint * interval '1 millisecond'"
            " WHERE agent_id = $1 AND session_id = $2",
            agent_id, session_id, static_cast<std::int64_t>(lease.count()));
        if (renewed.affected_rows() == 0) {
            return {Errc::not_found, "session no longer holds the lease"};
        }
        tx.exec_params("UPDATE agents SET last_seen = now() WHERE agent_id = $1", agent_id);
        tx.commit();
        return {};
    });
}

namespace {

// One statement for a batch of renewals. The revoked check and the UPDATE see the
// same snapshot (one statement), so each row's answer is what renew_session's two
// steps would have given. A pair asked for twice is renewed once, with its last lease.
constexpr const char* kRenewBatch =
    "WITH req AS ("
    "  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY"
    "  AS r(agent_id, session_id, lease_ms, ord)),"
    " renewed AS ("
    "  UPDATE sessions s SET lease_expires = now() + r.lease_ms * interval '1 millisecond'"
    "  FROM (SELECT DISTINCT ON (agent_id, session_id) * FROM req"
    "        ORDER BY agent_id, session_id, ord DESC) r"
    "  WHERE s.agent_id = r.agent_id AND s.session_id = r.session_id"
    "  AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.agent_id = r.agent_id AND a.revoked)"
    "  RETURNING s.agent_id, s.session_id),"
    " seen AS ("
    "  UPDATE agents a SET last_seen = now()"
    "  FROM (SELECT DISTINCT agent_id FROM renewed) n WHERE a.agent_id = n.agent_id)"
    " SELECT r.ord,"
    "  COALESCE((SELECT a.revoked FROM agents a WHERE a.agent_id = r.agent_id), false),"
    "  EXISTS (SELECT 1 FROM renewed n"
    "          WHERE n.agent_id = r.agent_id AND n.session_id = r.session_id)"
    " FROM req r ORDER BY r.ord";

// A PostgreSQL array literal element: always quoted, `"` and `\` escaped.
void append_element(std::string& out, const std::string& text) {
    out.push_back('"');
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.push_back('"');
}

}  // namespace

std::vector<Status> IdentityPg::renew_batch(std::span<const RenewRequest> renewals) {
    std::vector<Status> out(renewals.size());
    if (renewals.empty()) {
        return out;
    }
    std::string agents = "{";
    std::string sessions = "{";
    std::string leases = "{";
    for (std::size_t i = 0; i < renewals.size(); ++i) {
        if (i > 0) {
            agents.push_back(',');
            sessions.push_back(',');
            leases.push_back(',');
        }
        append_element(agents, renewals[i].agent_id);
        append_element(sessions, renewals[i].session_id);
        leases += std::to_string(renewals[i].lease.count());
    }
    agents.push_back('}');
    sessions.push_back('}');
    leases.push_back('}');
    auto st = run_status(*pool_, [&](pqxx::connection& c) -> Status {
        pqxx::nontransaction tx(c, "renew_batch");
        auto rows = tx.exec_params(kRenewBatch, agents, sessions, leases);
        if (rows.size() != renewals.size()) {
            return {Errc::internal, "renew batch: unexpected row count"};
        }
        for (const auto& row : rows) {
            const auto i = row[0].as<std::size_t>() - 1;
            if (i >= out.size()) {
                return {Errc::internal, "renew batch: unexpected ordinal"};
            }
            if (row[1].as<bool>()) {
                out[i] = Status(Errc::conflict, "agent revoked");
            } else if (!row[2].as<bool>()) {
                out[i] = Status(Errc::not_found, "session no longer holds the lease");
            } else {
                out[i] = Status{};
            }
        }
        return {};
    });
    if (!st) {
        out.assign(renewals.size(), st);
    }
    return out;
}

Status IdentityPg::close_session(const std::string& agent_id, const std::string& session_id) {
    return run_status(*pool_, [&](pqxx::connection& c) -> Status {
        pqxx::work tx(c, "close_session");
        auto gone = tx.exec_params("DELETE FROM sessions WHERE agent_id = $1 AND session_id = $2",
                                   agent_id, session_id);
        if (gone.affected_rows() > 0) {
            tx.exec_params("UPDATE agents SET last_seen = now() WHERE agent_id = $1", agent_id);
        }
        tx.commit();
        return {};
    });
}

Status IdentityPg::revoke(const std::string& agent_id) {
    return run_status(*pool_, [&](pqxx::connection& c) -> Status {
        // The session row stays: the holder's next renew answers conflict, which is
        // how its host learns to close it with 4403.
        pqxx::work tx(c, "revoke");
        auto upd = tx.exec_params("UPDATE agents SET revoked = true WHERE agent_id = $1", agent_id);
        if (upd.affected_rows() == 0) {
            return {Errc::not_found, "unknown agent"};
        }
        tx.commit();
        return {};
    });
}

sdk::Result<std::optional<std::string>> IdentityPg::release(const std::string& agent_id) {
    using R = std::optional<std::string>;
    return run<R>(*pool_, [&](pqxx::connection& c) -> sdk::Result<R> {
        pqxx::work tx(c, "release");
        if (revoked_state(tx, agent_id) == -1) {
            return Status(Errc::not_found, "unknown agent");
        }
        auto del = tx.exec_params("DELETE FROM sessions WHERE agent_id = $1 RETURNING session_id",
                                  agent_id);
        tx.commit();
        if (del.empty()) {
            return R{};
        }
        return R{del[0][0].as<std::string>()};
    });
}

sdk::Result<sdk::AgentRecord> IdentityPg::get_agent(const std::string& agent_id) {
    using R = sdk::AgentRecord;
    return run<R>(*pool_, [&](pqxx::connection& c) -> sdk::Result<R> {
        // One SELECT sees one snapshot by itself: no BEGIN/COMMIT round trips.
        pqxx::nontransaction tx(c, "get_agent");
        auto rows = tx.exec_params(std::string(kAgentSelect) + " WHERE a.agent_id = $1", agent_id);
        if (rows.empty()) {
            return Status(Errc::not_found, "unknown agent");
        }
        return read_agent(rows[0]);
    });
}

sdk::Result<std::vector<sdk::AgentRecord>> IdentityPg::list_agents() {
    using R = std::vector<sdk::AgentRecord>;
    return run<R>(*pool_, [&](pqxx::connection& c) -> sdk::Result<R> {
        pqxx::read_transaction tx(c, "list_agents");
        auto rows = tx.exec(std::string(kAgentSelect) + " ORDER BY a.agent_id COLLATE \"C\"");
        R out;
        out.reserve(rows.size());
        for (const auto& row : rows) {
            out.push_back(read_agent(row));
        }
        return out;
    });
}

}  // namespace agenthost::identity_postgres
