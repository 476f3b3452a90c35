#pragma once
// A fresh database on the shared PostgreSQL test server, migrated with the plugin's
// embedded migrations, and a direct connection to it.

#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "plugins/_common_postgres/pg_migrate.hpp"
#include "plugins/telemetry_postgres/telemetry_plugin.hpp"
#include "tests/support/services.hpp"

namespace agenthost::telemetry_postgres::testing {

inline std::string migrated_database() {
    std::string url = testsvc::fresh_postgres_database();
    pqxx::connection c(url);
    auto applied = pg::apply_migrations(c, kComponent, migrations());
    EXPECT_TRUE(applied) << applied.status().message();
    return url;
}

inline std::int64_t count_rows(const std::string& url, const std::string& table) {
    pqxx::connection c(url);
    pqxx::nontransaction t(c);
    return t.exec("SELECT count(*) FROM " + table)[0][0].as<std::int64_t>();
}

}  // namespace agenthost::telemetry_postgres::testing
