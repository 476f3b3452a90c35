// PluginLoader against real shared libraries: every deliberately broken plugin is
// refused with "plugin '<name>' (<path>): <stage>: <detail>", and good plugins start
// in dependency order, stop in reverse, and have their registrations withdrawn.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include "kernel/plugin/loader.hpp"
#include "kernel/runtime/audit_forwarder.hpp"
#include "kernel/runtime/runtime.hpp"
#include "tests/plugin/test_recorder.hpp"

namespace agenthost::plugin {
namespace {
namespace fs = std::filesystem;

std::string env_or_fail(const char* name) {
    const char* v = std::getenv(name);
    EXPECT_NE(v, nullptr) << name << " is not set (run through ctest)";
    return v != nullptr ? v : "";
}

class LoaderTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ah-loader-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
        runtime::RuntimeOptions o;
        o.loop_threads = 1;
        o.blocking_threads = 1;
        o.log_level = "warn";
        rt_ = std::make_unique<runtime::Runtime>(o);
        rt_->start_background();
        ASSERT_TRUE(rt_->services().provide<test::TestRecorder>(&recorder_).ok());
        config_.role = "backend";
        config_.host_id = "test-host";
        config_.state_dir = tmp_ + "/state";
        config_.source_path = tmp_ + "/agenthost.yaml";
        config_.plugin_paths = {env_or_fail("AGENTHOST_BAD_PLUGIN_DIR"),
                                env_or_fail("AGENTHOST_TEST_PLUGIN_DIR")};
    }

    void TearDown() override {
        rt_->stop();
        rt_.reset();
        fs::remove_all(tmp_);
    }

    void add(const std::string& name, bool enabled = true, const std::string& yaml = "") {
        config::PluginEntry e;
        e.name = name;
        e.enabled = enabled;
        if (!yaml.empty()) {
            e.config = YAML::Load(yaml);
        }
        e.yaml_path = "plugins." + name + ".config";
        config_.plugins.push_back(e);
    }

    // Runs prepare() and, when it passes, start(); returns the first failing Status.
    sdk::Status load(PluginLoader& loader) {
        auto st = loader.prepare(errors_);
        if (!st.ok()) {
            return st;
        }
        return loader.start();
    }

    // The failure line for `name` must name the plugin, its library and the stage.
    static void expect_refused(const sdk::Status& st, const std::string& name,
                               const std::string& stage) {
        ASSERT_FALSE(st.ok()) << name << " was accepted";
        std::string head = "plugin '" + name + "' (";
        auto at = st.message().find(head);
        ASSERT_NE(at, std::string::npos) << st.message();
        auto line_end = st.message().find('\n', at);
        std::string line = st.message().substr(at, line_end - at);
        EXPECT_NE(line.find("): " + stage + ": "), std::string::npos) << line;
    }

    std::string tmp_;
    std::unique_ptr<runtime::Runtime> rt_;
    test::VectorRecorder recorder_;
    config::KernelConfig config_;
    sdk::ConfigErrors errors_;
};

TEST_F(LoaderTest, MissingLibraryIsRefusedAtResolve) {
    add("does_not_exist");
    PluginLoader loader(*rt_, config_);
    expect_refused(load(loader), "does_not_exist", "resolve");
}

TEST_F(LoaderTest, NonLibraryFileIsRefusedAtLoad) {
    std::ofstream(tmp_ + "/agenthost_garbage.so") << "this is not an ELF file\n";
    add("garbage");
    config_.plugins.back().path = tmp_ + "/agenthost_garbage.so";
    PluginLoader loader(*rt_, config_);
    expect_refused(load(loader), "garbage", "load");
}

