// Unit tests of the schema validator (kernel/config/schema_validator.hpp): types,
// bounds, enums, patterns, unknown keys, paths, defaults, file checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "kernel/config/schema_validator.hpp"

namespace agenthost::config {
namespace {

namespace json = sdk::json;
using sdk::ConfigErrors;

std::string dump(const ConfigErrors& errors) {
    std::string out;
    for (const auto& e : errors) {
        out += e.path + ": " + e.message + "\n";
    }
    return out;
}

const sdk::ConfigError* find_error(const ConfigErrors& errors, const std::string& path) {
    for (const auto& e : errors) {
        if (e.path == path) {
            return &e;
        }
    }
    return nullptr;
}

json::object run(const std::string& yaml, const sdk::Schema& schema, ConfigErrors& errors,
                 const std::string& path = "sec") {
    return validate_section(YAML::Load(yaml), schema, path, errors);
}

sdk::Schema scalar_schema() {
    return {
        sdk::string_field("name").fallback(json::value("n")),
        sdk::integer_field("count").range(1, 10).fallback(json::value(3)),
        sdk::number_field("ratio").range(0, 1),
        sdk::bool_field("on").fallback(json::value(false)),
        sdk::string_field("mode").choices({"fast", "safe"}),
        sdk::string_field("id").matches("^[a-z]+$"),
        sdk::string_field("word").range(2, 4),
    };
}

TEST(SchemaValidator, ConvertsTypedValues) {
    ConfigErrors errors;
    auto out = run("name: x\ncount: 7\nratio: 0.5\non: true\nmode: safe\nid: abc\nword: abc\n",
                   scalar_schema(), errors);
    ASSERT_TRUE(errors.empty()) << dump(errors);
    EXPECT_EQ(out.at("name").as_string(), "x");
    EXPECT_EQ(out.at("count").as_int64(), 7);
    EXPECT_DOUBLE_EQ(out.at("ratio").as_double(), 0.5);
    EXPECT_TRUE(out.at("on").as_bool());
    EXPECT_EQ(out.at("mode").as_string(), "safe");
}

TEST(SchemaValidator, FillsDefaultsAndOmitsOptionalWithoutDefault) {
    ConfigErrors errors;
    auto out = run("{}", scalar_schema(), errors);
    ASSERT_TRUE(errors.empty()) << dump(errors);
    EXPECT_EQ(out.at("name").as_string(), "n");
    EXPECT_EQ(out.at("count").as_int64(), 3);
    EXPECT_FALSE(out.at("on").as_bool());
    EXPECT_FALSE(out.contains("ratio"));
    EXPECT_FALSE(out.contains("mode"));
}

TEST(SchemaValidator, NullSectionIsEmpty) {
    ConfigErrors errors;
    auto out = validate_section(YAML::Node(), scalar_schema(), "sec", errors);
    EXPECT_TRUE(errors.empty()) << dump(errors);
    EXPECT_EQ(out.at("count").as_int64(), 3);
}

TEST(SchemaValidator, IntegerMustParseFully) {
    for (const char* bad : {"12abc", "1.5", "abc", "\"7\"", "[1]", "{a: 1}", "~", "0x10"}) {
        ConfigErrors errors;
        run(std::string("count: ") + bad + "\n", scalar_schema(), errors);
        ASSERT_EQ(errors.size(), 1u) << bad << "\n" << dump(errors);
        EXPECT_EQ(errors[0].path, "sec.count");
        EXPECT_NE(errors[0].message.find("expected integer"), std::string::npos)
            << errors[0].message;
    }
}

TEST(SchemaValidator, NumberMustBeFinite) {
    for (const char* bad : {".inf", "nan", "1e999", "x", "\"0.5\""}) {
        ConfigErrors errors;
        run(std::string("ratio: ") + bad + "\n", scalar_schema(), errors);
        ASSERT_EQ(errors.size(), 1u) << bad << "\n" << dump(errors);
        EXPECT_EQ(errors[0].path, "sec.ratio");
        EXPECT_NE(errors[0].message.find("expected number"), std::string::npos);
    }
    ConfigErrors errors;
    auto out = run("ratio: 1\n", scalar_schema(), errors);
    EXPECT_TRUE(errors.empty()) << dump(errors);
    EXPECT_DOUBLE_EQ(out.at("ratio").as_double(), 1.0);
}

TEST(SchemaValidator, BooleanIsTrueOrFalseOnly) {
    for (const char* bad : {"yes", "on", "1", "True", "\"true\""}) {
        ConfigErrors errors;
        run(std::string("on: ") + bad + "\n", scalar_schema(), errors);
        ASSERT_EQ(errors.size(), 1u) << bad;
        EXPECT_EQ(errors[0].path, "sec.on");
        EXPECT_NE(errors[0].message.find("expected boolean"), std::string::npos);
    }
}

TEST(SchemaValidator, StringRejectsStructures) {
    ConfigErrors errors;
    run("name: [a, b]\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "sec.name");
    EXPECT_NE(errors[0].message.find("expected string, got a list"), std::string::npos);
}

TEST(SchemaValidator, NumericBounds) {
    ConfigErrors errors;
    run("count: 0\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].message, "value 0 is below the minimum 1");
    errors.clear();
    run("count: 11\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].message, "value 11 is above the maximum 10");
    errors.clear();
    run("count: 10\nratio: 0\n", scalar_schema(), errors);
    EXPECT_TRUE(errors.empty()) << dump(errors);
    errors.clear();
    run("ratio: 1.5\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "sec.ratio");
}

TEST(SchemaValidator, StringLengthBounds) {
    ConfigErrors errors;
    run("word: a\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("too short"), std::string::npos);
    errors.clear();
    run("word: abcde\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("too long"), std::string::npos);
}

TEST(SchemaValidator, EnumListsChoices) {
    ConfigErrors errors;
    run("mode: turbo\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "sec.mode");
    EXPECT_EQ(errors[0].message, "invalid value 'turbo' (expected one of: fast, safe)");
}

TEST(SchemaValidator, PatternIsFullMatch) {
    ConfigErrors errors;
    run("id: abc1\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "sec.id");
    EXPECT_NE(errors[0].message.find("does not match"), std::string::npos);
}

TEST(SchemaValidator, RequiredKeyMissing) {
    sdk::Schema schema{sdk::string_field("must").mandatory()};
    ConfigErrors errors;
    run("{}", schema, errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "sec.must");
    EXPECT_EQ(errors[0].message, "required key is missing");
}

TEST(SchemaValidator, UnknownKeyAtDepthListsValidKeys) {
    sdk::Schema schema{sdk::object_field(
        "outer", {sdk::object_field("inner", {sdk::integer_field("b"), sdk::integer_field("a"),
                                              sdk::integer_field("c")})})};
    ConfigErrors errors;
    run("outer:\n  inner:\n    a: 1\n    d: 2\n", schema, errors, "plugins.x.config");
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].path, "plugins.x.config.outer.inner.d");
    EXPECT_EQ(errors[0].message, "unknown key 'd' (valid keys: a, b, c)");
}

TEST(SchemaValidator, EmptySchemaRefusesEveryKey) {
    ConfigErrors errors;
    run("typo: 1\n", {}, errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "sec.typo");
    EXPECT_NE(errors[0].message.find("unknown key 'typo'"), std::string::npos);
}

TEST(SchemaValidator, DuplicateKeyRefused) {
    ConfigErrors errors;
    run("count: 1\ncount: 2\n", scalar_schema(), errors);
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].path, "sec.count");
}

TEST(SchemaValidator, ListAndMapItemPaths) {
    sdk::Schema schema{
        sdk::list_field("keys", sdk::object_field("k", {sdk::string_field("kid").mandatory(),
                                                        sdk::integer_field("n")})),
        sdk::map_field("limits", sdk::integer_field("v").range(0, 5)),
        sdk::list_field("tags", sdk::string_field("t")).range(1, 2),
    };
    ConfigErrors errors;
    auto out = run("keys:\n  - {kid: a}\n  - {n: x}\nlimits: {one: 1, two: 9}\ntags: [a, b, c]\n",
                   schema, errors, "");
    EXPECT_NE(find_error(errors, "keys[1].kid"), nullptr) << dump(errors);
    EXPECT_NE(find_error(errors, "keys[1].n"), nullptr) << dump(errors);
    EXPECT_NE(find_error(errors, "limits.two"), nullptr) << dump(errors);
    ASSERT_NE(find_error(errors, "tags"), nullptr) << dump(errors);
    EXPECT_NE(find_error(errors, "tags")->message.find("too long: 3 items"), std::string::npos);
    EXPECT_EQ(errors.size(), 4u) << dump(errors);

    errors.clear();
    out = run("keys: [{kid: a, n: 2}]\nlimits: {one: 1}\ntags: [x]\n", schema, errors, "");
    ASSERT_TRUE(errors.empty()) << dump(errors);
    EXPECT_EQ(out.at("keys").as_array().at(0).as_object().at("n").as_int64(), 2);
    EXPECT_EQ(out.at("limits").as_object().at("one").as_int64(), 1);
    EXPECT_EQ(out.at("tags").as_array().size(), 1u);
}

TEST(SchemaValidator, NestedObjectDefaultsAreFilled) {
    sdk::Schema schema{
        sdk::object_field("retry", {sdk::integer_field("max").fallback(json::value(5)),
                                    sdk::integer_field("base_ms").fallback(json::value(100))})};
    ConfigErrors errors;
    auto out = run("{}", schema, errors);
    ASSERT_TRUE(errors.empty()) << dump(errors);
    EXPECT_EQ(out.at("retry").as_object().at("max").as_int64(), 5);
    out = run("retry: {max: 2}\n", schema, errors);
    ASSERT_TRUE(errors.empty()) << dump(errors);
    EXPECT_EQ(out.at("retry").as_object().at("max").as_int64(), 2);
    EXPECT_EQ(out.at("retry").as_object().at("base_ms").as_int64(), 100);
}

TEST(SchemaValidator, SecretsAreNeverEchoed) {
    sdk::Schema schema{
        sdk::string_field("password").is_secret().range(12, 64).matches("^[A-Za-z0-9]+$"),
        sdk::string_field("token").is_secret().choices({"aaaa"}),
        sdk::integer_field("pin").is_secret(),
    };
    ConfigErrors errors;
    run("password: hunter2!\ntoken: s3cr3tvalue\npin: s3cr3tpin\n", schema, errors);
    ASSERT_EQ(errors.size(), 4u) << dump(errors);
    for (const auto& e : errors) {
        EXPECT_EQ(e.message.find("hunter2"), std::string::npos) << e.message;
        EXPECT_EQ(e.message.find("s3cr3t"), std::string::npos) << e.message;
    }
}

TEST(SchemaValidator, AllErrorsReportedTogether) {
    sdk::Schema schema = scalar_schema();
    schema.push_back(sdk::string_field("req").mandatory());
    ConfigErrors errors;
    run("count: 99\non: yes\nmode: x\nid: A\nbogus: 1\n", schema, errors);
    for (const char* p : {"sec.count", "sec.on", "sec.mode", "sec.id", "sec.bogus", "sec.req"}) {
        EXPECT_NE(find_error(errors, p), nullptr) << p << "\n" << dump(errors);
    }
    EXPECT_EQ(errors.size(), 6u) << dump(errors);
}

TEST(SchemaValidator, PassthroughKeysAreAcceptedAndListed) {
    ConfigErrors errors;
    ValidateOptions opts;
    opts.passthrough_keys = {"config"};
    auto out = validate_section(YAML::Load("config: {anything: [1]}\nnope: 1\n"),
                                {sdk::bool_field("enabled")}, "p", errors, opts);
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].message, "unknown key 'nope' (valid keys: config, enabled)");
    EXPECT_FALSE(out.contains("config"));
}

class FileChecks : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ah-validator-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string write(const std::string& name, mode_t mode) {
        const std::string p = dir_ + "/" + name;
        std::ofstream(p) << "content\n";
        ::chmod(p.c_str(), mode);
        return p;
    }

    ConfigErrors check(const std::string& yaml, const sdk::Schema& schema) {
        ConfigErrors errors;
        ValidateOptions opts;
        opts.base_dir = dir_;
        last_ = validate_section(YAML::Load(yaml), schema, "tls", errors, opts);
        return errors;
    }

    std::string dir_;
    json::object last_;
};

TEST_F(FileChecks, PrivateKeyWithGroupOrWorldBitsRefused) {
    write("key.pem", 0644);
    sdk::Schema schema{sdk::string_field("key").check_file(sdk::FileCheck::private_file)};
    auto errors = check("key: key.pem\n", schema);
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].path, "tls.key");
    EXPECT_EQ(errors[0].message, "private key file is group/world-readable (mode 0644); chmod 600");
    write("key2.pem", 0640);
    errors = check("key: key2.pem\n", schema);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("0640"), std::string::npos);
}

