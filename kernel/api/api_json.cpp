#include "kernel/api/api_json.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json/serialize.hpp>

#include "kernel/util/time.hpp"

namespace agenthost::api {

sdk::HttpResponse error_response(int status, std::string_view code, std::string_view message) {
    json::object err{{"code", code}, {"message", message}};
    return json_response(status, json::object{{"error", std::move(err)}});
}

sdk::HttpResponse json_response(int status, const json::value& body) {
    sdk::HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = json::serialize(body);
    return r;
}

namespace {

json::value time_or_null(std::int64_t ms) {
    return ms > 0 ? json::value(util::rfc3339_ms(ms)) : json::value(nullptr);
}

}  // namespace

json::object result_json(const sdk::CommandResult& r) {
    json::object o;
    o["status"] = sdk::to_string(r.status);
    o["exit_code"] = r.exit_code ? json::value(*r.exit_code) : json::value(nullptr);
    o["output"] = r.output;
    o["output_encoding"] = r.output_encoding.empty() ? "utf-8" : r.output_encoding;
    o["truncated"] = r.truncated;
    o["started_at"] = time_or_null(r.started_ms);
    o["finished_at"] = time_or_null(r.finished_ms);
    return o;
}

json::object command_json(const sdk::CommandRecord& c,
                          const std::optional<sdk::CommandResult>& result) {
    json::object o;
    o["command_id"] = c.command_id;
    o["agent_id"] = c.agent_id;
    o["name"] = c.name;
    o["args"] = c.args;
    o["state"] = sdk::to_string(c.state);
    o["attempts"] = c.attempts;
    o["created_at"] = time_or_null(c.created_ms);
    o["updated_at"] = time_or_null(c.updated_ms);
    o["deadline"] = time_or_null(c.deadline_ms);
    if (result) {
        o["result"] = result_json(*result);
    }
    return o;
}

json::object agent_json(const sdk::AgentRecord& a) {
    json::object o;
    o["agent_id"] = a.agent_id;
    o["state"] = a.revoked ? "revoked" : (a.online ? "online" : "offline");
    o["host_id"] = (a.online && a.host_id) ? json::value(*a.host_id) : json::value(nullptr);
    o["last_seen"] = time_or_null(a.last_seen_ms);
    o["first_seen"] = time_or_null(a.first_seen_ms);
    o["agent_version"] = a.agent_version;
    o["hostname"] = a.hostname;
    o["platform"] = a.platform;
    if (a.capabilities) {
        json::array caps;
        for (const auto& c : *a.capabilities) {
            caps.emplace_back(c);
        }
        o["capabilities"] = std::move(caps);
    } else {
        o["capabilities"] = nullptr;
    }
    return o;
}

json::object point_json(const sdk::TelemetryPoint& p) {
    json::object labels;
    for (const auto& [k, v] : p.labels) {
        labels[k] = v;
    }
    return json::object{{"metric", p.metric},
                        {"ts", util::rfc3339_ms(p.ts_ms)},
                        {"value", p.value},
                        {"labels", std::move(labels)}};
}

namespace {

void canonical_into(const json::value& v, std::string& out) {
    if (v.is_object()) {
        const auto& obj = v.get_object();
        std::vector<const json::key_value_pair*> members;
        members.reserve(obj.size());
        for (const auto& kv : obj) {
            members.push_back(&kv);
        }
        std::sort(members.begin(), members.end(),
                  [](const auto* a, const auto* b) { return a->key() < b->key(); });
        out += '{';
        for (std::size_t i = 0; i < members.size(); ++i) {
            if (i) {
                out += ',';
            }
            out += json::serialize(json::string(members[i]->key()));
            out += ':';
            canonical_into(members[i]->value(), out);
        }
        out += '}';
    } else if (v.is_array()) {
        out += '[';
        bool first = true;
        for (const auto& e : v.get_array()) {
            if (!first) {
                out += ',';
            }
            first = false;
            canonical_into(e, out);
        }
        out += ']';
    } else {
        out += json::serialize(v);
    }
}

}  // namespace

std::string canonical_json(const json::value& v) {
    std::string out;
    canonical_into(v, out);
    return out;
}

bool valid_agent_id(std::string_view s) noexcept {
    if (s.empty() || s.size() > 63) {
        return false;
    }
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(s[0])) {
        return false;
    }
    return std::all_of(s.begin() + 1, s.end(),
                       [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::optional<std::int64_t> parse_int(std::string_view s, std::int64_t min, std::int64_t max) {
    std::int64_t v = 0;
    if (s.empty() || s.size() > 19) {
        return std::nullopt;
    }
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) {
        return std::nullopt;
    }
    return v;
}

std::vector<std::string_view> split_path(std::string_view path, std::string_view prefix) {
    std::vector<std::string_view> out;
    if (path.substr(0, prefix.size()) != prefix) {
        return out;
    }
    std::string_view rest = path.substr(prefix.size());
    while (true) {
        auto slash = rest.find('/');
        out.push_back(rest.substr(0, slash));
        if (slash == std::string_view::npos) {
            break;
        }
        rest = rest.substr(slash + 1);
    }
    return out;
}

}  // namespace agenthost::api