TEST_F(LoaderTest, WrongAbiTagIsRefusedBeforeAnyPluginCode) {
    // The entry of this plugin calls std::abort(): reaching it would kill the test.
    add("bad_wrong_abi");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_wrong_abi", "abi");
    EXPECT_NE(st.message().find("agenthost-sdk/0;"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(sdk::abi_tag), std::string::npos) << st.message();
}

TEST_F(LoaderTest, MissingAbiTagIsRefused) {
    add("bad_no_abi_tag");
    PluginLoader loader(*rt_, config_);
    expect_refused(load(loader), "bad_no_abi_tag", "abi");
}

TEST_F(LoaderTest, MissingEntrySymbolIsRefused) {
    add("bad_no_entry");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_no_entry", "entry");
    EXPECT_NE(st.message().find("agenthost_plugin_entry_v1"), std::string::npos);
}

TEST_F(LoaderTest, DescriptorNameMismatchIsRefused) {
    add("bad_wrong_name");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_wrong_name", "descriptor");
    EXPECT_NE(st.message().find("someone_else"), std::string::npos);
}

TEST_F(LoaderTest, UnknownConfigKeyIsRefusedWithItsPath) {
    add("bad_with_schema", true, "{deth: 3}");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_with_schema", "config");
    bool found = false;
    for (const auto& e : errors_) {
        if (e.path.rfind("plugins.bad_with_schema.config", 0) == 0 &&
            (e.path + e.message).find("deth") != std::string::npos) {
            found = true;
            // The valid keys are listed so the typo is obvious.
            EXPECT_NE(e.message.find("depth"), std::string::npos) << e.message;
        }
    }
    EXPECT_TRUE(found) << st.message();
}

TEST_F(LoaderTest, SchemaValidConfigPasses) {
    add("bad_with_schema", true, "{depth: 3}");
    PluginLoader loader(*rt_, config_);
    EXPECT_TRUE(load(loader).ok());
    EXPECT_TRUE(errors_.empty());
}

TEST_F(LoaderTest, FailingValidationIsRefused) {
    add("bad_failing_validation");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_failing_validation", "validate");
    ASSERT_EQ(errors_.size(), 1u);
    EXPECT_EQ(errors_[0].path, "plugins.bad_failing_validation.config.low");
}

TEST_F(LoaderTest, ThrowingFactoryIsAFailureNotACrash) {
    add("bad_throwing_factory");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_throwing_factory", "create");
    EXPECT_NE(st.message().find("factory exploded"), std::string::npos);
}

TEST_F(LoaderTest, FailingStartIsRefusedAndEarlierPluginsAreStoppedAgain) {
    add("good_a");
    add("bad_failing_start");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_failing_start", "start");
    EXPECT_NE(st.message().find("backing store is down"), std::string::npos);
    auto notes = recorder_.notes();
    ASSERT_FALSE(notes.empty());
    EXPECT_EQ(notes.back(), "stop:good_a");
    EXPECT_TRUE(loader.start_order().empty());
    EXPECT_EQ(rt_->services().find_raw("test_alpha"), nullptr);
}

TEST_F(LoaderTest, UnmetRequirementIsRefused) {
    add("bad_unmet_requirement");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_unmet_requirement", "requires");
    EXPECT_NE(st.message().find("'replay'"), std::string::npos);
}

TEST_F(LoaderTest, RoleRequirementUnmetIsRefused) {
    add("good_a");
    PluginLoader loader(*rt_, config_);
    ASSERT_TRUE(loader.prepare(errors_).ok());
    auto st = loader.start({"identity"});
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("role 'backend' requires capability 'identity'"), std::string::npos)
        << st.message();
    EXPECT_TRUE(recorder_.notes().empty()) << "nothing may start when a requirement is unmet";
}

TEST_F(LoaderTest, TwoProvidersOfAnExclusiveCapabilityAreRefused) {
    add("bad_exclusive_one");
    add("bad_exclusive_two");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_exclusive_two", "exclusive");
    EXPECT_NE(st.message().find("plugin 'bad_exclusive_one'"), std::string::npos);
}

TEST_F(LoaderTest, DependencyCycleIsRefused) {
    add("bad_cycle_a");
    add("bad_cycle_b");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_cycle_a", "requires");
    EXPECT_NE(st.message().find("cycle"), std::string::npos);
}

TEST_F(LoaderTest, UndeliveredCapabilityIsRefused) {
    add("bad_no_provide");
    PluginLoader loader(*rt_, config_);
    auto st = load(loader);
    expect_refused(st, "bad_no_provide", "provide");
    EXPECT_TRUE(loader.start_order().empty());
}

TEST_F(LoaderTest, PrepareCollectsEveryFailure) {
    add("bad_no_entry");
    add("bad_wrong_abi");
    add("bad_with_schema", true, "{deth: 3}");
    add("bad_failing_validation");
    add("does_not_exist");
    PluginLoader loader(*rt_, config_);
    auto st = loader.prepare(errors_);
    expect_refused(st, "bad_no_entry", "entry");
    expect_refused(st, "bad_wrong_abi", "abi");
    expect_refused(st, "bad_with_schema", "config");
    expect_refused(st, "bad_failing_validation", "validate");
    expect_refused(st, "does_not_exist", "resolve");
    EXPECT_GE(errors_.size(), 5u);
    EXPECT_FALSE(loader.start().ok()) << "start() must refuse after a failed prepare()";
}

