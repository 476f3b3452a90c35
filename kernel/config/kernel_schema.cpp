#include "kernel/config/kernel_schema.hpp"

#include <cstdint>

namespace agenthost::config {

namespace json = sdk::json;
using sdk::Field;
using sdk::FileCheck;
using sdk::Schema;

namespace {

json::value num(std::int64_t v) {
    return json::value(v);
}

Field endpoint(const char* key, const char* address, std::int64_t port, const char* what) {
    return sdk::object_field(
               key, {sdk::string_field("address")
                         .describe(std::string("bind address of the ") + what)
                         .range(1, 255)
                         .fallback(json::value(address)),
                     sdk::integer_field("port")
                         .describe(std::string("TCP port of the ") + what + " (0: any, tests)")
                         .range(0, 65535)
                         .fallback(num(port))})
        .describe(what);
}

Field listen_section() {
    return sdk::object_field(
               "listen",
               {endpoint("agents", "0.0.0.0", 8444, "agent WSS listener (mTLS)"),
                endpoint("admin", "127.0.0.1", 8443, "operator HTTPS API listener"),
                endpoint("health", "127.0.0.1", 9090, "plain HTTP health/metrics listener")})
        .describe("listening endpoints");
}

Field tls_section() {
    return sdk::object_field(
               "tls", {sdk::string_field("cert")
                           .describe("server certificate chain (PEM)")
                           .mandatory()
                           .check_file(FileCheck::readable_file),
                       sdk::string_field("key")
                           .describe("server private key (PEM), mode 0600")
                           .mandatory()
                           .check_file(FileCheck::private_file),
                       sdk::string_field("client_ca")
                           .describe("CA bundle that agent client certificates must chain to")
                           .mandatory()
                           .check_file(FileCheck::readable_file),
                       sdk::string_field("min_version")
                           .describe("minimum TLS version")
                           .choices({"1.2", "1.3"})
                           .fallback(json::value("1.3")),
                       sdk::string_field("admin_cert")
                           .describe("certificate of the operator API listener (default: cert)")
                           .check_file(FileCheck::readable_file),
                       sdk::string_field("admin_key")
                           .describe("private key of the operator API listener (default: key)")
                           .check_file(FileCheck::private_file)})
        .describe("backend TLS: server certificate and agent CA");
}

Field protocol_section() {
    return sdk::object_field(
               "protocol",
               {sdk::integer_field("max_frame_bytes")
                    .describe("largest accepted message payload (bytes)")
                    .range(1024, 64 << 20)
                    .fallback(num(1 << 20)),
                sdk::integer_field("max_skew_s")
                    .describe("allowed clock skew of a message timestamp (s)")
                    .range(1, 3600)
                    .fallback(num(30)),
                sdk::integer_field("replay_window_s")
                    .describe("nonce replay window (s), at least 2 x max_skew_s")
                    .range(2, 86400)
                    .fallback(num(60)),
                sdk::integer_field("max_batch_points")
                    .describe("largest telemetry batch (points)")
                    .range(1, 100000)
                    .fallback(num(1000)),
                sdk::integer_field("heartbeat_s")
                    .describe("WebSocket ping interval (s)")
                    .range(1, 3600)
                    .fallback(num(30)),
                sdk::integer_field("hello_timeout_s")
                    .describe("time allowed for the hello after the upgrade (s)")
                    .range(1, 300)
                    .fallback(num(10)),
                sdk::integer_field("idle_timeout_s")
                    .describe("drop a silent peer after this long (s), at least heartbeat_s")
                    .range(1, 86400)
                    .fallback(num(90)),
                sdk::integer_field("lease_s")
                    .describe("session lease duration (s)")
                    .range(1, 86400)
                    .fallback(num(90))})
        .describe("agent protocol limits and timers");
}

Field gateway_section() {
    return sdk::object_field(
               "gateway",
               {sdk::string_field("agent_id")
                    .describe("this gateway's agent id (its certificate CN)")
                    .mandatory()
                    .matches(agent_id_pattern),
                sdk::string_field("url")
                    .describe("backend URL, wss://host:port/agent/v1")
                    .mandatory()
                    .matches("^wss://[^\\s]+$"),
                sdk::string_field("ca")
                    .describe("CA bundle the backend certificate must chain to")
                    .mandatory()
                    .check_file(FileCheck::readable_file),
                sdk::string_field("cert")
                    .describe("client certificate (PEM)")
                    .mandatory()
                    .check_file(FileCheck::readable_file),
                sdk::string_field("key")
                    .describe("client private key (PEM), mode 0600")
                    .mandatory()
                    .check_file(FileCheck::private_file),
                sdk::list_field("pins", sdk::string_field("pin").matches(pin_pattern))
                    .describe("SPKI pin set of the backend (current + next)")
                    .mandatory()
                    .range(1, 16),
                sdk::string_field("kid")
                    .describe("key id of the per-agent HMAC key")
                    .mandatory()
                    .matches(kid_pattern),
                sdk::string_field("key_file")
                    .describe("per-agent HMAC key (base64, from `keys derive`), mode 0600")
                    .mandatory()
                    .check_file(FileCheck::private_file),
                sdk::object_field("reconnect", {sdk::integer_field("initial_ms")
                                                    .describe("first reconnect backoff (ms)")
                                                    .range(1, 600000)
                                                    .fallback(num(500)),
                                                sdk::integer_field("max_ms")
                                                    .describe("largest reconnect backoff (ms)")
                                                    .range(1, 3600000)
                                                    .fallback(num(30000))})
                    .describe("reconnect backoff (full jitter)"),
                sdk::object_field("executor", {sdk::integer_field("concurrency")
                                                   .describe("commands running at once")
                                                   .range(1, 256)
                                                   .fallback(num(4)),
                                               sdk::integer_field("output_cap_bytes")
                                                   .describe("largest command output kept (bytes)")
                                                   .range(1024, 64 << 20)
                                                   .fallback(num(64 * 1024)),
                                               sdk::integer_field("max_queue")
                                                   .describe("commands waiting at most")
                                                   .range(1, 1000000)
                                                   .fallback(num(256))})
                    .describe("the single command executor"),
                sdk::object_field("spool", {sdk::integer_field("max_bytes")
                                                .describe("on-disk spool bound (bytes)")
                                                .range(1 << 20, std::int64_t{1} << 40)
                                                .fallback(num(std::int64_t{256} << 20))})
                    .describe("results/telemetry spool while the link is down"),
                endpoint("health", "127.0.0.1", 9091,
                         "gateway's plain HTTP /livez, /readyz and /metrics listener")})
        .describe("gateway role: the link to the backend");
}

// Resource guards (docs/guards.md). Every default is safe for production; tests
// shrink them. Each one is visible in /metrics.
Field limits_section() {
    auto limit = [](const char* key, const char* what, std::int64_t lo, std::int64_t hi,
                    std::int64_t def) {
        return sdk::integer_field(key).describe(what).range(lo, hi).fallback(num(def));
    };
    return sdk::object_field(
               "limits",
               {limit("max_connections",
                      "agent connections at once, handshakes included (refused above)", 1,
                      1000000, 10000),
                limit("write_queue", "queued outgoing frames per session", 1, 1000000, 1024),
                limit("max_connections_per_ip", "agent connections at once from one address",
                      1, 1000000, 1000),
                limit("handshake_rate",
                      "new agent connections accepted per second, before any TLS work", 1,
                      1000000, 100),
                limit("handshake_burst", "handshake token bucket size", 1, 1000000, 200),
                limit("write_queue_bytes", "bytes queued for writing per session", 65536,
                      std::int64_t{1} << 32, std::int64_t{16} << 20),
                limit("write_stall_s",
                      "a session whose write queue stays full this long is dropped (s)", 1, 3600,
                      30),
                limit("message_rate", "messages per second a peer may send (close 4429 above)",
                      1, 1000000, 1000),
                limit("message_burst", "message token bucket size", 1, 1000000, 2000),
                limit("max_in_flight",
                      "commands sent to one agent without a result yet (more wait)", 1, 100000,
                      32),
                limit("memory_watermark_mb",
                      "process RSS (MiB) above which new sessions are closed 1013; 0: off", 0,
                      1 << 20, 4096)})
        .describe("resource limits (admission control and per-session guards)");
}

}  // namespace

Schema kernel_schema(std::string_view role) {
    const bool backend = role == "backend";
    const bool gateway = role == "gateway";

    Field listen = listen_section();
    Field tls = tls_section();
    Field keys =
        sdk::list_field(
            "keys",
            sdk::object_field(
                "key",
                {sdk::string_field("kid").describe("key id").mandatory().matches(kid_pattern),
                 sdk::string_field("file")
                     .describe("master key file, mode 0600")
                     .mandatory()
                     .check_file(FileCheck::private_file)}))
            .describe("HMAC master keys by kid")
            .at_least(1);
    Field operators =
        sdk::list_field("operators",
                        sdk::object_field("operator", {sdk::string_field("name")
                                                           .describe("operator name (audit)")
                                                           .mandatory()
                                                           .range(1, 128),
                                                       sdk::string_field("token_sha256")
                                                           .describe("SHA-256 (hex) of the token")
                                                           .mandatory()
                                                           .is_secret()}))
            .describe("operator bearer tokens, stored as SHA-256 hex")
            .at_least(1);
    Field gw = gateway_section();
    listen.required = backend;
    tls.required = backend;
    keys.required = backend;
    operators.required = backend;
    gw.required = gateway;

    return {
        sdk::string_field("role")
            .describe("backend or gateway")
            .mandatory()
            .choices({"backend", "gateway"}),
        sdk::string_field("host_id")
            .describe("this host's id (default: hostname)")
            .range(1, 253)
            .matches("^[A-Za-z0-9._-]+$"),
        sdk::string_field("state_dir")
            .describe("plugins keep their state in <state_dir>/<plugin>/")
            .fallback(json::value("/var/lib/agenthost"))
            .check_file(FileCheck::writable_directory),
        sdk::object_field("log", {sdk::string_field("level")
                                      .describe("log level")
                                      .choices({"trace", "debug", "info", "warn", "error"})
                                      .fallback(json::value("info")),
                                  sdk::string_field("format")
                                      .describe("log line format")
                                      .choices({"text", "json"})
                                      .fallback(json::value("text"))})
            .describe("logging"),
        sdk::object_field("threads", {sdk::integer_field("loop")
                                          .describe("event loop threads")
                                          .range(1, 64)
                                          .fallback(num(2)),
                                      sdk::integer_field("blocking")
                                          .describe("blocking pool threads")
                                          .range(1, 256)
                                          .fallback(num(4))})
            .describe("thread counts"),
        std::move(listen),
        std::move(tls),
        sdk::object_field("identity", {sdk::string_field("binding")
                                           .describe("where the agent id is read from")
                                           .choices({"cn", "uri_san"})
                                           .fallback(json::value("cn"))})
            .describe("agent identity binding"),
        std::move(keys),
        std::move(operators),
        protocol_section(),
        limits_section(),
        std::move(gw),
        sdk::object_field("audit",
                          {sdk::bool_field("fail_closed")
                               .describe("refuse audited actions (API 503, new sessions 1013) "
                                         "while the audit sink cannot write; needs a keyed "
                                         "audit plugin")
                               .fallback(json::value(false))})
            .describe("kernel auditing policy"),
        // Existence is checked after ${exe_dir} expansion (kernel_rules.cpp).
        sdk::list_field("plugin_paths", sdk::string_field("dir").range(1, 4096))
            .describe("directories searched for agenthost_<name>.so (${exe_dir}/.. allowed)"),
    };
}

Schema plugin_entry_schema() {
    return {
        sdk::bool_field("enabled").describe("load this plugin").fallback(json::value(true)),
        // Existence is checked after ${exe_dir} expansion (kernel_rules.cpp).
        sdk::string_field("path")
            .describe("explicit library path (default: searched in plugin_paths)")
            .range(1, 4096),
    };
}

}  // namespace agenthost::config
