#include "plugins/audit_file/audit_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <boost/json/parse.hpp>

namespace agenthost::plugins::audit_file {

namespace {

constexpr std::size_t recover_tail_bytes = 64 * 1024;

std::string errno_text(const char* what, int err) {
    return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

std::shared_ptr<AuditFileWriter> AuditFileWriter::create(sdk::PluginContext& ctx,
                                                         AuditConfig config) {
    return std::shared_ptr<AuditFileWriter>(new AuditFileWriter(ctx, std::move(config)));
}

AuditFileWriter::AuditFileWriter(sdk::PluginContext& ctx, AuditConfig config)
    : ctx_(ctx),
      config_(std::move(config)),
      records_total_(ctx.metrics().counter("audit_records_total", "Audit records written")),
      errors_total_(
          ctx.metrics().counter("audit_write_errors_total", "Audit log write or fsync failures")) {}

AuditFileWriter::~AuditFileWriter() {
    close();
}

std::uint64_t AuditFileWriter::last_seq() const {
    std::lock_guard lock(mu_);
    return next_seq_;
}

sdk::Status AuditFileWriter::open() {
    std::lock_guard io(io_mu_);
    if (fd_ >= 0) {
        return {};
    }
    // O_NOFOLLOW: a symlink planted at the log path is refused, not followed.
    const int fd =
        ::open(config_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        const int err = errno;
        errors_total_.inc();
        return sdk::error(sdk::Errc::unavailable,
                          errno_text(("cannot open audit log " + config_.path).c_str(), err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return sdk::error(sdk::Errc::unavailable, errno_text("fstat audit log", err));
    }
    if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
        // The trail reveals who did what: keep it owner-only even if it was created wider.
        ctx_.logger().warn("audit log was group/world accessible; tightening to 0600",
                           {{"path", config_.path}});
        if (::fchmod(fd, 0600) != 0) {
            const int err = errno;
            ::close(fd);
            return sdk::error(sdk::Errc::permission_denied, errno_text("chmod audit log", err));
        }
    }
    const std::uint64_t last = S_ISREG(st.st_mode) && st.st_size > 0 ? recover_last_seq(fd) : 0;
    good_size_ = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
    fd_ = fd;
    last_fsync_ = ctx_.clock().steady_now();
    {
        std::lock_guard lock(mu_);
        next_seq_ = last;
    }
    writable_ = true;
    if (config_.fsync == FsyncPolicy::interval) {
        arm_fsync_timer();
    }
    return {};
}

std::uint64_t AuditFileWriter::recover_last_seq(int /*write_fd*/) {
    // The write descriptor is O_WRONLY; read the tail through a second one.
    const int rfd = ::open(config_.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (rfd < 0) {
        return 0;
    }
    struct stat st {};
    std::string tail;
    if (::fstat(rfd, &st) == 0 && st.st_size > 0) {
        const auto size = static_cast<std::uint64_t>(st.st_size);
        const std::uint64_t n = std::min<std::uint64_t>(size, recover_tail_bytes);
        tail.resize(n);
        const ssize_t got = ::pread(rfd, tail.data(), n, static_cast<off_t>(size - n));
        tail.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    }
    ::close(rfd);
    if (tail.empty()) {
        return 0;
    }
    // A crash may have torn the last line: later lines start on a fresh one.
    need_newline_ = tail.back() != '\n';
    std::string_view rest(tail);
    while (!rest.empty()) {
        if (rest.back() == '\n') {
            rest.remove_suffix(1);
            continue;
        }
        const auto nl = rest.rfind('\n');
        const std::string_view line = nl == std::string_view::npos ? rest : rest.substr(nl + 1);
        boost::system::error_code ec;
        const sdk::json::value v = boost::json::parse(line, ec);
        if (!ec && v.is_object()) {
            if (const auto* seq = v.get_object().if_contains("seq")) {
                if (seq->is_uint64()) {
                    return seq->get_uint64();
                }
                if (seq->is_int64() && seq->get_int64() >= 0) {
                    return static_cast<std::uint64_t>(seq->get_int64());
                }
            }
        }
        if (nl == std::string_view::npos) {
            break;
        }
        rest = rest.substr(0, nl);
    }
    ctx_.logger().warn("audit log has no readable last record; sequence restarts at 1",
                       {{"path", config_.path}});
    return 0;
}

void AuditFileWriter::record(sdk::AuditEvent event, sdk::AuditCompletion done) {
    bool submit = false;
    bool refused = !writable_.load();
    if (!refused) {
        std::lock_guard lock(mu_);
        if (closed_) {
            refused = true;
        } else {
            AuditRecord r{++next_seq_, ctx_.clock().now_unix_ms(), std::move(event)};
            pending_.push_back(Pending{std::move(r), std::move(done)});
            submit = !job_scheduled_;
            job_scheduled_ = true;
        }
    }
    if (refused) {
        if (done) {
            done(sdk::error(sdk::Errc::unavailable, "audit log not writable: " + config_.path));
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

bool AuditFileWriter::drain_locked_io() {
    for (;;) {
        std::vector<Pending> batch;
        {
            std::lock_guard lock(mu_);
            if (pending_.empty()) {
                job_scheduled_ = false;
                return writable_.load();
            }
            batch.swap(pending_);
        }
        sdk::Status st;
        if (fd_ < 0 || !writable_.load()) {
            st = sdk::error(sdk::Errc::unavailable, "audit log not writable: " + config_.path);
        } else {
            std::string bytes = need_newline_ ? "\n" : "";
            for (const auto& p : batch) {
                bytes += encoder_.encode(p.record);
            }
            st = write_all_locked_io(bytes);
            if (st.ok()) {
                need_newline_ = false;
                good_size_ += bytes.size();
                dirty_ = true;
                const auto since = ctx_.clock().steady_now() - last_fsync_;
                if (config_.fsync == FsyncPolicy::always ||
                    (config_.fsync == FsyncPolicy::interval &&
                     since >= std::chrono::milliseconds(config_.fsync_interval_ms))) {
                    st = fsync_locked_io();
                }
            }
            if (!st.ok()) {
                fail_locked_io(st);
            } else {
                records_total_.inc(batch.size());
            }
        }
        for (auto& p : batch) {
            if (p.done) {
                p.done(st);
            }
        }
    }
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
    writable_ = false;
    errors_total_.inc();
    ctx_.logger().error("audit log unwritable; refusing further records",
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

sdk::Status AuditFileWriter::flush() {
    std::lock_guard io(io_mu_);
    drain_locked_io();
    if (!writable_.load()) {
        return sdk::error(sdk::Errc::unavailable, "audit log not writable: " + config_.path);
    }
    if (auto st = fsync_locked_io(); !st.ok()) {
        fail_locked_io(st);
        return st;
    }
    return {};
}

void AuditFileWriter::close() noexcept {
    {
        std::lock_guard lock(mu_);
        if (closed_) {
            return;
        }
        closed_ = true;
        if (fsync_timer_ != 0) {
            ctx_.scheduler().cancel(fsync_timer_);
            fsync_timer_ = 0;
        }
    }
    std::lock_guard io(io_mu_);
    drain_locked_io();
    if (fd_ >= 0) {
        if (writable_.load()) {
            (void)fsync_locked_io();
        }
        ::close(fd_);
        fd_ = -1;
    }
    writable_ = false;
}

}  // namespace agenthost::plugins::audit_file