TEST_F(LoaderTest, DisabledPluginsAreValidatedButNotInstantiated) {
    add("bad_throwing_factory", false);  // would throw if created
    add("good_a");
    {
        PluginLoader loader(*rt_, config_);
        ASSERT_TRUE(load(loader).ok());
        EXPECT_EQ(loader.start_order(), std::vector<std::string>{"good_a"});
        auto info = loader.describe();
        ASSERT_EQ(info.size(), 2u);
        EXPECT_FALSE(info[0].enabled);
        EXPECT_FALSE(info[0].started);
        EXPECT_EQ(info[0].version, "0.0.1");
    }
    config_.plugins.clear();
    add("bad_failing_validation", false);
    PluginLoader loader(*rt_, config_);
    expect_refused(loader.prepare(errors_), "bad_failing_validation", "validate");
}

TEST_F(LoaderTest, GoodPluginsStartInDependencyOrderAndStopInReverse) {
    // Configured consumers-first; the loader must reorder.
    add("good_c");
    add("good_b");
    add("good_a", true, "{greeting: hello}");
    PluginLoader loader(*rt_, config_);
    ASSERT_TRUE(load(loader).ok()) << errors_.size();
    EXPECT_EQ(loader.start_order(), (std::vector<std::string>{"good_a", "good_b", "good_c"}));

    // While running: route, service, gauge and health check are registered.
    bool mismatch = false;
    EXPECT_TRUE(rt_->routes().match(sdk::Listener::health, "GET", "/good_c", &mismatch));
    EXPECT_NE(rt_->services().find_raw("test_beta"), nullptr);
    EXPECT_NE(rt_->metrics().render_prometheus().find("good_a_value 42"), std::string::npos);
    EXPECT_EQ(rt_->health().evaluate().size(), 1u);
    struct stat st {};
    ASSERT_EQ(::stat((config_.state_dir + "/good_a").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700);
    // Plugin start-up was audited (buffered until an audit provider exists).
    EXPECT_GE(rt_->audit_forwarder().buffered(), 3u);

    auto describe = loader.describe();
    ASSERT_EQ(describe.size(), 3u);
    EXPECT_EQ(describe[2].name, "good_a");
    EXPECT_EQ(describe[2].version, "1.2.3");
    EXPECT_TRUE(describe[2].started);
    EXPECT_EQ(describe[2].provides, std::vector<std::string>{"test_alpha"});
    EXPECT_EQ(describe[0].requires_capabilities, std::vector<std::string>{"test_beta"});
    ASSERT_EQ(describe[2].schema.size(), 1u);
    EXPECT_EQ(describe[2].schema[0].key, "greeting");

    loader.stop_all();
    EXPECT_EQ(recorder_.notes(), (std::vector<std::string>{
                                     "create:good_a", "start:good_a", "greeting:hello",
                                     "create:good_b", "start:good_b", "create:good_c",
                                     "start:good_c", "stop:good_c", "stop:good_b", "stop:good_a"}));
    // Everything the plugins registered is withdrawn.
    EXPECT_FALSE(rt_->routes().match(sdk::Listener::health, "GET", "/good_c"));
    EXPECT_EQ(rt_->services().find_raw("test_alpha"), nullptr);
    EXPECT_EQ(rt_->metrics().render_prometheus().find("good_a_value"), std::string::npos);
    EXPECT_TRUE(rt_->health().evaluate().empty());
}

TEST_F(LoaderTest, DefaultsAreFilledFromTheSchema) {
    add("good_a");
    PluginLoader loader(*rt_, config_);
    ASSERT_TRUE(load(loader).ok());
    auto notes = recorder_.notes();
    EXPECT_NE(std::find(notes.begin(), notes.end(), "greeting:hi"), notes.end());
}

TEST_F(LoaderTest, ExplicitRelativePathResolvesAgainstTheConfigDirectory) {
    fs::copy_file(env_or_fail("AGENTHOST_TEST_PLUGIN_DIR") + "/agenthost_good_a.so",
                  tmp_ + "/mine.so");
    config_.plugin_paths.clear();
    add("good_a");
    config_.plugins.back().path = "mine.so";
    PluginLoader loader(*rt_, config_);
    ASSERT_TRUE(load(loader).ok());
    EXPECT_EQ(loader.describe()[0].path, tmp_ + "/mine.so");
}

TEST(PluginDirs, ExpandsExeDirAndRelativeDirs) {
    auto exe = fs::read_symlink("/proc/self/exe").parent_path().string();
    EXPECT_EQ(expand_plugin_dir("${exe_dir}/../plugins", "/etc/agenthost"), exe + "/../plugins");
    EXPECT_EQ(expand_plugin_dir("plugins", "/etc/agenthost"), "/etc/agenthost/plugins");
    EXPECT_EQ(expand_plugin_dir("/opt/p", "/etc/agenthost"), "/opt/p");
}

}  // namespace
}  // namespace agenthost::plugin
