// `agenthost migrate -c FILE` with identity_postgres configured: applies the schema
// and prints each step, exits 0; run again it applies nothing; two migrate processes
// started together on a fresh database apply each step exactly once between them;
// a database it cannot reach exits 1 without printing the password.

#include <future>

#include <gtest/gtest.h>

#include "tests/e2e/harness.hpp"
#include "tests/support/services.hpp"

namespace agenthost::e2e {
namespace {

std::string bin() {
    return env_or("AGENTHOST_BIN", "build/bin/agenthost");
}

BackendOptions with_postgres(const std::string& url) {
    BackendOptions o;
    o.identity_plugin = "identity_postgres: { enabled: true, config: { url: \"" + url + "\" } }";
    return o;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + needle.size())) {
        ++n;
    }
    return n;
}

TEST(MigrateCli, AppliesPrintsAndIsIdempotent) {
    Workspace ws({"gw-01"});
    Backend backend(ws, with_postgres(testsvc::fresh_postgres_database()));
    std::string out;
    ASSERT_EQ(run(bin() + " migrate -c " + backend.config_path() + " 2>&1", &out), 0) << out;
    EXPECT_NE(out.find("identity_postgres: applied 0001_init"), std::string::npos) << out;
    EXPECT_NE(out.find("identity_postgres: schema at version 1"), std::string::npos) << out;

    std::string again;
    ASSERT_EQ(run(bin() + " migrate -c " + backend.config_path() + " 2>&1", &again), 0) << again;
    EXPECT_EQ(again.find("applied 0001"), std::string::npos) << again;
    EXPECT_NE(again.find("(0 applied now)"), std::string::npos) << again;
}

TEST(MigrateCli, TwoProcessesAtOnceApplyEachStepOnce) {
    Workspace ws({"gw-01"});
    Backend backend(ws, with_postgres(testsvc::fresh_postgres_database()));
    auto migrate = [&] {
        std::string out;
        int rc = run(bin() + " migrate -c " + backend.config_path() + " 2>&1", &out);
        return std::make_pair(rc, out);
    };
    auto first = std::async(std::launch::async, migrate);
    auto second = std::async(std::launch::async, migrate);
    auto [rc1, out1] = first.get();
    auto [rc2, out2] = second.get();
    EXPECT_EQ(rc1, 0) << out1;
    EXPECT_EQ(rc2, 0) << out2;
    EXPECT_EQ(occurrences(out1 + out2, "applied 0001_init"), 1u) << out1 << "\n---\n" << out2;
}

TEST(MigrateCli, UnreachableDatabaseFailsWithoutPassword) {
    Workspace ws({"gw-01"});
    BackendOptions o = with_postgres("postgresql://agenthost:topsecret@127.0.0.1:1/agenthost");
    Backend backend(ws, o);
    std::string out;
    EXPECT_EQ(run(bin() + " migrate -c " + backend.config_path() + " 2>&1", &out), 1) << out;
    EXPECT_NE(out.find("identity_postgres"), std::string::npos) << out;
    EXPECT_EQ(out.find("topsecret"), std::string::npos) << out;
}

TEST(MigrateCli, EmbeddedOnlyConfigSaysNotSupported) {
    Workspace ws({"gw-01"});
    Backend backend(ws);  // identity_sqlite, telemetry_sqlite: nothing to migrate separately
    std::string out;
    EXPECT_EQ(run(bin() + " migrate -c " + backend.config_path() + " 2>&1", &out), 1) << out;
    EXPECT_NE(out.find("not supported"), std::string::npos) << out;
}

}  // namespace
}  // namespace agenthost::e2e
