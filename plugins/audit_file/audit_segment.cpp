// AuditFileWriter, file side: opening and recovering the chain, noticing a log that
// was removed or replaced, rotation, checkpoints (second sink) and the recovery probe.
#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "kernel/crypto/keyring.hpp"
#include "plugins/audit_file/audit_writer.hpp"
#include "plugins/audit_file/chain_tail.hpp"

namespace agenthost::plugins::audit_file {

namespace {

std::string errno_text(const std::string& what, int err) {
    return what + ": " + std::strerror(err);
}

// O_NOFOLLOW: a symlink planted at the path is refused, not followed.
int open_append(const std::string& path) {
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

void fsync_parent(const std::string& path) {
    const std::string dir = std::filesystem::path(path).parent_path().string();
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)::fsync(fd);
        ::close(fd);
    }
}

}  // namespace

sdk::Status AuditFileWriter::open() {
    std::lock_guard io(io_mu_);
    if (fd_ >= 0) {
        return {};
    }
    if (!config_.key_file.empty()) {
        auto key = crypto::read_key_file(config_.key_file, 32);
        if (!key.ok()) {
            return sdk::error(sdk::Errc::invalid_argument, "audit key: " + key.status().message());
        }
        key_ = std::move(*key);
    } else {
        ctx_.logger().warn("audit chain is unkeyed (no key_file): it detects damage, not edits",
                           {{"path", config_.path}});
    }
    if (config_.checkpoint_syslog) {
        ::openlog("agenthost-audit", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
    }
    if (auto st = open_log_locked_io(); !st.ok()) {
        errors_total_.inc();
        close_log_locked_io();
        return st;
    }
    // Continue the chain: from the active file, or from the newest rotated one when
    // the active file is new (rotation happened just before a stop).
    const std::string source = good_size_ > 0 ? config_.path : newest_rotated(config_.path);
    const ChainTail tail = read_chain_tail(source, key_);  // "" reads as an empty log
    head_ = tail.head;
    last_seq_ = std::max(tail.seq, tail.max_seen_seq);
    checkpointed_seq_ = last_seq_.load();
    last_checkpoint_ms_ = steady_ms();
    last_fsync_ = ctx_.clock().steady_now();
    writable_ = true;
    if (tail.damaged()) {
        // Decision (README): never refuse to start over a damaged tail (a crash can tear
        // the last line), and never hide it either: a keyed, explicit record links the
        // new records to the last verifiable one and says what was found. `audit verify`
        // still reports the damaged lines.
        sdk::json::object details{{"reason", tail.seq == 0 && tail.max_seen_seq > 0
                                                 ? "no verifiable record in the tail (key changed?)"
                                                 : (tail.torn ? "torn last line" : "mac mismatch")},
                                  {"damaged_lines", tail.damaged_lines},
                                  {"last_good_seq", tail.seq},
                                  {"file", source}};
        ctx_.logger().warn("audit log tail damaged; recording audit.chain_break",
                           {{"path", source},
                            {"last_good_seq", std::to_string(tail.seq)},
                            {"damaged_lines", std::to_string(tail.damaged_lines)}});
        if (auto st = write_kernel_record_locked_io("audit.chain_break", std::move(details));
            !st.ok()) {
            writable_ = false;
            close_log_locked_io();
            return st;
        }
    }
    if (config_.fsync == FsyncPolicy::interval) {
        arm_fsync_timer();
    }
    arm_tick_timer();
    return {};
}

sdk::Status AuditFileWriter::open_log_locked_io() {
    if (fd_ < 0) {
        const int fd = open_append(config_.path);
        if (fd < 0) {
            return sdk::error(sdk::Errc::unavailable,
                              errno_text("cannot open audit log " + config_.path, errno));
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int err = errno;
            ::close(fd);
            return sdk::error(sdk::Errc::unavailable, errno_text("fstat audit log", err));
        }
        if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
            // The trail reveals who did what: keep it owner-only even if created wider.
            ctx_.logger().warn("audit log was group/world accessible; tightening to 0600",
                               {{"path", config_.path}});
            if (::fchmod(fd, 0600) != 0) {
                const int err = errno;
                ::close(fd);
                return sdk::error(sdk::Errc::permission_denied, errno_text("chmod audit log", err));
            }
        }
        good_size_ = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
        need_newline_ = false;
        if (good_size_ > 0) {
            char last = '\n';
            const int rfd = ::open(config_.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (rfd >= 0) {
                (void)::pread(rfd, &last, 1, static_cast<off_t>(good_size_ - 1));
                ::close(rfd);
            }
            // A crash may have torn the last line: later lines start on a fresh one.
            need_newline_ = last != '\n';
        }
        fd_ = fd;
        // An open descriptor keeps its inode: remembered once instead of an fstat()
        // per batch in check_identity_locked_io().
        fd_regular_ = S_ISREG(st.st_mode);
        fd_dev_ = st.st_dev;
        fd_ino_ = st.st_ino;
        dirty_ = false;
    }
    if (checkpoint_fd_ < 0) {
        checkpoint_fd_ = open_append(config_.checkpoint_path);
        if (checkpoint_fd_ < 0) {
            return sdk::error(
                sdk::Errc::unavailable,
                errno_text("cannot open audit checkpoints " + config_.checkpoint_path, errno));
        }
        (void)::fchmod(checkpoint_fd_, 0600);
    }
    return {};
}

void AuditFileWriter::close_log_locked_io() noexcept {
    for (int* fd : {&fd_, &checkpoint_fd_}) {
        if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
        }
    }
    dirty_ = false;
}

