// AuditFileWriter, queue side: record(), the batch writer on the blocking pool, the
// fsync policy and the timers. The files themselves are in audit_segment.cpp.
#include "plugins/audit_file/audit_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace agenthost::plugins::audit_file {

namespace {

std::string errno_text(const char* what, int err) {
    return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

std::shared_ptr<AuditFileWriter> AuditFileWriter::create(sdk::PluginContext& ctx,
                                                         AuditConfig config) {
    if (config.checkpoint_path.empty()) {
        config.checkpoint_path = config.path + ".checkpoints";
    }
    return std::shared_ptr<AuditFileWriter>(new AuditFileWriter(ctx, std::move(config)));
}

AuditFileWriter::AuditFileWriter(sdk::PluginContext& ctx, AuditConfig config)
    : ctx_(ctx),
      config_(std::move(config)),
      records_total_(ctx.metrics().counter("audit_records_total", "Audit records written")),
      errors_total_(ctx.metrics().counter("audit_write_errors_total",
                                          "Audit log write/fsync failures and refused records")),
      checkpoints_total_(
          ctx.metrics().counter("audit_checkpoints_total", "Audit checkpoints written")) {}

AuditFileWriter::~AuditFileWriter() {
    close();
}

std::int64_t AuditFileWriter::steady_ms() const noexcept {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        ctx_.clock().steady_now().time_since_epoch())
                        .count();
    return std::max<std::int64_t>(1, ms);  // 0 means "none" in the atomics below
}

bool AuditFileWriter::writable() const noexcept {
    if (!writable_.load()) {
        return false;
    }
    // A write stuck in the kernel (a hung disk, NFS) or a queue that does not move
    // is as bad as an error for fail-closed callers: they must not act meanwhile.
    const std::int64_t now = steady_ms();
    const std::int64_t started = write_started_ms_.load();
    const std::int64_t oldest = oldest_pending_ms_.load();
    return !(started != 0 && now - started > config_.write_timeout_ms) &&
           !(oldest != 0 && now - oldest > config_.write_timeout_ms);
}

void AuditFileWriter::record(sdk::AuditEvent event, sdk::AuditCompletion done) {
    const char* refused = writable_.load() ? nullptr : "audit log not writable: ";
    bool submit = false;
    if (refused == nullptr) {
        std::lock_guard lock(mu_);
        if (closed_) {
            refused = "audit log closed: ";
        } else if (pending_.size() >= static_cast<std::size_t>(config_.max_queue)) {
            refused = "audit queue full: ";
        } else {
            if (pending_.empty()) {
                oldest_pending_ms_ = steady_ms();
            }
            pending_.push_back(
                Pending{ctx_.clock().now_unix_ms(), std::move(event), std::move(done)});
            submit = !job_scheduled_;
            job_scheduled_ = true;
        }
    }
    if (refused != nullptr) {
        errors_total_.inc();
        if (done) {
            done(sdk::error(sdk::Errc::unavailable, refused + config_.path));
        }
        return;
    }
    if (submit) {
        ctx_.blocking().submit([weak = weak_from_this()] {
            if (auto self = weak.lock()) {
                self->write_job();
            }
        });
    }
}

void AuditFileWriter::write_job() {
    std::lock_guard io(io_mu_);
    drain_locked_io();
}

void AuditFileWriter::drain_locked_io() {
    for (;;) {
        std::vector<Pending> batch;
        {
            std::lock_guard lock(mu_);
            if (pending_.empty()) {
                job_scheduled_ = false;
                oldest_pending_ms_ = 0;
                return;
            }
            batch.swap(pending_);
            oldest_pending_ms_ = 0;
        }
        sdk::Status st;
        if (fd_ < 0 || !writable_.load()) {
            st = sdk::error(sdk::Errc::unavailable, "audit log not writable: " + config_.path);
            errors_total_.inc(batch.size());
        } else {
            const std::size_t n = batch.size();
            write_started_ms_ = steady_ms();
            st = write_batch_locked_io(batch);
            write_started_ms_ = 0;
            if (!st.ok()) {
                fail_locked_io(st);
            } else {
                records_total_.inc(n);
            }
        }
        for (auto& p : batch) {
            if (p.done) {
                p.done(st);
            }
        }
    }
}

sdk::Status AuditFileWriter::write_batch_locked_io(std::vector<Pending>& batch) {
    if (auto st = check_identity_locked_io(); !st.ok()) {
        return st;
    }
    // Seq and chain link are tentative until the bytes are on disk.
    std::uint64_t seq = last_seq_.load();
    std::string head = head_;
    std::string body;
    for (auto& p : batch) {
        AuditRecord r{++seq, p.ts_ms, std::move(p.event)};
        EncodedLine enc = RecordEncoder::encode(r, key_, head);
        body += enc.line;
        head = std::move(enc.mac);
    }
    if (config_.max_bytes > 0 && good_size_ > 0 &&
        good_size_ + body.size() > static_cast<std::uint64_t>(config_.max_bytes)) {
        if (auto st = rotate_locked_io(); !st.ok()) {
            return st;
        }
    }
    const std::string bytes = (need_newline_ ? "\n" : "") + body;
    if (auto st = write_all_locked_io(bytes); !st.ok()) {
        return st;
    }
    need_newline_ = false;
    good_size_ += bytes.size();
    dirty_ = true;
    last_seq_ = seq;
    head_ = std::move(head);
    const auto since = ctx_.clock().steady_now() - last_fsync_;
    if (config_.fsync == FsyncPolicy::always ||
        (config_.fsync == FsyncPolicy::interval &&
         since >= std::chrono::milliseconds(config_.fsync_interval_ms))) {
        if (auto st = fsync_locked_io(); !st.ok()) {
            return st;
        }
    }
    if (last_seq_.load() - checkpointed_seq_ >=
        static_cast<std::uint64_t>(config_.checkpoint_every)) {
        return checkpoint_locked_io();
    }
    return {};
}

sdk::Status AuditFileWriter::write_all_locked_io(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            if (off > 0) {
                // Cut the torn fragment so the file still ends on a whole record.
                (void)::ftruncate(fd_, static_cast<off_t>(good_size_));
            }
            return sdk::error(sdk::Errc::unavailable, errno_text("write audit log", err));
        }
        off += static_cast<std::size_t>(n);
    }
    return {};
}