TEST_F(FileChecks, PrivateKeyMode0600AcceptedAndPathResolved) {
    write("key.pem", 0600);
    sdk::Schema schema{sdk::string_field("key").check_file(sdk::FileCheck::private_file)};
    auto errors = check("key: key.pem\n", schema);
    EXPECT_TRUE(errors.empty()) << dump(errors);
    EXPECT_EQ(last_.at("key").as_string(), dir_ + "/key.pem");
}

TEST_F(FileChecks, MissingFileAndWrongKind) {
    sdk::Schema schema{sdk::string_field("cert").check_file(sdk::FileCheck::readable_file),
                       sdk::string_field("dir").check_file(sdk::FileCheck::directory),
                       sdk::string_field("notdir").check_file(sdk::FileCheck::directory),
                       sdk::string_field("isdir").check_file(sdk::FileCheck::readable_file)};
    write("plain", 0644);
    auto errors = check("cert: nope.pem\ndir: missing\nnotdir: plain\nisdir: .\n", schema);
    ASSERT_EQ(errors.size(), 4u) << dump(errors);
    EXPECT_NE(find_error(errors, "tls.cert")->message.find("file not found"), std::string::npos);
    EXPECT_NE(find_error(errors, "tls.dir")->message.find("not found"), std::string::npos);
    EXPECT_NE(find_error(errors, "tls.notdir")->message.find("not a directory"), std::string::npos);
    EXPECT_NE(find_error(errors, "tls.isdir")->message.find("not a regular file"),
              std::string::npos);
}

TEST_F(FileChecks, WritableDirectoryMayBeCreatedLater) {
    sdk::Schema schema{
        sdk::string_field("state").check_file(sdk::FileCheck::writable_directory),
        sdk::string_field("under_file").check_file(sdk::FileCheck::writable_directory)};
    write("plain", 0644);
    auto errors = check("state: a/b/c\nunder_file: plain/sub\n", schema);
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].path, "tls.under_file");
    EXPECT_TRUE(!std::filesystem::exists(dir_ + "/a")) << "validation must not create dirs";
}

TEST_F(FileChecks, UnreadableFileRefused) {
    if (::geteuid() == 0) {
        GTEST_SKIP() << "root reads every file";
    }
    write("secret", 0000);
    sdk::Schema schema{sdk::string_field("f").check_file(sdk::FileCheck::readable_file)};
    auto errors = check("f: secret\n", schema);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("not readable"), std::string::npos);
}

}  // namespace
}  // namespace agenthost::config
