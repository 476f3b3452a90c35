#pragma once
// agentsim's command line. The flags are a stable interface: the benchmark scripts
// and the scale test drive agentsim through them.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace agenthost::agentsim {

enum class Mode {
    agent,      // full gateway protocol over mTLS WebSocket (default)
    tls_hold,   // TCP + mutual-TLS handshake, then hold the connection idle
    handshake,  // loop: connect, full mTLS handshake, one HTTP request, close
    ws_echo,    // plain ws:// client: send a frame-sized text, wait for its echo
};

struct Options {
    Mode mode = Mode::agent;
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string path = "/agent/v1";

    std::string ca_cert;  // CA that signs the minted agent certificates
    std::string ca_key;
    std::string trust;    // CA that verifies the server (default: ca_cert)
    std::string master;   // HMAC master key file (agent mode)
    std::string kid = "k1";

    std::string prefix = "sim-";
    std::size_t agents = 1;
    std::size_t first = 0;  // agent ids are <prefix><first + i>, zero-padded to 6 digits
    double ramp = 0;        // new connections per second; 0 = as fast as allowed
    std::size_t max_pending = 256;  // connections being set up at once, whole process
    double duration_s = 0;          // after the ramp; 0 = until a signal or a stop condition
    double warmup_s = 0;            // after the ramp, excluded from rates and histograms
    unsigned threads = 0;           // 0 = hardware concurrency

    double telemetry_rate = 0;  // batches per second per agent (open loop)
    std::size_t points = 1;     // points per batch
    std::size_t echo = 0;       // closed-loop telemetry round trips in flight per agent
    std::size_t sources = 0;    // >0: bind to 127.0.0.2 .. 127.0.0.(sources+1)
    bool reconnect = false;     // reconnect closed agents (backoff 0.5..5 s)
    bool shared_key = false;    // one EC key for every minted certificate
    std::size_t tls_buffer_bytes = 4096;  // received TLS bytes per connection; 0 = 17 KiB

    std::uint64_t stop_after_results = 0;  // stop once this many result_acks arrived
    std::string json_file;
    std::string status_file;  // rewritten every second while running
    bool quiet = false;
};

struct ParseOutcome {
    std::optional<Options> options;
    std::string error;  // non-empty: print with the usage, exit 2
    bool help = false;
};

ParseOutcome parse_options(int argc, char** argv);
const char* usage_text();
const char* mode_name(Mode mode);

}  // namespace agenthost::agentsim
