// A test plugin whose dependency can be taken away: while `down_file` exists its
// readiness check "dependency:reachable" fails, as a storage plugin's does when its
// database is gone. The health tests flip it to prove /readyz follows and /livez not.
#include <sys/stat.h>

#include <memory>
#include <string>

#include <agenthost/plugin.hpp>

namespace {
namespace sdk = agenthost::sdk;

class FlakyDependency final : public sdk::Plugin {
public:
    FlakyDependency(sdk::PluginContext& ctx, std::string down_file)
        : ctx_(ctx), down_file_(std::move(down_file)) {}

    sdk::Status start() override {
        // stat() of a local file is cheap enough for a scrape-time check in a test.
        ctx_.health().add_check("dependency:reachable", true, [file = down_file_] {
            sdk::HealthReport r;
            r.component_type = "datastore";
            r.observed_unit = "ms";
            struct stat st {};
            if (::stat(file.c_str(), &st) == 0) {
                r.state = sdk::HealthState::fail;
                r.output = "dependency unreachable";
            } else {
                r.observed_value = 0.25;
            }
            return r;
        });
        return ctx_.services().provide_raw("test_dependency", this);
    }
    void stop() noexcept override {}

private:
    sdk::PluginContext& ctx_;
    std::string down_file_;
};

const sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        sdk::PluginDescriptor d;
        d.name = "flaky_dependency";
        d.version = "1.0.0";
        d.description = "test plugin: a dependency that fails while a file exists";
        d.provides = {"test_dependency"};
        d.config_schema = {
            sdk::string_field("down_file").mandatory().describe("dependency down while present")};
        d.create =
            [](sdk::PluginContext& ctx,
               const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            return std::unique_ptr<sdk::Plugin>(std::make_unique<FlakyDependency>(
                ctx, std::string(config.at("down_file").as_string())));
        };
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
