#include "kernel/proto/messages.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "kernel/util/encoding.hpp"

using namespace agenthost;
namespace json = boost::json;

namespace {

constexpr char kUuid[] = "5f0c6c52-3d1e-4b8a-9c33-0a1b2c3d4e5f";

json::object obj(std::string_view text) {
    return json::parse(text).as_object();
}

template <typename R>
void expect_error(const R& r, std::string_view needle, const std::string& what = {}) {
    ASSERT_FALSE(r.ok()) << "expected an error mentioning '" << needle << "' " << what;
    EXPECT_EQ(r.status().code(), sdk::Errc::invalid_argument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos)
        << r.status().message() << " " << what;
}

json::object result_body() {
    return json::object{{"command_id", kUuid}, {"status", "succeeded"}, {"exit_code", 0},
                        {"output", "hello\n"}, {"truncated", false},    {"started_at", 1000},
                        {"finished_at", 2000}};
}

json::object point(std::string_view metric = "cpu.load") {
    return json::object{{"metric", metric}, {"ts", 1000}, {"value", 1.5}};
}

json::object telemetry_with(json::array points) {
    return json::object{{"batch_id", "b-1"}, {"points", std::move(points)}};
}

}  // namespace

TEST(Validators, MetricName) {
    EXPECT_TRUE(proto::valid_metric_name("cpu"));
    EXPECT_TRUE(proto::valid_metric_name("_x:y.z_1"));
    EXPECT_TRUE(proto::valid_metric_name(":a"));
    EXPECT_TRUE(proto::valid_metric_name(std::string(128, 'a')));
    EXPECT_FALSE(proto::valid_metric_name(std::string(129, 'a')));
    EXPECT_FALSE(proto::valid_metric_name(""));
    EXPECT_FALSE(proto::valid_metric_name("1cpu"));
    EXPECT_FALSE(proto::valid_metric_name(".cpu"));
    EXPECT_FALSE(proto::valid_metric_name("cpu load"));
    EXPECT_FALSE(proto::valid_metric_name("cpu-load"));
}

TEST(Validators, LabelName) {
    EXPECT_TRUE(proto::valid_label_name("host"));
    EXPECT_TRUE(proto::valid_label_name("_a9"));
    EXPECT_TRUE(proto::valid_label_name(std::string(64, 'a')));
    EXPECT_FALSE(proto::valid_label_name(std::string(65, 'a')));
    EXPECT_FALSE(proto::valid_label_name(""));
    EXPECT_FALSE(proto::valid_label_name("9a"));
    EXPECT_FALSE(proto::valid_label_name("a:b"));
    EXPECT_FALSE(proto::valid_label_name("a.b"));
}

TEST(Validators, Utf8) {
    EXPECT_TRUE(proto::valid_utf8(""));
    EXPECT_TRUE(proto::valid_utf8("plain ascii"));
    EXPECT_TRUE(proto::valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));  // é € 😀
    EXPECT_TRUE(proto::valid_utf8("\xf4\x8f\xbf\xbf"));                      // U+10FFFF
    EXPECT_FALSE(proto::valid_utf8("\xff"));
    EXPECT_FALSE(proto::valid_utf8("\xc0\xaf"));          // overlong '/'
    EXPECT_FALSE(proto::valid_utf8("\xe0\x80\xaf"));      // overlong
    EXPECT_FALSE(proto::valid_utf8("\xed\xa0\x80"));      // surrogate
    EXPECT_FALSE(proto::valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
    EXPECT_FALSE(proto::valid_utf8("\xe2\x82"));          // truncated
    EXPECT_FALSE(proto::valid_utf8("\x80"));              // lone continuation
}

TEST(Types, KnownPerDirection) {
    for (const char* t : {"hello", "ack", "result", "telemetry"}) {
        EXPECT_TRUE(proto::known_type(t, true)) << t;
        EXPECT_FALSE(proto::known_type(t, false)) << t;
    }
    for (const char* t : {"welcome", "command", "result_ack", "telemetry_ack", "error"}) {
        EXPECT_TRUE(proto::known_type(t, false)) << t;
        EXPECT_FALSE(proto::known_type(t, true)) << t;
    }
    EXPECT_FALSE(proto::known_type("", true));
    EXPECT_FALSE(proto::known_type("Hello", true));
    expect_error(proto::parse_agent_body("welcome", json::object{}, 10), "unknown message type");
    expect_error(proto::parse_backend_body("hello", json::object{}), "unknown message type");
}

