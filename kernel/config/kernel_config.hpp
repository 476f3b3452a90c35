#pragma once
// The kernel's typed configuration, produced from YAML by the fail-closed loader
// (kernel/config/loader.cpp) after schema and cross-field validation. Plugins' own
// sections stay opaque here: the plugin loader validates them against each
// plugin's schema.
//
// YAML shape (both roles; `role` selects which sections are required/allowed):
//
//   role: backend | gateway
//   host_id: backend-1                 # default: hostname
//   state_dir: /var/lib/agenthost      # plugins get <state_dir>/<plugin>/
//   log: { level: info, format: text|json }
//   threads: { loop: 2, blocking: 4 }
//   listen:                            # backend only
//     agents: { address: 0.0.0.0, port: 8444 }   # WSS (mTLS)
//     admin:  { address: 127.0.0.1, port: 8443 } # HTTPS operator API
//     health: { address: 127.0.0.1, port: 9090 } # plain HTTP
//   tls:                               # backend: server cert + agent CA
//     cert: FILE  key: FILE(private)  client_ca: FILE
//     min_version: "1.3" | "1.2"
//     admin_cert/admin_key: FILE (optional; default cert/key)
//   identity: { binding: cn | uri_san }
//   keys:                              # backend: master keys by kid
//     - { kid: k1, file: FILE(private) }
//   operators:                         # backend: SHA-256 hex of bearer tokens
//     - { name: alice, token_sha256: <64 hex> }
//   protocol:
//     max_frame_bytes: 1048576  max_skew_s: 30  replay_window_s: 60
//     max_batch_points: 1000    heartbeat_s: 30  hello_timeout_s: 10
//     idle_timeout_s: 90        lease_s: 90
//   limits: { max_connections: 10000, write_queue: 1024, max_connections_per_ip: 1000,
//             handshake_rate: 100, handshake_burst: 200, write_queue_bytes: 16777216,
//             write_stall_s: 30, message_rate: 1000, message_burst: 2000,
//             max_in_flight: 32, memory_watermark_mb: 4096 }
//   gateway:                           # gateway only
//     agent_id: gw-01
//     url: wss://127.0.0.1:8444/agent/v1
//     ca: FILE  cert: FILE  key: FILE(private)
//     pins: [ "sha256/..." ]           # current + next
//     kid: k1   key_file: FILE(private)   # derived per-agent key (base64)
//     reconnect: { initial_ms: 500, max_ms: 30000 }
//     executor: { concurrency: 4, output_cap_bytes: 65536, max_queue: 256 }
//     spool: { max_bytes: 268435456 }
//     health: { address: 127.0.0.1, port: 9091 }  # plain HTTP /livez /readyz /metrics
//   audit: { fail_closed: false }       # true: refuse what cannot be audited
//   plugin_paths: [ DIR, ... ]          # searched for agenthost_<name>.so
//   plugins:
//     <name>: { enabled: true, path: FILE (optional), config: { ... } }

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include <agenthost/status.hpp>

namespace agenthost::config {

struct Endpoint {
    std::string address;
    std::uint16_t port = 0;
};

struct TlsConfig {
    std::string cert;
    std::string key;
    std::string client_ca;  // backend: CA for agent client certs
    std::string min_version = "1.3";
    std::string admin_cert;  // empty: use cert
    std::string admin_key;
};

struct OperatorToken {
    std::string name;
    std::string token_sha256;  // lower-case hex
};

struct ProtocolConfig {
    std::size_t max_frame_bytes = 1 << 20;
    std::int64_t max_skew_s = 30;
    std::int64_t replay_window_s = 60;
    std::size_t max_batch_points = 1000;
    std::int64_t heartbeat_s = 30;
    std::int64_t hello_timeout_s = 10;
    std::int64_t idle_timeout_s = 90;
    std::int64_t lease_s = 90;
};

struct LimitsConfig {
    std::size_t max_connections = 10000;
    std::size_t write_queue = 1024;
    // Resource guards (docs/guards.md); every one is visible in /metrics.
    std::size_t max_connections_per_ip = 1000;  // per source address, handshakes included
    std::size_t handshake_rate = 100;           // accepted connections per second (token bucket)
    std::size_t handshake_burst = 200;          // bucket size
    std::size_t write_queue_bytes = 16u << 20;  // bytes queued per session
    std::int64_t write_stall_s = 30;            // queue full this long → slow reader dropped
    std::size_t message_rate = 1000;            // messages per second per session (→ 4429)
    std::size_t message_burst = 2000;
    std::size_t max_in_flight = 32;             // commands sent to one agent, no result yet
    std::size_t memory_watermark_mb = 4096;     // RSS above → new sessions closed 1013; 0: off
};

struct GatewayConfig {
    std::string agent_id;
    std::string url;
    std::string ca;
    std::string cert;
    std::string key;
    std::vector<std::string> pins;
    std::string kid;
    std::string key_file;
    std::int64_t reconnect_initial_ms = 500;
    std::int64_t reconnect_max_ms = 30000;
    unsigned executor_concurrency = 4;
    std::size_t output_cap_bytes = 64 * 1024;
    std::size_t executor_max_queue = 256;
    std::size_t spool_max_bytes = 256u << 20;
    Endpoint health{"127.0.0.1", 9091};  // plain /livez /readyz /metrics listener
};

// The kernel side of auditing (the sink itself is the "audit" plugin).
struct AuditKernelConfig {
    // Refuse audited actions (API 503, new sessions 1013, no dispatch) while the audit
    // sink cannot write. Requires a keyed audit plugin (key_file). Production: true.
    bool fail_closed = false;
};

struct PluginEntry {
    std::string name;
    bool enabled = true;
    std::string path;        // explicit library path, else searched in plugin_paths
    YAML::Node config;       // raw section, validated by the plugin loader
    std::string yaml_path;   // "plugins.<name>.config"
};

struct KernelConfig {
    std::string source_path;  // absolute path of the config file
    std::string config_dir;   // its directory: relative paths (plugin sections too) resolve here
    std::string role;  // "backend" | "gateway"
    std::string host_id;
    std::string state_dir;
    std::string log_level = "info";
    std::string log_format = "text";
    unsigned loop_threads = 2;
    unsigned blocking_threads = 4;
    Endpoint listen_agents{"0.0.0.0", 8444};
    Endpoint listen_admin{"127.0.0.1", 8443};
    Endpoint listen_health{"127.0.0.1", 9090};
    TlsConfig tls;
    std::string identity_binding = "cn";
    std::map<std::string, std::string> master_key_files;  // kid → file
    std::vector<OperatorToken> operators;
    ProtocolConfig protocol;
    LimitsConfig limits;
    GatewayConfig gateway;
    AuditKernelConfig audit;
    std::vector<std::string> plugin_paths;
    std::vector<PluginEntry> plugins;
};

}  // namespace agenthost::config
