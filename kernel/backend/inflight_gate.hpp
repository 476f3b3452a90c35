#pragma once
// Max in-flight commands per agent (docs/guards.md): at most `cap` commands are out
// on one session without their result. Further deliveries from the queue are parked
// here, in order, and go out as results free slots. A redelivery of a command already
// out is sent again (the agent deduplicates by command_id). A slot whose command's
// deadline passed is freed (the queue has timed it out).
//
// Thread-safe: the queue's DeliverFn (any loop thread) and the session's strand both
// use it.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/container/devector.hpp>

#include <agenthost/capabilities/queue.hpp>
#include <agenthost/metrics.hpp>

namespace agenthost::backend {

class InflightGate {
public:
    // `in_flight_gauge` (optional) follows the number of commands out, summed over
    // every gate sharing it.
    explicit InflightGate(std::size_t cap, sdk::Gauge* in_flight_gauge = nullptr);
    ~InflightGate();
    InflightGate(const InflightGate&) = delete;
    InflightGate& operator=(const InflightGate&) = delete;

    enum class Admit { resend, queued };
    // A delivery from the queue: `resend` when the command is already out (send it
    // again), else it waits in order; call take_ready() next.
    Admit admit(const sdk::CommandRecord& command, std::int64_t now_ms);
    // Frees expired slots, then moves waiting commands out while slots are free.
    // The caller sends what is returned, in order.
    std::vector<sdk::CommandRecord> take_ready(std::int64_t now_ms);
    // The result for `command_id` arrived (or it will never be sent): frees its slot.
    void finish(const std::string& command_id);
    // True while `command_id` is out or waiting here: the queue delivered it to this
    // session, so it is this session's agent's command (a command's agent never
    // changes). Lets a result skip asking the queue whose command it is.
    bool holds(const std::string& command_id) const;

    std::size_t in_flight() const;
    std::size_t waiting() const;

private:
    void purge_locked(std::int64_t now_ms);
    void erase_locked(std::unordered_map<std::string, std::int64_t>::iterator it);

    mutable std::mutex mu_;
    const std::size_t cap_;
    sdk::Gauge* gauge_;
    std::unordered_map<std::string, std::int64_t> out_;  // command_id → deadline (ms)
    boost::container::devector<sdk::CommandRecord> waiting_;  // no allocation until used
};

}  // namespace agenthost::backend
