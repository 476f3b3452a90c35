// TlsRefusalAudit: the (remote, reason) table, its windows and the records it writes.
#include "kernel/backend/tls_refusal_audit.hpp"

#include "kernel/util/time.hpp"

namespace agenthost::backend {

namespace {

// The peer chooses what OpenSSL reports (and so the detail): keep records small.
constexpr std::size_t kMaxDetail = 160;

std::string clipped(std::string_view text) {
    return std::string(text.substr(0, kMaxDetail));
}

}  // namespace

TlsRefusalAudit::TlsRefusalAudit(sdk::AuditSink& sink, const sdk::Clock& clock, Options options)
    : sink_(sink), clock_(clock), options_(options) {}

std::int64_t TlsRefusalAudit::steady_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               clock_.steady_now().time_since_epoch())
        .count();
}

sdk::AuditEvent TlsRefusalAudit::event(const Key& key, std::uint64_t count, std::int64_t first_ms,
                                       std::int64_t last_ms, const std::string& detail) const {
    sdk::json::object details;
    details["reason"] = key.second;
    details["detail"] = detail;
    details["count"] = count;
    details["first_seen"] = util::rfc3339_ms(first_ms);
    details["last_seen"] = util::rfc3339_ms(last_ms);
    details["window_s"] = static_cast<std::int64_t>(options_.window.count());
    return sdk::AuditEvent{"anonymous", "tls.refused", key.first, "denied", std::move(details)};
}

sdk::AuditEvent TlsRefusalAudit::take(const Key& key, Entry& e) const {
    auto ev = event(key, e.pending, e.first_seen_ms, e.last_seen_ms, e.detail);
    e.pending = 0;
    return ev;
}

void TlsRefusalAudit::write(std::vector<sdk::AuditEvent> events) {
    for (auto& ev : events) {
        sink_.record(std::move(ev));
    }
}

void TlsRefusalAudit::note(std::string_view remote_ip, std::string_view reason,
                           std::string_view detail) {
    const std::int64_t now_ms = clock_.now_unix_ms();
    std::vector<sdk::AuditEvent> out;
    {
        std::lock_guard lock(mu_);
        Key key{remote_ip.empty() ? std::string("unknown") : std::string(remote_ip),
                std::string(reason)};
        auto it = table_.find(key);
        if (it == table_.end() && sources_ >= options_.max_keys) {
            // Built anew (not key.first = "*"): GCC 12 warns falsely (-Wrestrict) on that.
            Key overflow{std::string(overflow_remote), std::move(key.second)};
            key = std::move(overflow);
            it = table_.find(key);
        }
        if (it == table_.end()) {
            // A new key: recorded at once, and its window starts now.
            Entry e;
            e.window_start_ms = steady_ms();
            e.overflow = key.first == overflow_remote;
            e.detail = clipped(detail);
            sources_ += e.overflow ? 0 : 1;
            out.push_back(event(key, 1, now_ms, now_ms, e.detail));
            table_.emplace(std::move(key), std::move(e));
        } else {
            Entry& e = it->second;
            if (e.pending == 0) {
                e.first_seen_ms = now_ms;
            }
            ++e.pending;
            e.last_seen_ms = now_ms;
            e.detail = clipped(detail);
        }
    }
    write(std::move(out));
}

void TlsRefusalAudit::tick() {
    const std::int64_t now = steady_ms();
    const std::int64_t window_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.window).count();
    std::vector<sdk::AuditEvent> out;
    {
        std::lock_guard lock(mu_);
        for (auto it = table_.begin(); it != table_.end();) {
            Entry& e = it->second;
            if (now - e.window_start_ms < window_ms) {
                ++it;
                continue;
            }
            if (e.pending == 0) {
                // A quiet window: forget the source (its slot is free for another).
                sources_ -= e.overflow ? 0 : 1;
                it = table_.erase(it);
                continue;
            }
            out.push_back(take(it->first, e));
            e.window_start_ms = now;
            ++it;
        }
    }
    write(std::move(out));
}

void TlsRefusalAudit::flush() {
    std::vector<sdk::AuditEvent> out;
    {
        std::lock_guard lock(mu_);
        for (auto& [key, e] : table_) {
            if (e.pending != 0) {
                out.push_back(take(key, e));
            }
        }
    }
    write(std::move(out));
}

std::size_t TlsRefusalAudit::keys() const {
    std::lock_guard lock(mu_);
    return table_.size();
}

// ---- TlsRefusalTicker -------------------------------------------------------------

struct TlsRefusalTicker::State {
    State(sdk::Scheduler& s, std::shared_ptr<TlsRefusalAudit> r, std::chrono::milliseconds p)
        : scheduler(s), refusals(std::move(r)), period(p) {}
    sdk::Scheduler& scheduler;
    std::shared_ptr<TlsRefusalAudit> refusals;
    const std::chrono::milliseconds period;
    std::mutex mu;
    std::optional<sdk::TimerId> timer;
    bool stopped = false;
};

TlsRefusalTicker::TlsRefusalTicker(sdk::Scheduler& scheduler,
                                   std::shared_ptr<TlsRefusalAudit> refusals,
                                   std::chrono::milliseconds period)
    : state_(std::make_shared<State>(scheduler, std::move(refusals), period)) {
    arm(state_);
}

TlsRefusalTicker::~TlsRefusalTicker() {
    stop();
}

void TlsRefusalTicker::arm(const std::shared_ptr<State>& st) {
    std::lock_guard lock(st->mu);
    if (st->stopped) {
        return;
    }
    // The task holds the state weakly (as RenewalTicker does): a tick racing stop()
    // finds `stopped` and does nothing.
    st->timer = st->scheduler.schedule(st->period, [weak = std::weak_ptr<State>(st)] {
        auto s = weak.lock();
        if (!s) {
            return;
        }
        {
            std::lock_guard lock(s->mu);
            if (s->stopped) {
                return;
            }
        }
        s->refusals->tick();
        arm(s);
    });
}

void TlsRefusalTicker::stop() {
    std::optional<sdk::TimerId> timer;
    {
        std::lock_guard lock(state_->mu);
        if (state_->stopped) {
            return;
        }
        state_->stopped = true;
        timer.swap(state_->timer);
    }
    if (timer) {
        state_->scheduler.cancel(*timer);
    }
    state_->refusals->flush();
}

}  // namespace agenthost::backend
