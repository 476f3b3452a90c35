#pragma once
// Versioned schema migrations for the PostgreSQL plugins.
//
// A component (e.g. "identity_postgres") owns an ordered list of SQL steps named
// NNNN_name.sql (version NNNN >= 1). Applied steps are recorded in the shared table
//   schema_version(component, version, name, applied_at)  PRIMARY KEY (component, version)
// Each pending step runs in its own transaction that first takes
// pg_advisory_xact_lock(<key of the component>) and re-checks schema_version, so any
// number of hosts may migrate at once: one applies each step, the others wait and
// then see it recorded. Blocking: call from the blocking pool / a CLI thread.
//
// Steps come either from a directory of .sql files or embedded in the plugin at build
// time (ah_postgres_embed_migrations() in this folder's CMakeLists.txt generates a .cpp
// defining a function that returns them).

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/connection>

#include <agenthost/status.hpp>

namespace agenthost::pg {

struct Migration {
    int version = 0;
    std::string name;  // from the file name, without version and ".sql"
    std::string sql;
};

struct AppliedMigration {
    int version = 0;
    std::string name;
};

// Reads every NNNN_name.sql in `dir`, sorted by version. Other files are ignored;
// duplicate versions, version 0, or an unreadable directory are errors
// (invalid_argument / not_found).
sdk::Result<std::vector<Migration>> load_migrations(const std::string& dir);

// Checks a list (embedded or loaded): versions >= 1, strictly increasing, names set.
sdk::Status check_migrations(std::span<const Migration> steps);

// Applies the steps not yet recorded for `component`; returns those applied by this
// call (empty when up to date). Errors: a recorded version this list does not know
// (a newer schema) or a recorded name that differs (an edited history) → conflict,
// naming the version; connection problems → unavailable. Never throws.
sdk::Result<std::vector<AppliedMigration>> apply_migrations(pqxx::connection& conn,
                                                            std::string_view component,
                                                            std::span<const Migration> steps);

// The steps recorded for `component`, ordered by version.
sdk::Result<std::vector<AppliedMigration>> applied_migrations(pqxx::connection& conn,
                                                              std::string_view component);

// load_migrations(dir) + apply_migrations(); returns how many steps were applied.
sdk::Result<int> migrate(pqxx::connection& conn, std::string_view component,
                         const std::string& migrations_dir);

}  // namespace agenthost::pg
