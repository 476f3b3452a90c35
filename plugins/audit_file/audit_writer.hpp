#pragma once
// AuditFileWriter: the "audit" capability as an append-only JSON-lines file.
//
// record() only assigns the sequence number and timestamp and queues the record;
// the file is written on the blocking pool (never on the loop) by one job at a time,
// so lines appear in seq order. Completions run on the pool thread once the record
// is durable per the fsync policy. After any write error the sink turns unwritable
// (readiness fails) and every later record completes with an error: it never
// pretends to have audited.
//
// Lifetime: create() returns a shared_ptr; pool jobs and timers hold weak_ptrs.
// close() (from Plugin::stop) writes what is pending, fsyncs and closes the file.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <agenthost/audit.hpp>
#include <agenthost/context.hpp>

#include "plugins/audit_file/audit_config.hpp"
#include "plugins/audit_file/record_encoder.hpp"

namespace agenthost::plugins::audit_file {

class AuditFileWriter final : public sdk::AuditSink,
                              public std::enable_shared_from_this<AuditFileWriter> {
public:
    // `config.path` must be resolved (non-empty).
    static std::shared_ptr<AuditFileWriter> create(sdk::PluginContext& ctx, AuditConfig config);
    ~AuditFileWriter() override;

    // Opens (creating 0600) the log and continues its sequence. Runs once, from
    // Plugin::start (start-up may touch the disk; the loop is not serving yet).
    sdk::Status open();
    // Writes pending records, fsyncs, closes. Later records fail.
    void close() noexcept;

    // sdk::AuditSink
    void record(sdk::AuditEvent event, sdk::AuditCompletion done) override;
    bool writable() const noexcept override { return writable_.load(); }
    sdk::Status flush() override;

    const std::string& path() const noexcept { return config_.path; }
    std::uint64_t last_seq() const;
    std::uint64_t fsync_count() const noexcept { return fsyncs_.load(); }

private:
    AuditFileWriter(sdk::PluginContext& ctx, AuditConfig config);

    struct Pending {
        AuditRecord record;
        sdk::AuditCompletion done;
    };

    void write_job();
    // Writes everything pending; io_mu_ held. Returns false after an error.
    bool drain_locked_io();
    sdk::Status write_all_locked_io(const std::string& bytes);
    sdk::Status fsync_locked_io();
    void fail_locked_io(const sdk::Status& why);
    void arm_fsync_timer();
    void on_fsync_timer();
    std::uint64_t recover_last_seq(int fd);

    sdk::PluginContext& ctx_;
    const AuditConfig config_;

    // Queue side: cheap, taken by record().
    mutable std::mutex mu_;
    std::vector<Pending> pending_;
    std::uint64_t next_seq_ = 0;
    bool job_scheduled_ = false;
    bool closed_ = false;
    sdk::TimerId fsync_timer_ = 0;

    // File side: one writer at a time (pool job, flush, close, fsync timer job).
    std::mutex io_mu_;
    int fd_ = -1;
    RecordEncoder encoder_;
    bool need_newline_ = false;  // the file ended in a torn line
    bool dirty_ = false;         // written but not fsynced
    std::chrono::steady_clock::time_point last_fsync_{};
    std::uint64_t good_size_ = 0;  // bytes known to end on a full line

    std::atomic<bool> writable_{false};
    std::atomic<std::uint64_t> fsyncs_{0};
    sdk::Counter& records_total_;
    sdk::Counter& errors_total_;
};

}  // namespace agenthost::plugins::audit_file
