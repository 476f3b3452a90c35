#pragma once
// apiload's run: C keep-alive HTTPS connections to the operator API enqueue `count`
// commands round-robin over the agents, paced at `rate` (or as fast as they can),
// then poll every command until it is terminal. Round trips come from the server's
// own timestamps (created_at → updated_at, i.e. enqueued → result stored and command
// completed), so the polling cadence never inflates them. Asio stays in driver.cpp.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "tools/agentsim/histogram.hpp"

namespace agenthost::apiload {

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string trust;       // CA file that verifies the API's certificate
    std::string token_file;  // operator bearer token (first line)
    std::string prefix = "sim-";
    std::size_t agents = 1;
    std::size_t first = 0;  // agent ids: prefix + six-digit (first + i % agents)
    std::string command = "builtin.echo";
    std::size_t count = 1000;  // commands to enqueue
    std::size_t warmup = 0;    // the first `warmup` commands are left out of the histograms
    double rate = 0;           // commands/s over all connections; 0 = as fast as possible
    std::size_t connections = 4;
    unsigned threads = 1;
    double timeout_s = 120;  // whole run (enqueue + completion); then report what is done
    double poll_ms = 20;     // a non-terminal command is polled again after this
    std::string json_file;
    bool quiet = false;
};

struct Report {
    std::size_t enqueued = 0;    // 202/200 answers
    std::size_t retried = 0;     // 429 answers (retried after Retry-After-ish delay)
    std::size_t rejected = 0;    // other HTTP errors (command given up)
    std::size_t io_errors = 0;   // connection failures (request retried on a new connection)
    std::size_t polls = 0;       // GETs
    std::size_t unfinished = 0;  // never reached a terminal state before the timeout
    std::map<std::string, std::size_t> states;  // terminal state -> count
    double enqueue_s = 0;          // first POST sent → last POST answered (client clock)
    double total_s = 0;            // start → last command seen terminal (client clock)
    double server_window_s = 0;    // min created_at → max updated_at of measured commands
    std::size_t measured = 0;      // terminal commands after the warm-up
    agentsim::Histogram post_us;   // POST → answer, µs (client clock)
    agentsim::Histogram round_us;  // created_at → updated_at, µs (server clock, ms resolution)
};

// Runs to completion (or timeout); an error string when it could not start.
std::string run(const Options& o, Report& report);

}  // namespace agenthost::apiload