TEST(Hello, ParseAndRoundTrip) {
    auto h = proto::HelloBody::parse(obj(
        R"({"agent_version":"1.2","hostname":"h","platform":"p","capabilities":["a","b"],
            "spool":{"results":3,"telemetry":4}})"));
    ASSERT_TRUE(h.ok()) << h.status().message();
    EXPECT_EQ(h->capabilities, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(h->spool_results, 3);
    EXPECT_EQ(h->spool_telemetry, 4);
    auto again = proto::HelloBody::parse(h->to_json());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->to_json(), h->to_json());
    // An empty capability list is allowed; spool is optional.
    EXPECT_TRUE(proto::HelloBody::parse(
                    obj(R"({"agent_version":"1","hostname":"h","platform":"p","capabilities":[]})"))
                    .ok());
}

TEST(Hello, SchemaErrors) {
    expect_error(
        proto::HelloBody::parse(obj(R"({"agent_version":"1","hostname":"h","platform":"p"})")),
        "hello.capabilities is required");
    expect_error(proto::HelloBody::parse(obj(
                     R"({"agent_version":"1","hostname":"h","platform":"p","capabilities":[1]})")),
                 "hello.capabilities");
    expect_error(proto::HelloBody::parse(obj(
                     R"({"agent_version":"1","hostname":"h","platform":"p","capabilities":"a"})")),
                 "hello.capabilities must be an array");
    expect_error(
        proto::HelloBody::parse(obj(R"({"hostname":"h","platform":"p","capabilities":[]})")),
        "hello.agent_version is required");
    expect_error(proto::HelloBody::parse(obj(
                     R"({"agent_version":"1","hostname":"h","platform":"p","capabilities":[],
                         "spool":{"results":-1}})")),
                 "hello.spool.results");
}

TEST(Ack, CommandIdMustBeUuid) {
    auto a = proto::AckBody::parse(json::object{{"command_id", kUuid}});
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->command_id, kUuid);
    EXPECT_EQ(a->to_json(), (json::object{{"command_id", kUuid}}));
    expect_error(proto::AckBody::parse(json::object{{"command_id", "c1"}}), "ack.command_id");
    expect_error(proto::AckBody::parse(json::object{}), "ack.command_id is required");
    expect_error(proto::ResultAckBody::parse(json::object{{"command_id", 3}}),
                 "result_ack.command_id");
}

TEST(Result, ParseAndRoundTrip) {
    auto r = proto::ResultBody::parse(result_body());
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, sdk::CommandState::succeeded);
    EXPECT_EQ(r->exit_code, 0);
    EXPECT_EQ(r->output_encoding, "utf-8");
    auto again = proto::ResultBody::parse(r->to_json());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->to_json(), r->to_json());
    auto cr = r->to_command_result("gw-01", 3000);
    EXPECT_EQ(cr.agent_id, "gw-01");
    EXPECT_EQ(cr.finished_ms, 2000);
    EXPECT_EQ(cr.received_ms, 3000);

    json::object b = result_body();
    b["status"] = "rejected";
    b["exit_code"] = nullptr;
    auto rejected = proto::ResultBody::parse(b);
    ASSERT_TRUE(rejected.ok());
    EXPECT_FALSE(rejected->exit_code.has_value());
    EXPECT_TRUE(rejected->to_json().at("exit_code").is_null());
}

TEST(Result, SchemaErrors) {
    auto with = [](std::string_view field, json::value v) {
        json::object b = result_body();
        b[field] = std::move(v);
        return proto::ResultBody::parse(b);
    };
    expect_error(with("status", "done"), "result.status");
    expect_error(with("status", "queued"), "result.status");
    expect_error(with("exit_code", "0"), "result.exit_code");
    expect_error(with("exit_code", 1.5), "result.exit_code");
    expect_error(with("truncated", "no"), "result.truncated");
    expect_error(with("started_at", "x"), "result.started_at");
    expect_error(with("output_encoding", "latin1"), "result.output_encoding");
    expect_error(with("command_id", "abc"), "result.command_id");
    json::object missing = result_body();
    missing.erase("finished_at");
    expect_error(proto::ResultBody::parse(missing), "result.finished_at is required");
}

