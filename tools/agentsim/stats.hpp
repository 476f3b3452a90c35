#pragma once
// Counters and histograms. Each I/O thread owns one ThreadStats (relaxed atomics, so
// the status writer may read them while the thread runs); the report merges them.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tools/agentsim/histogram.hpp"
#include "tools/agentsim/options.hpp"

namespace agenthost::agentsim {

// Written only by the owning I/O thread, read by others: a relaxed load and store
// instead of a locked read-modify-write (several per message on the hot path).
struct Counter {
    std::atomic<std::uint64_t> v{0};
    void inc(std::uint64_t n = 1) noexcept {
        v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void dec() noexcept {
        v.store(v.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

struct ThreadStats {
    Counter attempts;        // connection attempts (TCP connect started)
    Counter tcp_errors;      // connect failed
    Counter tls_errors;      // TLS handshake failed
    Counter upgrade_errors;  // HTTP upgrade refused / failed, or bad handshake reply
    Counter tls_ok;          // TLS handshakes completed
    Counter upgraded;        // WebSocket sessions established
    Counter welcomed;        // welcome received (agent mode)
    Counter open;            // currently open sessions / held connections
    Counter handshakes;      // handshake mode: completed request cycles
    Counter telemetry_sent;
    Counter telemetry_acks;
    Counter points_sent;
    Counter points_accepted;
    Counter points_duplicate;
    Counter telemetry_skipped;  // open loop: a tick found the in-flight cap reached
    Counter echo_sent;
    Counter echo_received;
    Counter commands;           // command frames received
    Counter commands_unique;    // first deliveries of a command_id (executed)
    Counter commands_redelivered;
    Counter results_sent;
    Counter result_acks;
    Counter error_frames;
    Counter verify_failures;

    // Owned by the thread; merged after it stopped.
    Histogram connect_us;    // connect start -> welcome / TLS done / response
    Histogram rtt_us;        // telemetry -> telemetry_ack, or ws-echo round trip
    Histogram measured_rtt;  // same, recorded only inside the measurement window

    void add_close(std::uint16_t code);
    std::map<std::uint16_t, std::uint64_t> closes() const;

private:
    mutable std::mutex mu_;
    std::map<std::uint16_t, std::uint64_t> closes_;
};

struct Totals {
    std::uint64_t attempts = 0, tcp_errors = 0, tls_errors = 0, upgrade_errors = 0, tls_ok = 0,
                  upgraded = 0, welcomed = 0, open = 0, handshakes = 0, telemetry_sent = 0,
                  telemetry_acks = 0, points_sent = 0, points_accepted = 0, points_duplicate = 0,
                  telemetry_skipped = 0, echo_sent = 0, echo_received = 0, commands = 0,
                  commands_unique = 0, commands_redelivered = 0, results_sent = 0,
                  result_acks = 0, error_frames = 0, verify_failures = 0;
    std::map<std::uint16_t, std::uint64_t> closes;
};

Totals sum(const std::vector<const ThreadStats*>& stats);

// Times in seconds since the run started.
struct Timeline {
    double ramp_end_s = 0;      // when the last agent was launched and settled
    double measure_start_s = 0; // ramp end + warmup
    double end_s = 0;
    double first_connect_s = -1;  // first session established / handshake completed
    double last_connect_s = -1;   // last one
};

struct Report {
    Options options;
    unsigned threads = 0;
    double mint_s = 0;       // time spent minting certificates
    double mint_per_s = 0;
    Totals totals;
    Totals at_measure_start;  // counters when the measurement window opened
    Histogram connect_us;
    Histogram rtt_us;
    Histogram measured_rtt;
    Timeline timeline;
};

std::string status_json(const Totals& t, double elapsed_s);
std::string report_json(const Report& r);
std::string report_table(const Report& r);

}  // namespace agenthost::agentsim
