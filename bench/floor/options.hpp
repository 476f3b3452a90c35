// echo_floor's command line (see echo_floor.cpp).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace echo_floor {

extern const char* const usage_text;

struct Options {
    bool server = false;
    std::string host = "127.0.0.1";
    unsigned port = 0;
    unsigned threads = 1;
    unsigned connections = 100;
    std::size_t payload = 256;
    double warmup_s = 2;
    double duration_s = 10;
    std::string status_file;
    std::string cert, key, ca;

    bool tls() const { return !cert.empty(); }
};

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Throws UsageError naming the flag at fault.
Options parse_options(int argc, char** argv);

}  // namespace echo_floor
