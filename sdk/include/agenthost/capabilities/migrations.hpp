#pragma once
// Capability "schema_migrations" (optional, not exclusive): a storage plugin whose
// schema lives in an external database (PostgreSQL) provides this so that
// `agenthost migrate -c FILE` can apply and report its migrations without serving
// anything. Such plugins also apply pending migrations in start(), under a
// database lock, so hosts starting together never race; migrate() is idempotent.
// Threading: migrate() blocks (network round trips); call it from a thread that may
// block (the CLI's main thread, the blocking pool), never from the event loop.

#include <string>
#include <string_view>
#include <vector>

#include <agenthost/status.hpp>

namespace agenthost::sdk {

struct SchemaStep {
    int version = 0;
    std::string name;
};

struct MigrationReport {
    std::string component;            // the schema owner, usually the plugin name
    std::vector<SchemaStep> applied;  // applied by this plugin instance (start-up or migrate())
    int current_version = 0;          // highest version recorded in the database now
};

class SchemaMigrations {
public:
    static constexpr std::string_view capability = "schema_migrations";
    virtual ~SchemaMigrations() = default;

    // Applies every pending step (idempotent; safe against concurrent migrators) and
    // reports what this instance applied since it was created.
    virtual Result<MigrationReport> migrate() = 0;
};

}  // namespace agenthost::sdk
