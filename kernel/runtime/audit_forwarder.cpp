// Audit forwarder: lazy provider lookup, pre-provider buffering and replay.
#include "kernel/runtime/audit_forwarder.hpp"

#include <exception>
#include <utility>
#include <vector>

#include <boost/json/serialize.hpp>

namespace agenthost::runtime {

AuditForwarder::AuditForwarder(const sdk::ServiceRegistry& services,
                               std::shared_ptr<sdk::Logger> log, std::size_t capacity)
    : services_(services), log_(std::move(log)), capacity_(capacity == 0 ? 1 : capacity) {}

sdk::AuditSink* AuditForwarder::acquire() const {
    std::lock_guard lock(mu_);
    if (provider_ == nullptr) {
        provider_ = static_cast<sdk::AuditSink*>(services_.find_raw("audit"));
    }
    if (provider_ != nullptr) {
        ++in_flight_;
    }
    return provider_;
}

void AuditForwarder::release() const {
    std::lock_guard lock(mu_);
    if (--in_flight_ == 0) {
        idle_.notify_all();
    }
}

void AuditForwarder::replay_into(sdk::AuditSink* provider) {
    std::deque<sdk::AuditEvent> pending;
    {
        std::lock_guard lock(mu_);
        pending.swap(buffer_);
    }
    for (auto& ev : pending) {
        provider->record(std::move(ev), {});
    }
}

void AuditForwarder::record(sdk::AuditEvent event, sdk::AuditCompletion done) {
    if (sdk::AuditSink* provider = acquire()) {
        try {
            replay_into(provider);
            provider->record(std::move(event), std::move(done));
        } catch (const std::exception& e) {
            if (log_) {
                log_->error("audit provider threw", {{"error", e.what()}});
            }
        } catch (...) {
            if (log_) {
                log_->error("audit provider threw");
            }
        }
        release();
        return;
    }
    if (log_) {
        log_->info("audit", {{"actor", event.actor},
                             {"action", event.action},
                             {"target", event.target},
                             {"outcome", event.outcome},
                             {"details", boost::json::serialize(event.details)}});
    }
    bool overflow = false;
    {
        std::lock_guard lock(mu_);
        if (buffer_.size() >= capacity_) {
            // Keep the most recent events; the log line above still has the old one.
            buffer_.pop_front();
            ++dropped_;
            overflow = true;
        }
        buffer_.push_back(std::move(event));
    }
    if (overflow && log_) {
        log_->warn("audit buffer full before an audit provider started; oldest event dropped");
    }
    if (done) {
        done(sdk::Status::success());
    }
}

bool AuditForwarder::writable() const noexcept {
    sdk::AuditSink* provider = nullptr;
    try {
        provider = acquire();
    } catch (...) {
        return false;
    }
    if (provider == nullptr) {
        return true;
    }
    bool ok = provider->writable();
    release();
    return ok;
}

bool AuditForwarder::can_audit() const noexcept {
    if (!fail_closed_.load()) {
        return true;
    }
    sdk::AuditSink* provider = nullptr;
    try {
        provider = acquire();
    } catch (...) {
        return false;
    }
    if (provider == nullptr) {
        return false;  // nothing could make the record durable
    }
    bool ok = false;
    try {
        ok = provider->writable();
    } catch (...) {
        ok = false;
    }
    release();
    return ok;
}

bool AuditForwarder::admit(std::string_view what) noexcept {
    if (can_audit()) {
        return true;
    }
    const std::uint64_t n = ++refusals_;
    // One line per refusal would flood the log during an outage: 1st, then every 100th.
    if (log_ && (n == 1 || n % 100 == 0)) {
        try {
            log_->warn("audit sink unavailable (fail-closed): action refused",
                       {{"action", std::string(what)}, {"refusals", std::to_string(n)}});
        } catch (...) {
        }
    }
    return false;
}

sdk::Status AuditForwarder::flush() {
    sdk::AuditSink* provider = acquire();
    if (provider == nullptr) {
        return sdk::Status::success();
    }
    sdk::Status st;
    try {
        replay_into(provider);
        st = provider->flush();
    } catch (...) {
        st = sdk::error(sdk::Errc::internal, "audit provider threw in flush()");
    }
    release();
    return st;
}

void AuditForwarder::on_withdraw(std::string_view capability) {
    if (capability != "audit") {
        return;
    }
    // The registry no longer lists the provider, so after this no new call reaches it.
    std::unique_lock lock(mu_);
    provider_ = nullptr;
    idle_.wait(lock, [this] { return in_flight_ == 0; });
}

std::size_t AuditForwarder::buffered() const {
    std::lock_guard lock(mu_);
    return buffer_.size();
}

std::uint64_t AuditForwarder::dropped() const {
    std::lock_guard lock(mu_);
    return dropped_;
}

}  // namespace agenthost::runtime