TEST(Result, OutputLimitsAndEncoding) {
    auto with_output = [](std::string out, std::string enc) {
        json::object b = result_body();
        b["output"] = json::string(out);
        b["output_encoding"] = json::string(enc);
        return proto::ResultBody::parse(b);
    };
    EXPECT_TRUE(with_output(std::string(64 * 1024, 'a'), "utf-8").ok());
    expect_error(with_output(std::string(64 * 1024 + 1, 'a'), "utf-8"), "64 KiB");
    expect_error(with_output("bad \xff bytes", "utf-8"), "UTF-8");
    EXPECT_TRUE(with_output(util::base64_encode(std::string(64 * 1024, '\xff')), "base64").ok());
    expect_error(with_output(util::base64_encode(std::string(64 * 1024 + 1, '\xff')), "base64"),
                 "64 KiB");
    expect_error(with_output("not base64!", "base64"), "base64");
    // The cap is on decoded bytes: 64 KiB of multi-byte text in base64 is fine too.
    auto ok = with_output(util::base64_encode(std::string(60000, '\x01')), "base64");
    EXPECT_TRUE(ok.ok());
}

TEST(Telemetry, ParseSortsLabels) {
    json::object p = point();
    p["labels"] = json::object{{"zone", "b"}, {"host", "a"}, {"_x", "c"}};
    auto t = proto::TelemetryBody::parse(telemetry_with({p, point("mem")}), 1000);
    ASSERT_TRUE(t.ok()) << t.status().message();
    ASSERT_EQ(t->points.size(), 2u);
    EXPECT_EQ(t->points[0].metric, "cpu.load");
    EXPECT_EQ(t->points[0].ts_ms, 1000);
    EXPECT_DOUBLE_EQ(t->points[0].value, 1.5);
    sdk::LabelSet expected{{"_x", "c"}, {"host", "a"}, {"zone", "b"}};
    EXPECT_EQ(t->points[0].labels, expected);
    EXPECT_TRUE(t->points[1].labels.empty());
    auto again = proto::TelemetryBody::parse(t->to_json(), 1000);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->points[0].labels, expected);
    // Integer values are numbers too.
    json::object ip = point();
    ip["value"] = -3;
    EXPECT_TRUE(proto::TelemetryBody::parse(telemetry_with({ip}), 1).ok());
}

TEST(Telemetry, BatchBounds) {
    expect_error(proto::TelemetryBody::parse(telemetry_with({}), 10), "must not be empty");
    json::array three{point(), point(), point()};
    EXPECT_TRUE(proto::TelemetryBody::parse(telemetry_with(three), 3).ok());
    expect_error(proto::TelemetryBody::parse(telemetry_with(three), 2), "max_batch_points");
    expect_error(proto::TelemetryBody::parse(json::object{{"points", json::array{point()}}}, 3),
                 "telemetry.batch_id is required");
    expect_error(proto::TelemetryBody::parse(json::object{{"batch_id", "b"}}, 3),
                 "telemetry.points is required");
}