sdk::Status AuditFileWriter::check_identity_locked_io() {
    if (fd_ < 0 || !fd_regular_) {
        return {};  // devices (tests use /dev/full) have no identity to lose
    }
    struct stat path_st {};
    if (::stat(config_.path.c_str(), &path_st) == 0 && path_st.st_ino == fd_ino_ &&
        path_st.st_dev == fd_dev_) {
        return {};
    }
    // Removed, renamed away or replaced: records written to the old inode would be
    // lost with it. Continue the chain at the path, or fail if nothing can be opened
    // there (e.g. a directory now sits at the path).
    ctx_.logger().warn("audit log was removed or replaced; reopening the path",
                       {{"path", config_.path}});
    ::close(fd_);
    fd_ = -1;
    return open_log_locked_io();
}

sdk::Status AuditFileWriter::rotate_locked_io() {
    if (auto st = fsync_locked_io(); !st.ok()) {
        return st;
    }
    if (auto st = checkpoint_locked_io(); !st.ok()) {
        return st;
    }
    const std::string target = rotated_name(config_.path, last_seq_.load());
    if (::access(target.c_str(), F_OK) == 0) {
        return sdk::error(sdk::Errc::conflict, "audit rotation target exists: " + target);
    }
    ::close(fd_);
    fd_ = -1;
    if (::rename(config_.path.c_str(), target.c_str()) != 0) {
        const int err = errno;
        return sdk::error(sdk::Errc::unavailable, errno_text("rotate audit log to " + target, err));
    }
    fsync_parent(config_.path);
    if (auto st = open_log_locked_io(); !st.ok()) {
        return st;
    }
    ++rotations_;
    ctx_.logger().info("audit log rotated", {{"path", config_.path},
                                             {"rotated_to", target},
                                             {"last_seq", std::to_string(last_seq_.load())}});
    return {};
}

sdk::Status AuditFileWriter::checkpoint_locked_io() {
    const std::uint64_t seq = last_seq_.load();
    if (seq == 0 || seq == checkpointed_seq_) {
        return {};
    }
    // The records a checkpoint vouches for must be on disk before it is.
    if (auto st = fsync_locked_io(); !st.ok()) {
        return st;
    }
    const std::string line =
        RecordEncoder::checkpoint(seq, ctx_.clock().now_unix_ms(), head_, key_);
    if (auto st = write_checkpoint_line_locked_io(line); !st.ok()) {
        return st;
    }
    checkpointed_seq_ = seq;
    last_checkpoint_ms_ = steady_ms();
    checkpoints_total_.inc();
    return {};
}

sdk::Status AuditFileWriter::write_checkpoint_line_locked_io(const std::string& line) {
    if (checkpoint_fd_ < 0) {
        return sdk::error(sdk::Errc::unavailable, "audit checkpoints not open");
    }
    std::size_t off = 0;
    while (off < line.size()) {
        const ssize_t n = ::write(checkpoint_fd_, line.data() + off, line.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return sdk::error(sdk::Errc::unavailable,
                              errno_text("write audit checkpoints", n < 0 ? errno : EIO));
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(checkpoint_fd_) != 0 && errno != EINVAL && errno != EROFS) {
        return sdk::error(sdk::Errc::unavailable, errno_text("fsync audit checkpoints", errno));
    }
    if (config_.checkpoint_syslog) {
        ::syslog(LOG_AUTHPRIV | LOG_NOTICE, "checkpoint %.*s", static_cast<int>(line.size() - 1),
                 line.c_str());
    }
    return {};
}

sdk::Status AuditFileWriter::write_kernel_record_locked_io(const std::string& action,
                                                           sdk::json::object details) {
    std::vector<Pending> one;
    one.push_back(Pending{
        ctx_.clock().now_unix_ms(),
        sdk::AuditEvent{"plugin:audit_file", action, config_.path, "success", std::move(details)},
        {}});
    sdk::Status st = write_batch_locked_io(one);
    if (st.ok()) {
        st = fsync_locked_io();
    }
    if (st.ok()) {
        records_total_.inc();
    }
    return st;
}

void AuditFileWriter::probe_locked_io() {
    close_log_locked_io();
    sdk::Status st = open_log_locked_io();
    if (st.ok()) {
        writable_ = true;  // tentatively, so the probe record goes through the normal path
        st = write_kernel_record_locked_io(
            "audit.sink_recovered",
            sdk::json::object{{"failed_for_ms", steady_ms() - failed_since_ms_},
                              {"error", failure_}});
    }
    if (!st.ok()) {
        writable_ = false;
        ctx_.logger().debug("audit probe write failed", {{"error", st.message()}});
        return;
    }
    ctx_.logger().info("audit log writable again",
                       {{"path", config_.path}, {"last_seq", std::to_string(last_seq_.load())}});
    failed_since_ms_ = 0;
    failure_.clear();
}

}  // namespace agenthost::plugins::audit_file
