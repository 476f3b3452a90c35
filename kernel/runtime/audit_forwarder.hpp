#pragma once
// The audit sink every plugin and kernel component writes to (PluginContext::audit()).
// It forwards to the provider of capability "audit" (an sdk::AuditSink registered with
// provide_raw("audit", static_cast<sdk::AuditSink*>(p))), looked up lazily. Until a
// provider exists it logs each event at info and keeps the most recent `capacity`
// events, replaying them into the provider when it appears (start-up and plugin-load
// events are audited before the audit plugin is started).
//
// Fail-closed mode (config `audit.fail_closed`, as HashiCorp Vault does): callers ask
// can_audit() BEFORE an audited action and refuse it when false (operator API 503,
// new agent sessions 1013, no command dispatch). can_audit() is true only while a
// provider exists and reports writable(); the provider recovers by itself (its own
// probe), and can_audit() follows.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>

#include <agenthost/audit.hpp>
#include <agenthost/logger.hpp>
#include <agenthost/services.hpp>

namespace agenthost::runtime {

class AuditForwarder final : public sdk::AuditSink {
public:
    AuditForwarder(const sdk::ServiceRegistry& services, std::shared_ptr<sdk::Logger> log,
                   std::size_t capacity = 1000);

    // Without a provider the completion reports success: the event is logged and
    // buffered, and start-up must not be refused for lack of an audit plugin yet.
    void record(sdk::AuditEvent event, sdk::AuditCompletion done = {}) override;
    // True when no provider exists yet (buffering), else the provider's answer.
    bool writable() const noexcept override;
    // Replays buffered events into the provider (if any), then flushes it.
    sdk::Status flush() override;

    // ServiceTable withdraw hook: drops the cached provider for "audit" and waits until
    // no call is still inside it, so the provider may then be destroyed.
    void on_withdraw(std::string_view capability);

    std::size_t buffered() const;
    std::uint64_t dropped() const;

    // Fail-closed policy (default off: fail-open, as before).
    void set_fail_closed(bool on) noexcept { fail_closed_.store(on); }
    bool fail_closed() const noexcept { return fail_closed_.load(); }
    // True when an audited action may proceed now: always in fail-open mode; in
    // fail-closed mode only while an audit provider exists and can write. Any thread.
    bool can_audit() const noexcept;
    // can_audit(), counting a refusal (audit_refused_actions_total) when false.
    bool admit(std::string_view what) noexcept;
    std::uint64_t refusals() const noexcept { return refusals_.load(); }

private:
    // Returns the provider with a call registered in flight (release() after), or
    // nullptr without registering anything.
    sdk::AuditSink* acquire() const;
    void release() const;
    // Moves the buffered events into `provider` (caller holds an acquire()).
    void replay_into(sdk::AuditSink* provider);

    const sdk::ServiceRegistry& services_;
    std::shared_ptr<sdk::Logger> log_;
    std::size_t capacity_;
    mutable std::mutex mu_;
    mutable std::condition_variable idle_;
    mutable sdk::AuditSink* provider_ = nullptr;
    mutable unsigned in_flight_ = 0;
    std::deque<sdk::AuditEvent> buffer_;
    std::uint64_t dropped_ = 0;
    std::atomic<bool> fail_closed_{false};
    std::atomic<std::uint64_t> refusals_{0};
};

}  // namespace agenthost::runtime
