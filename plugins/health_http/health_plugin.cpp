#include "plugins/health_http/health_plugin.hpp"

#include <string>
#include <utility>

#include "kernel/util/time.hpp"
#include "plugins/health_http/render.hpp"

#ifndef AGENTHOST_PRODUCT_VERSION
#define AGENTHOST_PRODUCT_VERSION "0.0.0"
#endif

namespace agenthost::health_http {

namespace json = sdk::json;
using sdk::Listener;

namespace {

bool bool_or(const json::object& config, std::string_view key, bool fallback) {
    const json::value* v = config.if_contains(key);
    return v != nullptr && v->is_bool() ? v->get_bool() : fallback;
}

// Before each /metrics render: agenthost_health_check_status{check} (0 pass, 1 warn,
// 2 fail) for every check, and agenthost_ready (1 when /readyz answers 200), so that
// plugin health is scraped with everything else.
void publish_health_gauges(const CheckResults& checks, bool ready, sdk::Metrics& metrics) {
    for (const auto& [name, report] : checks) {
        metrics
            .gauge("agenthost_health_check_status",
                   "Health checks by name: 0 pass, 1 warn, 2 fail", {{"check", name}})
            .set(static_cast<double>(report.state));
    }
    metrics.gauge("agenthost_ready", "1 when /readyz answers 200").set(ready ? 1 : 0);
}

sdk::HttpResponse stopped_response() {
    sdk::HttpResponse r;
    r.status = 503;
    r.body = R"({"status":"fail","output":"health plugin stopped"})";
    return r;
}

}  // namespace

sdk::Schema config_schema() {
    return {
        sdk::bool_field("expose_metrics")
            .describe("Serve GET /metrics (Prometheus text) on the health listener.")
            .fallback(json::value(true)),
        sdk::bool_field("readyz_details")
            .describe("Name the failing checks in a 503 /readyz body (the listener is "
                      "unauthenticated; turn off if those names are sensitive).")
            .fallback(json::value(true)),
    };
}

sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const json::object& config) {
    HealthHttpConfig typed;
    typed.expose_metrics = bool_or(config, "expose_metrics", true);
    typed.readyz_details = bool_or(config, "readyz_details", true);
    return std::unique_ptr<sdk::Plugin>(new HealthHttpPlugin(ctx, typed));
}

HealthHttpPlugin::HealthHttpPlugin(sdk::PluginContext& ctx, HealthHttpConfig config) {
    state_->ctx = &ctx;
    state_->config = config;
}

sdk::Status HealthHttpPlugin::start() {
    auto& routes = state_->ctx->routes();
    auto st =
        routes.add(Listener::health, "GET", "/readyz",
                   [state = state_](const sdk::HttpRequest&, const sdk::HttpResponder& respond) {
                       if (state->stopped) {
                           respond(stopped_response());
                           return;
                       }
                       auto& health = state->ctx->health();
                       // ready() first: it is the answer; the list only explains it.
                       const bool ready = health.ready();
                       CheckResults checks;
                       if (!ready) {
                           checks = health.evaluate();
                       }
                       respond(render_readyz(ready, checks, state->config.readyz_details));
                   });
    if (!st) {
        return st;
    }
    st = routes.add(Listener::health, "GET", "/healthz",
                    [state = state_](const sdk::HttpRequest&, const sdk::HttpResponder& respond) {
                        if (state->stopped) {
                            respond(stopped_response());
                            return;
                        }
                        sdk::PluginContext& ctx = *state->ctx;
                        const bool ready = ctx.health().ready();
                        CheckResults checks = ctx.health().evaluate();
                        ServiceInfo info{AGENTHOST_PRODUCT_VERSION, std::string(ctx.host_id()),
                                         "agenthost " + std::string(ctx.role())};
                        respond(render_healthz(ready, checks, info,
                                               util::rfc3339_ms(ctx.clock().now_unix_ms())));
                    });
    if (!st) {
        return st;
    }
    if (state_->config.expose_metrics) {
        st = routes.add(
            Listener::health, "GET", "/metrics",
            [state = state_](const sdk::HttpRequest&, const sdk::HttpResponder& respond) {
                if (state->stopped) {
                    respond(stopped_response());
                    return;
                }
                sdk::PluginContext& ctx = *state->ctx;
                publish_health_gauges(ctx.health().evaluate(), ctx.health().ready(),
                                      ctx.metrics());
                respond(render_metrics(ctx.metrics().render_prometheus()));
            });
        if (!st) {
            return st;
        }
    }
    // "health" has no SDK interface: the registration claims the exclusive capability
    // (one health plugin per process) and lets the loader see it was provided.
    return state_->ctx->services().provide_raw(sdk::capability::health, this);
}

void HealthHttpPlugin::stop() noexcept {
    state_->stopped = true;
}

}  // namespace agenthost::health_http
