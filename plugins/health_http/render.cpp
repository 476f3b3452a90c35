#include "plugins/health_http/render.hpp"

#include <boost/json/serialize.hpp>

#include <agenthost/json.hpp>

namespace agenthost::health_http {

namespace json = sdk::json;

namespace {

// Health answers must never be cached by a proxy: they describe this instant.
sdk::HttpResponse response(int status, std::string content_type, std::string body) {
    sdk::HttpResponse r;
    r.status = status;
    r.content_type = std::move(content_type);
    r.headers.emplace_back("cache-control", "no-store");
    r.body = std::move(body);
    return r;
}

}  // namespace

const char* state_name(sdk::HealthState s) noexcept {
    switch (s) {
        case sdk::HealthState::pass:
            return "pass";
        case sdk::HealthState::warn:
            return "warn";
        case sdk::HealthState::fail:
            return "fail";
    }
    return "fail";
}

sdk::HttpResponse render_readyz(bool ready, const CheckResults& checks, bool details) {
    json::object body;
    if (ready) {
        body["status"] = "pass";
        return response(200, "application/json", json::serialize(body));
    }
    body["status"] = "fail";
    json::object failing;
    for (const auto& [name, report] : checks) {
        if (report.state != sdk::HealthState::fail) {
            continue;
        }
        json::object c;
        c["status"] = "fail";
        if (!report.output.empty()) {
            c["output"] = report.output;
        }
        failing[name] = std::move(c);
    }
    if (failing.empty()) {
        body["output"] = "not ready (draining)";
    } else if (details) {
        body["checks"] = std::move(failing);
    }
    return response(503, "application/json", json::serialize(body));
}

sdk::HttpResponse render_healthz(bool ready, const CheckResults& checks, const ServiceInfo& info,
                                 const std::string& time_rfc3339) {
    sdk::HealthState overall = sdk::HealthState::pass;
    json::object checks_json;
    for (const auto& [name, report] : checks) {
        if (report.state != sdk::HealthState::pass) {
            overall = sdk::HealthState::warn;  // raised to fail below only if not ready
        }
        json::object c;
        if (!report.component_type.empty()) {
            c["componentType"] = report.component_type;
        }
        if (report.observed_value) {
            c["observedValue"] = *report.observed_value;
        }
        if (!report.observed_unit.empty()) {
            c["observedUnit"] = report.observed_unit;
        }
        c["status"] = state_name(report.state);
        if (!report.output.empty()) {
            c["output"] = report.output;
        }
        c["time"] = time_rfc3339;
        json::array entries;
        entries.emplace_back(std::move(c));
        checks_json[name] = std::move(entries);
    }
    if (!ready) {
        overall = sdk::HealthState::fail;
    }

    json::object body;
    body["status"] = state_name(overall);
    body["version"] = info.version;
    body["serviceId"] = info.service_id;
    if (!info.description.empty()) {
        body["description"] = info.description;
    }
    if (!ready) {
        body["output"] = "not ready";
    }
    body["checks"] = std::move(checks_json);
    const int status = overall == sdk::HealthState::fail ? 503 : 200;
    return response(status, kHealthJson, json::serialize(body));
}

sdk::HttpResponse render_metrics(std::string prometheus_text) {
    return response(200, kPrometheusText, std::move(prometheus_text));
}

}  // namespace agenthost::health_http
