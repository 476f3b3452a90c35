#pragma once
// The audit sink every plugin and kernel component writes to (PluginContext::audit()).
// It forwards to the provider of capability "audit" (an sdk::AuditSink registered with
// provide_raw("audit", static_cast<sdk::AuditSink*>(p))), looked up lazily. Until a
// provider exists it logs each event at info and keeps the most recent `capacity`
// events, replaying them into the provider when it appears (start-up and plugin-load
// events are audited before the audit plugin is started).

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
};

}  // namespace agenthost::runtime
