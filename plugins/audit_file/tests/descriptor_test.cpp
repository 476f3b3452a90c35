// audit_file loaded from its built module, as the kernel loads it: ABI tag, entry,
// descriptor, schema defaults, factory, start (default path), record, stop.

#include <fstream>

#include <gtest/gtest.h>

#include <agenthost/audit.hpp>

#include "tests/support/fake_context.hpp"
#include "tests/support/plugin_library.hpp"

namespace agenthost::plugins::audit_file {
namespace {

TEST(AuditFileModule, DescriptorAndFactoryWorkFromTheSharedObject) {
    std::string error;
    auto lib = testing::load_plugin_library("audit_file", error);
    ASSERT_TRUE(lib.has_value()) << error;
    const sdk::PluginDescriptor& d = *lib->descriptor;
    EXPECT_EQ(d.name, "audit_file");
    EXPECT_EQ(d.provides, std::vector<std::string>{"audit"});

    testing::FakeContext ctx;
    auto made = d.create(ctx, testing::schema_defaults(d.config_schema));
    ASSERT_TRUE(made.ok()) << made.status().message();
    std::unique_ptr<sdk::Plugin> plugin = std::move(made.value());
    ASSERT_TRUE(plugin->start().ok());
    auto* sink = static_cast<sdk::AuditSink*>(ctx.services().find_raw("audit"));
    ASSERT_NE(sink, nullptr);
    std::optional<sdk::Status> done;
    sink->record({"kernel", "plugin.load", "audit_file", "success", {}},
                 [&](sdk::Status s) { done = s; });
    ctx.run_until_idle();
    ASSERT_TRUE(done.has_value());
    EXPECT_TRUE(done->ok()) << done->message();
    plugin->stop();
    plugin.reset();
    ctx.health_impl.clear();  // checks came from the module: drop before unload

    std::ifstream in(ctx.state_dir() + "/audit.log");
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_NE(line.find("\"action\":\"plugin.load\""), std::string::npos) << line;
}

}  // namespace
}  // namespace agenthost::plugins::audit_file