TEST(Telemetry, PointErrors) {
    auto with = [](std::string_view field, json::value v) {
        json::object p = point();
        p[field] = std::move(v);
        return proto::TelemetryBody::parse(telemetry_with({point(), p}), 10);
    };
    expect_error(with("metric", "1bad"), "telemetry.points[1].metric");
    expect_error(with("metric", 5), "telemetry.points[1].metric");
    expect_error(with("value", "1"), "finite number");
    expect_error(with("value", std::numeric_limits<double>::infinity()), "finite number");
    expect_error(with("value", std::nan("")), "finite number");
    expect_error(with("value", nullptr), "finite number");
    expect_error(with("ts", 1.5), "telemetry.points[1].ts");
    expect_error(with("labels", json::array{}), "labels must be an object");
    expect_error(with("labels", json::object{{"9x", "v"}}), "name must match");
    expect_error(with("labels", json::object{{"a", 1}}), "values must be strings");
    expect_error(with("labels", json::object{{"a", std::string(257, 'v')}}), "256 characters");
    EXPECT_TRUE(with("labels", json::object{{"a", std::string(256, 'v')}}).ok());
    // 256 characters of two bytes each are 256 characters, not 512.
    std::string wide;
    for (int i = 0; i < 256; ++i) {
        wide += "\xc3\xa9";
    }
    EXPECT_TRUE(with("labels", json::object{{"a", wide}}).ok());
    json::object many;
    for (int i = 0; i < 17; ++i) {
        many["l" + std::to_string(i)] = "v";
    }
    expect_error(with("labels", many), "16 entries");
    many.erase("l16");
    EXPECT_TRUE(with("labels", many).ok());
    expect_error(proto::TelemetryBody::parse(telemetry_with({1}), 10),
                 "telemetry.points[0] must be an object");
}

TEST(Backend, WelcomeCommandAcksError) {
    proto::WelcomeBody w;
    w.session_id = kUuid;
    w.host_id = "host-a";
    w.server_time = 5;
    w.heartbeat_s = 15;
    auto wp = proto::WelcomeBody::parse(w.to_json());
    ASSERT_TRUE(wp.ok()) << wp.status().message();
    EXPECT_EQ(wp->heartbeat_s, 15);
    EXPECT_EQ(wp->max_frame_bytes, 1 << 20);
    json::object wb = w.to_json();
    wb["heartbeat_s"] = 0;
    expect_error(proto::WelcomeBody::parse(wb), "welcome.heartbeat_s");
    wb = w.to_json();
    wb["limits"].as_object()["max_batch_points"] = "many";
    expect_error(proto::WelcomeBody::parse(wb), "welcome.limits.max_batch_points");

    proto::CommandBody c;
    c.command_id = kUuid;
    c.name = "builtin.echo";
    c.args = json::object{{"text", "hi"}};
    c.issued_at = 10;
    c.deadline = 20;
    auto cp = proto::CommandBody::parse(c.to_json());
    ASSERT_TRUE(cp.ok()) << cp.status().message();
    EXPECT_EQ(cp->args, c.args);
    EXPECT_EQ(cp->attempt, 1);
    json::object cb = c.to_json();
    cb["attempt"] = 0;
    expect_error(proto::CommandBody::parse(cb), "command.attempt");
    cb = c.to_json();
    cb.erase("args");
    expect_error(proto::CommandBody::parse(cb), "command.args is required");

    proto::TelemetryAckBody ta{"b-1", 3, 2};
    auto tap = proto::TelemetryAckBody::parse(ta.to_json());
    ASSERT_TRUE(tap.ok());
    EXPECT_EQ(tap->duplicates, 2);
    expect_error(proto::TelemetryAckBody::parse(
                     json::object{{"batch_id", "b"}, {"accepted", -1}, {"duplicates", 0}}),
                 "telemetry_ack.accepted");

    proto::ErrorBody e{4401, "bad signature", std::nullopt, true};
    json::object ej = e.to_json();
    EXPECT_TRUE(ej.at("ref").is_null());
    auto ep = proto::ErrorBody::parse(ej);
    ASSERT_TRUE(ep.ok());
    EXPECT_EQ(ep->code, 4401);
    EXPECT_TRUE(ep->fatal);
    EXPECT_FALSE(ep->ref.has_value());
    e.ref = kUuid;
    EXPECT_EQ(proto::ErrorBody::parse(e.to_json())->ref, kUuid);
    ej["code"] = 99;
    expect_error(proto::ErrorBody::parse(ej), "error.code");

    auto bb = proto::parse_backend_body("command", c.to_json());
    ASSERT_TRUE(bb.ok());
    EXPECT_TRUE(std::holds_alternative<proto::CommandBody>(*bb));
    auto ab = proto::parse_agent_body("result", result_body(), 10);
    ASSERT_TRUE(ab.ok());
    EXPECT_TRUE(std::holds_alternative<proto::ResultBody>(*ab));
    expect_error(proto::parse_agent_body("telemetry", telemetry_with({}), 10), "telemetry.points");
}
