#include "plugins/_common_postgres/pg_migrate.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <pqxx/pqxx>

#include "plugins/_common_postgres/pg_pool.hpp"

namespace agenthost::pg {

using sdk::Errc;
using sdk::Status;

namespace {

// Serialises creating the shared table across components and hosts.
constexpr const char* kTableLock =
    "SELECT pg_advisory_xact_lock(hashtext('agenthost.schema_version'))";
constexpr const char* kComponentLock =
    "SELECT pg_advisory_xact_lock(hashtext('agenthost.migrate:' || $1))";

constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " component  text        NOT NULL,"
    " version    integer     NOT NULL,"
    " name       text        NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (component, version))";

// "0001_init.sql" → {1, "init"}; false for anything else.
bool parse_file_name(const std::string& file, int& version, std::string& name) {
    if (file.size() < 10 || file.substr(file.size() - 4) != ".sql" || file[4] != '_') {
        return false;
    }
    for (int i = 0; i < 4; ++i) {
        if (std::isdigit(static_cast<unsigned char>(file[static_cast<std::size_t>(i)])) == 0) {
            return false;
        }
    }
    version = std::stoi(file.substr(0, 4));
    name = file.substr(5, file.size() - 9);
    return !name.empty();
}

template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const std::exception& e) {
        return status_from_exception(e);
    }
}

Status ensure_table(pqxx::connection& conn) {
    pqxx::work tx(conn, "schema_version");
    // Look first: a role without CREATE on the schema can still run once migrated.
    if (tx.exec1("SELECT to_regclass('schema_version') IS NOT NULL")[0].as<bool>()) {
        return {};
    }
    tx.exec(kTableLock);
    tx.exec(kCreateTable);
    tx.commit();
    return {};
}

// One step in its own transaction: lock, then re-check, because another host may
// have applied it while we waited. False when it was already recorded.
bool apply_one(pqxx::connection& conn, const std::string& comp, const Migration& m) {
    pqxx::work tx(conn, "migrate");
    tx.exec_params(kComponentLock, comp);
    auto seen = tx.exec_params("SELECT 1 FROM schema_version WHERE component = $1 AND version = $2",
                               comp, m.version);
    if (!seen.empty()) {
        return false;  // tx aborts on scope exit: nothing was changed
    }
    tx.exec(m.sql);
    tx.exec_params("INSERT INTO schema_version (component, version, name) VALUES ($1, $2, $3)",
                   comp, m.version, m.name);
    tx.commit();
    return true;
}

}  // namespace

sdk::Result<std::vector<Migration>> load_migrations(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        return Status(Errc::not_found, "migrations directory " + dir + ": " + ec.message());
    }
    std::vector<Migration> out;
    for (const auto& entry : it) {
        Migration m;
        if (!entry.is_regular_file(ec) ||
            !parse_file_name(entry.path().filename().string(), m.version, m.name)) {
            continue;
        }
        std::ifstream in(entry.path(), std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        if (!in.good() && !in.eof()) {
            return Status(Errc::internal, "cannot read " + entry.path().string());
        }
        m.sql = text.str();
        out.push_back(std::move(m));
    }
    std::sort(out.begin(), out.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    if (auto st = check_migrations(out); !st) {
        return Status(st.code(), dir + ": " + st.message());
    }
    return out;
}

Status check_migrations(std::span<const Migration> steps) {
    int last = 0;
    for (const auto& m : steps) {
        if (m.version < 1 || m.name.empty()) {
            return {Errc::invalid_argument,
                    "migration " + std::to_string(m.version) + " needs a version >= 1 and a name"};
        }
        if (m.version <= last) {
            return {Errc::invalid_argument,
                    "migration version " + std::to_string(m.version) + " is not increasing"};
        }
        last = m.version;
    }
    return {};
}

sdk::Result<std::vector<AppliedMigration>> applied_migrations(pqxx::connection& conn,
                                                              std::string_view component) {
    using R = sdk::Result<std::vector<AppliedMigration>>;
    return guarded([&]() -> R {
        if (auto st = ensure_table(conn); !st) {
            return st;
        }
        pqxx::read_transaction tx(conn);
        auto rows = tx.exec_params(
            "SELECT version, name FROM schema_version WHERE component = $1 ORDER BY version",
            std::string(component));
        std::vector<AppliedMigration> out;
        for (const auto& row : rows) {
            out.push_back({row[0].as<int>(), row[1].as<std::string>()});
        }
        return out;
    });
}

sdk::Result<std::vector<AppliedMigration>> apply_migrations(pqxx::connection& conn,
                                                            std::string_view component,
                                                            std::span<const Migration> steps) {
    using R = sdk::Result<std::vector<AppliedMigration>>;
    if (auto st = check_migrations(steps); !st) {
        return st;
    }
    const std::string comp(component);
    return guarded([&]() -> R {
        auto recorded = applied_migrations(conn, comp);
        if (!recorded) {
            return recorded.status();
        }
        std::map<int, std::string> known;
        for (const auto& m : steps) {
            known.emplace(m.version, m.name);
        }
        for (const auto& r : *recorded) {
            auto it = known.find(r.version);
            if (it == known.end()) {
                return Status(Errc::conflict, comp + ": database schema version " +
                                                  std::to_string(r.version) + " (" + r.name +
                                                  ") is newer than this plugin knows");
            }
            if (it->second != r.name) {
                return Status(Errc::conflict, comp + ": migration " + std::to_string(r.version) +
                                                  " is recorded as '" + r.name +
                                                  "' but ships as '" + it->second + "'");
            }
        }
        std::vector<AppliedMigration> applied;
        for (const auto& m : steps) {
            const bool done = std::any_of(recorded->begin(), recorded->end(),
                                          [&](const auto& r) { return r.version == m.version; });
            if (done) {
                continue;
            }
            try {
                if (apply_one(conn, comp, m)) {
                    applied.push_back({m.version, m.name});
                }
            } catch (const std::exception& e) {
                Status st = status_from_exception(e);
                return Status(st.code(), comp + ": migration " + std::to_string(m.version) + "_" +
                                             m.name + ": " + st.message());
            }
        }
        return applied;
    });
}

sdk::Result<int> migrate(pqxx::connection& conn, std::string_view component,
                         const std::string& migrations_dir) {
    auto steps = load_migrations(migrations_dir);
    if (!steps) {
        return steps.status();
    }
    auto applied = apply_migrations(conn, component, *steps);
    if (!applied) {
        return applied.status();
    }
    return static_cast<int>(applied->size());
}

}  // namespace agenthost::pg
