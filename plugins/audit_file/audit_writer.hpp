#pragma once
// AuditFileWriter: the "audit" capability as an append-only, HMAC-chained JSON-lines
// file with checkpoints in a second sink, size-based rotation and self-recovery.
//
// record() only stamps the time and queues the record (bounded by max_queue); the
// file is written on the blocking pool (never on the loop) by one job at a time. The
// sequence number and the chain link are assigned when a line is written and
// committed only once it is on disk, so a failed write leaves no gap in the chain.
// Completions run on the pool thread once the record is durable per the fsync policy.
//
// Failure: after a write/fsync error, or when the log file was removed or replaced,
// the sink is unwritable; a write (or a queued record) older than write_timeout_ms
// also reads as unwritable. Every record then completes with Errc::unavailable (it
// never pretends to have audited) and a probe every probe_interval_ms reopens the
// path and writes an `audit.sink_recovered` record; when that is on disk the sink
// is writable again.
//
// Lifetime: create() returns a shared_ptr; pool jobs and timers hold weak_ptrs.
// close() (from Plugin::stop) writes what is pending, checkpoints, fsyncs, closes.

#include <sys/types.h>

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
    // `config.path` must be resolved (non-empty); an empty checkpoint_path becomes
    // <path>.checkpoints.
    static std::shared_ptr<AuditFileWriter> create(sdk::PluginContext& ctx, AuditConfig config);
    ~AuditFileWriter() override;

    // Reads the key, opens (creating 0600) the log and the checkpoint sink and
    // continues the chain from the last valid record; a damaged tail is recorded as
    // `audit.chain_break`. Runs once, from Plugin::start (the loop is not serving).
    sdk::Status open();
    // Writes pending records, a last checkpoint, fsyncs, closes. Later records fail.
    void close() noexcept;

    // sdk::AuditSink
    void record(sdk::AuditEvent event, sdk::AuditCompletion done) override;
    bool writable() const noexcept override;
    sdk::Status flush() override;

    const std::string& path() const noexcept { return config_.path; }
    const std::string& checkpoint_path() const noexcept { return config_.checkpoint_path; }
    bool keyed() const noexcept { return !key_.empty(); }
    std::uint64_t last_seq() const noexcept { return last_seq_.load(); }
    std::uint64_t fsync_count() const noexcept { return fsyncs_.load(); }
    std::uint64_t rotations() const noexcept { return rotations_.load(); }

private:
    AuditFileWriter(sdk::PluginContext& ctx, AuditConfig config);

    struct Pending {
        std::int64_t ts_ms = 0;
        sdk::AuditEvent event;
        sdk::AuditCompletion done;
    };

    // audit_writer.cpp: queue, batches, fsync, timers
    void write_job();
    void drain_locked_io();
    sdk::Status write_batch_locked_io(std::vector<Pending>& batch);
    sdk::Status write_all_locked_io(const std::string& bytes);
    sdk::Status fsync_locked_io();
    void fail_locked_io(const sdk::Status& why);
    void arm_fsync_timer();
    void on_fsync_timer();
    void arm_tick_timer();
    void on_tick();
    std::int64_t steady_ms() const noexcept;

    // audit_segment.cpp: the files (open, identity, rotation, checkpoints, probe)
    sdk::Status open_log_locked_io();
    void close_log_locked_io() noexcept;
    sdk::Status check_identity_locked_io();
    sdk::Status rotate_locked_io();
    sdk::Status checkpoint_locked_io();
    sdk::Status write_checkpoint_line_locked_io(const std::string& line);
    sdk::Status write_kernel_record_locked_io(const std::string& action, sdk::json::object details);
    void probe_locked_io();

    sdk::PluginContext& ctx_;
    const AuditConfig config_;
    std::string key_;  // raw key bytes; empty: unkeyed chain

    // Queue side: cheap, taken by record().
    mutable std::mutex mu_;
    std::vector<Pending> pending_;
    bool job_scheduled_ = false;
    bool closed_ = false;
    sdk::TimerId fsync_timer_ = 0;
    sdk::TimerId tick_timer_ = 0;

    // File side: one writer at a time (pool job, flush, close, timer jobs).
    std::mutex io_mu_;
    int fd_ = -1;
    int checkpoint_fd_ = -1;
    bool fd_regular_ = false;  // fd_'s identity, taken when it was opened
    dev_t fd_dev_ = 0;
    ino_t fd_ino_ = 0;
    bool need_newline_ = false;  // the file ended in a torn line
    bool dirty_ = false;         // written but not fsynced
    std::chrono::steady_clock::time_point last_fsync_{};
    std::uint64_t good_size_ = 0;  // bytes of the active file, ending on a full line
    std::string head_;             // chain head: mac of record last_seq_
    std::uint64_t checkpointed_seq_ = 0;
    std::int64_t last_checkpoint_ms_ = 0;  // steady
    std::int64_t failed_since_ms_ = 0;     // steady, while unwritable
    std::string failure_;

    std::atomic<std::uint64_t> last_seq_{0};
    std::atomic<bool> writable_{false};
    std::atomic<std::int64_t> write_started_ms_{0};   // steady; 0: no write running
    std::atomic<std::int64_t> oldest_pending_ms_{0};  // steady; 0: queue empty
    std::atomic<std::uint64_t> fsyncs_{0};
    std::atomic<std::uint64_t> rotations_{0};
    sdk::Counter& records_total_;
    sdk::Counter& errors_total_;
    sdk::Counter& checkpoints_total_;
};

}  // namespace agenthost::plugins::audit_file
