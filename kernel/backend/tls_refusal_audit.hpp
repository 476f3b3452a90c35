#pragma once
// Refused mutual-TLS handshakes on the agent listener, in the audit trail but bounded
// (docs/audit.md, "tls.refused"). A refusal happens before any identity exists, so an
// unauthenticated peer decides how many there are: recording each one would let a
// scanner fill the hash-chained trail. Refusals are therefore aggregated per
// (remote IP, reason): the first of a key is recorded at once (count 1), later ones are
// counted and written as one record per key when the key's window ends, only if any
// came. A key with nothing in a whole window leaves the table (its next refusal is
// recorded at once again). The table is bounded; once full, new sources are counted in
// one overflow key per reason (remote "*"): counts are never dropped, and records stay
// bounded (per window, at most one per key: max_keys + one overflow key per reason,
// besides the record at once of a key that is new).
//
// Pure C++ (no Asio): the listener reports through a callback, the backend drives
// tick() from its scheduler and flush() at stop.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <agenthost/audit.hpp>
#include <agenthost/scheduler.hpp>

namespace agenthost::backend {

class TlsRefusalAudit {
public:
    struct Options {
        std::chrono::seconds window{60};
        std::size_t max_keys = 1024;  // sources tracked one by one (overflow keys aside)
    };

    // `sink` and `clock` must outlive this object. record() is called without this
    // object's lock held (the sink may take its own).
    TlsRefusalAudit(sdk::AuditSink& sink, const sdk::Clock& clock, Options options);
    TlsRefusalAudit(sdk::AuditSink& sink, const sdk::Clock& clock)
        : TlsRefusalAudit(sink, clock, Options{}) {}
    TlsRefusalAudit(const TlsRefusalAudit&) = delete;
    TlsRefusalAudit& operator=(const TlsRefusalAudit&) = delete;

    // One refused handshake. `reason` is the class (no_client_certificate,
    // certificate_rejected, handshake_timeout, protocol_error), `detail` a short text.
    // Any thread; never blocks beyond a map update (and, for a new key, the sink's
    // asynchronous record()).
    void note(std::string_view remote_ip, std::string_view reason, std::string_view detail);
    // Closes every window that has ended: writes its record if refusals were counted,
    // else forgets the key. Call periodically (more often than the window).
    void tick();
    // Writes every pending count now, whatever its window (stop: nothing counted is
    // lost). Keys stay, with nothing pending.
    void flush();

    // Keys in the table, overflow keys included.
    std::size_t keys() const;
    const Options& options() const noexcept { return options_; }

    // The overflow source name.
    static constexpr const char* overflow_remote = "*";

private:
    struct Entry {
        std::int64_t window_start_ms = 0;  // steady ms
        bool overflow = false;
        std::uint64_t pending = 0;       // refusals since the last record
        std::int64_t first_seen_ms = 0;  // unix ms of the first pending refusal
        std::int64_t last_seen_ms = 0;
        std::string detail;  // last seen
    };
    using Key = std::pair<std::string, std::string>;  // (remote, reason)

    sdk::AuditEvent event(const Key& key, std::uint64_t count, std::int64_t first_ms,
                          std::int64_t last_ms, const std::string& detail) const;
    // Moves the pending count of `e` into a record (caller holds mu_).
    sdk::AuditEvent take(const Key& key, Entry& e) const;
    std::int64_t steady_ms() const;
    void write(std::vector<sdk::AuditEvent> events);

    sdk::AuditSink& sink_;
    const sdk::Clock& clock_;
    const Options options_;
    mutable std::mutex mu_;
    std::map<Key, Entry> table_;
    std::size_t sources_ = 0;  // keys in table_ that are not overflow keys
};

// Drives TlsRefusalAudit::tick() every `period` on the scheduler until stop(), which
// then flushes what is still counted (backend stop, after the listener has drained).
class TlsRefusalTicker {
public:
    TlsRefusalTicker(sdk::Scheduler& scheduler, std::shared_ptr<TlsRefusalAudit> refusals,
                     std::chrono::milliseconds period);
    ~TlsRefusalTicker();
    TlsRefusalTicker(const TlsRefusalTicker&) = delete;
    TlsRefusalTicker& operator=(const TlsRefusalTicker&) = delete;

    // Cancels the tick and flushes every pending count. Idempotent; any thread.
    void stop();

private:
    struct State;
    static void arm(const std::shared_ptr<State>& st);
    std::shared_ptr<State> state_;
};

}  // namespace agenthost::backend
