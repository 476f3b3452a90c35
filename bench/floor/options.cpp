#include "bench/floor/options.hpp"

#include <charconv>
#include <cstring>
#include <string_view>

namespace echo_floor {

const char* const usage_text =
    "usage: echo_floor server --port P [--threads N] [TLS]\n"
    "       echo_floor client --port P [--host IPV4] [--connections N] [--threads M]\n"
    "                         [--payload BYTES] [--warmup S] [--duration S]\n"
    "                         [--status-file FILE] [TLS]\n"
    "  TLS (mutual TLS 1.3; all three or none for plain TCP):\n"
    "       --cert FILE --key FILE --ca FILE\n"
    "  The server echoes every byte; --port 0 picks a free port. It prints\n"
    "  'listening PORT' when ready and runs until SIGINT/SIGTERM.\n"
    "  The client keeps one message in flight per connection, rewrites\n"
    "  {\"elapsed_s\", \"round_trips\"} to --status-file every second and prints one\n"
    "  JSON object at the end. Defaults: 1 thread, 100 connections, 256 bytes,\n"
    "  2 s warm-up, 10 s measured.\n";

namespace {

template <typename T>
T number(std::string_view flag, std::string_view text, T min, T max) {
    T v{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < min || v > max) {
        throw UsageError(std::string(flag) + ": '" + std::string(text) + "' is not a number in [" +
                         std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return v;
}

}  // namespace

Options parse_options(int argc, char** argv) {
    Options o;
    if (argc < 2 || (std::strcmp(argv[1], "server") != 0 && std::strcmp(argv[1], "client") != 0)) {
        throw UsageError("the first argument must be 'server' or 'client'");
    }
    o.server = std::strcmp(argv[1], "server") == 0;
    bool port_given = false;
    for (int i = 2; i < argc; i += 2) {
        std::string_view flag = argv[i];
        if (i + 1 >= argc) {
            throw UsageError(std::string(flag) + " needs a value");
        }
        std::string_view v = argv[i + 1];
        if (flag == "--port") {
            o.port = number<unsigned>(flag, v, o.server ? 0 : 1, 65535);
            port_given = true;
        } else if (flag == "--threads") {
            o.threads = number<unsigned>(flag, v, 1, 256);
        } else if (flag == "--cert") {
            o.cert = v;
        } else if (flag == "--key") {
            o.key = v;
        } else if (flag == "--ca") {
            o.ca = v;
        } else if (o.server) {
            throw UsageError("unknown server option " + std::string(flag));
        } else if (flag == "--host") {
            o.host = v;
        } else if (flag == "--connections") {
            o.connections = number<unsigned>(flag, v, 1, 100000);
        } else if (flag == "--payload") {
            o.payload = number<std::size_t>(flag, v, 1, 1 << 20);
        } else if (flag == "--warmup") {
            o.warmup_s = number<double>(flag, v, 0, 3600);
        } else if (flag == "--duration") {
            o.duration_s = number<double>(flag, v, 0.1, 3600);
        } else if (flag == "--status-file") {
            o.status_file = v;
        } else {
            throw UsageError("unknown client option " + std::string(flag));
        }
    }
    if (!port_given) {
        throw UsageError("--port is required");
    }
    if ((o.cert.empty() != o.key.empty()) || (o.cert.empty() != o.ca.empty())) {
        throw UsageError("--cert, --key and --ca go together (all three for TLS, none for TCP)");
    }
    return o;
}

}  // namespace echo_floor