sdk::Status AuditFileWriter::fsync_locked_io() {
    if (fd_ < 0 || !dirty_) {
        return {};
    }
    if (::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) {
        // EINVAL/EROFS: the file (a device) cannot be synced at all; anything else
        // means written data may be lost.
        return sdk::error(sdk::Errc::unavailable, errno_text("fsync audit log", errno));
    }
    ++fsyncs_;
    dirty_ = false;
    last_fsync_ = ctx_.clock().steady_now();
    return {};
}

void AuditFileWriter::fail_locked_io(const sdk::Status& why) {
    errors_total_.inc();
    if (!writable_.exchange(false)) {
        return;
    }
    failed_since_ms_ = steady_ms();
    failure_ = why.message();
    ctx_.logger().error("audit log unwritable; refusing records until a probe write succeeds",
                        {{"path", config_.path}, {"error", why.message()}});
}

void AuditFileWriter::arm_fsync_timer() {
    std::lock_guard lock(mu_);
    if (closed_) {
        return;
    }
    fsync_timer_ = ctx_.scheduler().schedule(std::chrono::milliseconds(config_.fsync_interval_ms),
                                             [weak = weak_from_this()] {
                                                 if (auto self = weak.lock()) {
                                                     self->on_fsync_timer();
                                                 }
                                             });
}

void AuditFileWriter::on_fsync_timer() {
    // On the loop: hand the fsync to the pool, then re-arm.
    ctx_.blocking().submit([weak = weak_from_this()] {
        auto self = weak.lock();
        if (!self) {
            return;
        }
        std::lock_guard io(self->io_mu_);
        if (self->dirty_ && self->writable_.load()) {
            if (auto st = self->fsync_locked_io(); !st.ok()) {
                self->fail_locked_io(st);
            }
        }
    });
    arm_fsync_timer();
}

void AuditFileWriter::arm_tick_timer() {
    std::lock_guard lock(mu_);
    if (closed_) {
        return;
    }
    const auto period = std::min(config_.probe_interval_ms, config_.checkpoint_interval_ms);
    tick_timer_ =
        ctx_.scheduler().schedule(std::chrono::milliseconds(period), [weak = weak_from_this()] {
            if (auto self = weak.lock()) {
                self->on_tick();
            }
        });
}

void AuditFileWriter::on_tick() {
    // On the loop: probes and time-based checkpoints touch the disk, so the pool.
    ctx_.blocking().submit([weak = weak_from_this()] {
        auto self = weak.lock();
        if (!self) {
            return;
        }
        std::lock_guard io(self->io_mu_);
        {
            std::lock_guard lock(self->mu_);
            if (self->closed_) {
                return;
            }
        }
        if (!self->writable_.load()) {
            self->probe_locked_io();
            return;
        }
        // Notice a removed or replaced log while idle, so that fail-closed callers
        // stop before their next action rather than after its record fails.
        if (auto st = self->check_identity_locked_io(); !st.ok()) {
            self->fail_locked_io(st);
            return;
        }
        if (self->last_seq_.load() > self->checkpointed_seq_ &&
            self->steady_ms() - self->last_checkpoint_ms_ >= self->config_.checkpoint_interval_ms) {
            if (auto st = self->checkpoint_locked_io(); !st.ok()) {
                self->fail_locked_io(st);
            }
        }
    });
    arm_tick_timer();
}

sdk::Status AuditFileWriter::flush() {
    std::lock_guard io(io_mu_);
    drain_locked_io();
    if (!writable_.load()) {
        return sdk::error(sdk::Errc::unavailable, "audit log not writable: " + config_.path);
    }
    sdk::Status st = fsync_locked_io();
    if (st.ok()) {
        st = checkpoint_locked_io();
    }
    if (!st.ok()) {
        fail_locked_io(st);
    }
    return st;
}

void AuditFileWriter::close() noexcept {
    {
        std::lock_guard lock(mu_);
        if (closed_) {
            return;
        }
        closed_ = true;
        for (sdk::TimerId* t : {&fsync_timer_, &tick_timer_}) {
            if (*t != 0) {
                ctx_.scheduler().cancel(*t);
                *t = 0;
            }
        }
    }
    std::lock_guard io(io_mu_);
    drain_locked_io();
    if (writable_.load()) {
        (void)fsync_locked_io();
        (void)checkpoint_locked_io();
    }
    close_log_locked_io();
    failed_since_ms_ = 0;
    writable_ = false;
}

}  // namespace agenthost::plugins::audit_file
