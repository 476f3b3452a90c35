// identity_postgres configuration without a server: example.yaml passes the kernel's
// validator and states every default, url/url_file exclusivity, url_file reading
// (fail closed), and the URL never shown by the validator (secret field).

#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/config/schema_validator.hpp"
#include "plugins/identity_postgres/identity_config.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::identity_postgres {
namespace {

using sdk::Errc;

sdk::json::object validated(const std::string& yaml, sdk::ConfigErrors& errors) {
    auto cfg = config::validate_section(YAML::Load(yaml), config_schema(),
                                        "plugins.identity_postgres.config", errors);
    if (errors.empty()) {
        validate_config(cfg, "plugins.identity_postgres.config", errors);
    }
    return cfg;
}

TEST(IdentityPostgresConfig, ExampleStatesEveryDefault) {
    YAML::Node example = YAML::LoadFile(std::string(AGENTHOST_TEST_SOURCE_DIR) +
                                        "/plugins/identity_postgres/example.yaml");
    YAML::Node section = example["identity_postgres"]["config"];
    ASSERT_TRUE(section.IsMap());
    // The example's url_file points at a deployment path: check the rest against the
    // defaults, with a url instead.
    section.remove("url_file");
    section["url"] = "postgresql://agenthost@127.0.0.1/agenthost";
    sdk::ConfigErrors errors;
    auto cfg = config::validate_section(section, config_schema(), "x", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    sdk::ConfigErrors none;
    auto defaults =
        config::validate_section(YAML::Load("{url: postgresql://agenthost@127.0.0.1/agenthost}"),
                                 config_schema(), "x", none);
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(cfg, defaults);
    EXPECT_EQ(cfg.size() + 1, config_schema().size());  // every key but url_file listed

    auto typed = parse_config(cfg);
    ASSERT_TRUE(typed) << typed.status().message();
    EXPECT_EQ(typed->pool.max_connections, 4u);
    EXPECT_EQ(typed->pool.acquire_timeout.count(), 2000);
    EXPECT_EQ(typed->pool.statement_timeout.count(), 5000);
    EXPECT_EQ(typed->start_timeout.count(), 30000);
}

TEST(IdentityPostgresConfig, ExactlyOneOfUrlAndUrlFile) {
    testing::TempDir dir("pg-config");
    const std::string file = dir.file("url");
    std::ofstream(file) << "postgresql://x@127.0.0.1/db\n";
    ::chmod(file.c_str(), 0600);

    sdk::ConfigErrors neither;
    validated("{}", neither);
    ASSERT_EQ(neither.size(), 1u);
    EXPECT_NE(neither[0].message.find("required"), std::string::npos);

    sdk::ConfigErrors both;
    validated("{url: postgresql://a@b/c, url_file: " + file + "}", both);
    ASSERT_EQ(both.size(), 1u);
    EXPECT_NE(both[0].message.find("only one"), std::string::npos);
}

TEST(IdentityPostgresConfig, UrlFileReadTrimmedAndMustBePrivate) {
    testing::TempDir dir("pg-config");
    const std::string file = dir.file("url");
    std::ofstream(file) << "\n  postgresql://agenthost:s3cret@127.0.0.1:5432/agenthost  \n";
    ::chmod(file.c_str(), 0644);

    sdk::ConfigErrors open_errors;
    validated("{url_file: " + file + "}", open_errors);
    ASSERT_EQ(open_errors.size(), 1u);  // group/world-readable secret refused
    EXPECT_EQ(open_errors[0].path, "plugins.identity_postgres.config.url_file");

    ::chmod(file.c_str(), 0600);
    sdk::ConfigErrors errors;
    auto cfg = validated("{url_file: " + file + "}", errors);
    ASSERT_TRUE(errors.empty()) << errors[0].message;
    auto typed = parse_config(cfg);
    ASSERT_TRUE(typed) << typed.status().message();
    EXPECT_EQ(typed->pool.url, "postgresql://agenthost:s3cret@127.0.0.1:5432/agenthost");
    EXPECT_EQ(pg::redact_url(typed->pool.url),
              "postgresql://agenthost:***@127.0.0.1:5432/agenthost");

    std::ofstream(file, std::ios::trunc) << "\n\n";
    auto empty = parse_config(cfg);
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.status().code(), Errc::invalid_argument);
}

TEST(IdentityPostgresConfig, SecretUrlNeverEchoedAndBadValuesNamed) {
    sdk::ConfigErrors errors;
    validated("{url: 42secret, pool_size: 0, pool_sise: 3}", errors);
    ASSERT_EQ(errors.size(), 2u);
    for (const auto& e : errors) {
        EXPECT_EQ(e.message.find("42secret"), std::string::npos) << e.message;
    }
}

TEST(IdentityPostgresConfig, RedactUrl) {
    EXPECT_EQ(pg::redact_url("postgresql://u:pw@h:5432/db?sslmode=require"),
              "postgresql://u:***@h:5432/db?sslmode=require");
    EXPECT_EQ(pg::redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
    EXPECT_EQ(pg::redact_url("postgresql://h/db?user=u&password=pw&x=1"),
              "postgresql://h/db?user=u&password=***&x=1");
    EXPECT_EQ(pg::redact_url("host=h password=pw dbname=d"), "host=h password=*** dbname=d");
    EXPECT_EQ(pg::redact_url("postgresql://u:p%40ss@h/db"), "postgresql://u:***@h/db");
}

}  // namespace
}  // namespace agenthost::identity_postgres
