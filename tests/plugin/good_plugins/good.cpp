// Valid test plugins, built three times as a dependency chain:
//   good_a provides test_alpha (config: greeting, default "hi"; a callback gauge and
//          a health check, to prove they are withdrawn on stop)
//   good_b requires test_alpha, provides test_beta
//   good_c requires test_beta, provides http_routes (GET /good_c on the health listener)
// Each notes create/start/stop into the test's TestRecorder, if one is provided.
#include <memory>
#include <string>

#include <agenthost/plugin.hpp>

#include "tests/plugin/test_recorder.hpp"

namespace {
namespace sdk = agenthost::sdk;
using agenthost::test::TestRecorder;

class GoodPlugin final : public sdk::Plugin {
public:
    GoodPlugin(sdk::PluginContext& ctx, std::string greeting)
        : ctx_(ctx), greeting_(std::move(greeting)) {}

    sdk::Status start() override {
        note("start:" + std::string(ctx_.plugin_name()));
        std::string provides = GOOD_PROVIDES;
        if (provides == "http_routes") {
            return ctx_.routes().add(sdk::Listener::health, "GET", "/good_c",
                                     [](const sdk::HttpRequest&, sdk::HttpResponder respond) {
                                         sdk::HttpResponse r;
                                         r.body = "{\"good\":\"c\"}";
                                         respond(std::move(r));
                                     });
        }
        if (provides == "test_alpha") {
            note("greeting:" + greeting_);
            ctx_.metrics().callback_gauge("good_a_value", "a test gauge", {}, [] { return 42.0; });
            ctx_.health().add_check("good_a:check", true, [] { return sdk::HealthReport{}; });
        }
        return ctx_.services().provide_raw(provides, this);
    }

    void stop() noexcept override { note("stop:" + std::string(ctx_.plugin_name())); }

private:
    void note(const std::string& what) {
        if (auto* rec = ctx_.services().find<TestRecorder>()) {
            rec->note(what);
        }
    }

    sdk::PluginContext& ctx_;
    std::string greeting_;
};

const sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        sdk::PluginDescriptor d;
        d.name = GOOD_NAME;
        d.version = "1.2.3";
        d.description = "well-behaved test plugin";
        d.provides = {GOOD_PROVIDES};
        std::string req = GOOD_REQUIRES;
        if (!req.empty()) {
            d.requires_capabilities = {req};
        }
        d.config_schema = {sdk::string_field("greeting").fallback("hi").describe("a word")};
        d.create =
            [](sdk::PluginContext& ctx,
               const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            if (auto* rec = ctx.services().find<TestRecorder>()) {
                rec->note("create:" + std::string(ctx.plugin_name()));
            }
            std::string greeting(config.at("greeting").as_string());
            return std::unique_ptr<sdk::Plugin>(std::make_unique<GoodPlugin>(ctx, greeting));
        };
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
