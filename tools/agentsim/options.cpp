#include "tools/agentsim/options.hpp"

#include <charconv>
#include <functional>
#include <map>
#include <string_view>

namespace agenthost::agentsim {

namespace {

template <typename T>
bool parse_number(std::string_view text, T& out) {
    if constexpr (std::is_floating_point_v<T>) {
        try {
            std::size_t used = 0;
            double v = std::stod(std::string(text), &used);
            if (used != text.size() || v < 0) {
                return false;
            }
            out = static_cast<T>(v);
            return true;
        } catch (...) {
            return false;
        }
    } else {
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        return ec == std::errc() && ptr == text.data() + text.size();
    }
}

}  // namespace

const char* usage_text() {
    return "usage: agentsim --port PORT [options]\n"
           "\n"
           "Simulates N gateways (PROTOCOL.md) from one process and reports handshakes/s,\n"
           "close codes, round-trip percentiles and acks/s as a table (and --json FILE).\n"
           "\n"
           "target:\n"
           "  --host ADDR            server address (127.0.0.1)\n"
           "  --port PORT            server port (required)\n"
           "  --path PATH            WebSocket path (/agent/v1)\n"
           "  --mode MODE            agent | tls-hold | handshake | ws-echo (agent)\n"
           "credentials:\n"
           "  --ca-cert FILE --ca-key FILE   CA that signs the minted per-agent certificates\n"
           "  --trust FILE           CA that verifies the server (default --ca-cert)\n"
           "  --master FILE --kid K  HMAC master key (base64 file) and its kid (k1)\n"
           "  --shared-key           one EC key for all agent certificates (faster minting)\n"
           "fleet:\n"
           "  --agents N             simulated agents / concurrent connections (1)\n"
           "  --prefix P --first I   agent ids are P + zero-padded (I + n) (sim-, 0)\n"
           "  --ramp R               new connections per second, 0 = unthrottled (0)\n"
           "  --max-pending N        connection set-ups in flight at once (256)\n"
           "  --threads T            I/O threads, one io_context each (cores)\n"
           "  --sources N            bind to 127.0.0.2..127.0.0.(N+1) round-robin (0 = off)\n"
           "  --reconnect            reconnect agents whose session closed\n"
           "  --tls-buffer-bytes N   per-connection buffer of received TLS (4096; 0: 17 KiB)\n"
           "traffic:\n"
           "  --telemetry-rate R     telemetry batches/s per agent, open loop (0)\n"
           "  --points P             points per batch (1)\n"
           "  --echo K               closed-loop telemetry->telemetry_ack round trips in\n"
           "                         flight per agent (0 = off); ws-echo mode: frames in flight\n"
           "run:\n"
           "  --duration S           seconds to run after the ramp (0 = until signal/stop)\n"
           "  --warmup S             seconds after the ramp excluded from rates (0)\n"
           "  --stop-after-results N stop once N result_acks arrived\n"
           "  --json FILE            write the report as JSON\n"
           "  --status-file FILE     rewrite live counters (JSON) every second\n"
           "  --quiet                no progress lines on stderr\n";
}

const char* mode_name(Mode mode) {
    switch (mode) {
        case Mode::agent:
            return "agent";
        case Mode::tls_hold:
            return "tls-hold";
        case Mode::handshake:
            return "handshake";
        case Mode::ws_echo:
            return "ws-echo";
    }
    return "?";
}

ParseOutcome parse_options(int argc, char** argv) {
    ParseOutcome out;
    Options o;
    using Setter = std::function<bool(std::string_view)>;
    auto str = [](std::string& dst) { return Setter([&dst](std::string_view v) {
        dst = std::string(v);
        return !dst.empty();
    }); };
    auto num = [](auto& dst) {
        return Setter([&dst](std::string_view v) { return parse_number(v, dst); });
    };
    std::map<std::string_view, Setter> with_value{
        {"--host", str(o.host)},
        {"--port", num(o.port)},
        {"--path", str(o.path)},
        {"--ca-cert", str(o.ca_cert)},
        {"--ca-key", str(o.ca_key)},
        {"--trust", str(o.trust)},
        {"--master", str(o.master)},
        {"--kid", str(o.kid)},
        {"--prefix", str(o.prefix)},
        {"--agents", num(o.agents)},
        {"--first", num(o.first)},
        {"--ramp", num(o.ramp)},
        {"--max-pending", num(o.max_pending)},
        {"--duration", num(o.duration_s)},
        {"--warmup", num(o.warmup_s)},
        {"--threads", num(o.threads)},
        {"--telemetry-rate", num(o.telemetry_rate)},
        {"--points", num(o.points)},
        {"--echo", num(o.echo)},
        {"--sources", num(o.sources)},
        {"--tls-buffer-bytes", num(o.tls_buffer_bytes)},
        {"--stop-after-results", num(o.stop_after_results)},
        {"--json", str(o.json_file)},
        {"--status-file", str(o.status_file)},
        {"--mode", Setter([&o](std::string_view v) {
             static const std::map<std::string_view, Mode> modes{{"agent", Mode::agent},
                                                                  {"tls-hold", Mode::tls_hold},
                                                                  {"handshake", Mode::handshake},
                                                                  {"ws-echo", Mode::ws_echo}};
             auto it = modes.find(v);
             if (it == modes.end()) {
                 return false;
             }
             o.mode = it->second;
             return true;
         })},
    };
    std::map<std::string_view, bool*> flags{{"--reconnect", &o.reconnect},
                                            {"--shared-key", &o.shared_key},
                                            {"--quiet", &o.quiet}};
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string_view value;
        bool has_value = false;
        if (auto eq = arg.find('='); eq != std::string_view::npos && arg.starts_with("--")) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_value = true;
        }
        if (arg == "-h" || arg == "--help") {
            out.help = true;
            return out;
        }
        if (auto f = flags.find(arg); f != flags.end() && !has_value) {
            *f->second = true;
            continue;
        }
        auto it = with_value.find(arg);
        if (it == with_value.end()) {
            out.error = "unknown option '" + std::string(arg) + "'";
            return out;
        }
        if (!has_value) {
            if (i + 1 >= argc) {
                out.error = std::string(arg) + " needs a value";
                return out;
            }
            value = argv[++i];
        }
        if (!it->second(value)) {
            out.error = "bad value '" + std::string(value) + "' for " + std::string(arg);
            return out;
        }
    }
    if (o.port == 0) {
        out.error = "--port is required";
        return out;
    }
    if (o.agents == 0) {
        out.error = "--agents must be at least 1";
        return out;
    }
    if (o.mode != Mode::ws_echo && (o.ca_cert.empty() || o.ca_key.empty())) {
        out.error = "--ca-cert and --ca-key are required (except in ws-echo mode)";
        return out;
    }
    if (o.mode == Mode::agent && o.master.empty()) {
        out.error = "--master is required in agent mode";
        return out;
    }
    if (o.trust.empty()) {
        o.trust = o.ca_cert;
    }
    if (o.max_pending == 0 || o.points == 0) {
        out.error = "--max-pending and --points must be at least 1";
        return out;
    }
    if (o.tls_buffer_bytes != 0 && o.tls_buffer_bytes < 512) {
        out.error = "--tls-buffer-bytes is 0 or at least 512";
        return out;
    }
    if (o.sources > 250) {
        out.error = "--sources is at most 250";
        return out;
    }
    out.options = std::move(o);
    return out;
}

}  // namespace agenthost::agentsim
