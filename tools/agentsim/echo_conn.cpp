// ws-echo mode: the Node.js `ws` baseline's client. Plain ws://, the same WsConn
// transport and framing as agent mode (so whatever makes agent mode's client cheaper
// applies here too), sends a signed-telemetry-sized text and waits for its echo,
// `--echo` in flight (at least one).
#include <algorithm>
#include <vector>

#include "tools/agentsim/sim_internal.hpp"
#include "tools/agentsim/ws_conn.hpp"

namespace agenthost::agentsim {

namespace {

class EchoConn final : public WsConn {
public:
    EchoConn(Worker& w, Shared& sh, std::size_t index)
        : WsConn(w, sh, index, /*tls=*/false),
          sent_(std::max<std::size_t>(sh.opt.echo, 1)) {}

private:
    void on_open() override {
        w_.stats.connect_us.record(micros_since(started()));
        sh_.note_connected();
        end_setup();
        for (std::size_t i = 0; i < sent_.size(); ++i) {
            send_one();
        }
    }

    void on_message(std::string_view) override {
        if (count_ != 0) {
            auto us = micros_since(sent_[head_]);
            head_ = (head_ + 1) % sent_.size();
            --count_;
            w_.stats.echo_received.inc();
            w_.stats.rtt_us.record(us);
            if (sh_.measuring.load(std::memory_order_relaxed)) {
                w_.stats.measured_rtt.record(us);
            }
        }
        send_one();
    }

    void send_one() {
        if (stopped_ || !can_send() || sh_.stopping.load(std::memory_order_relaxed) ||
            count_ == sent_.size()) {
            return;
        }
        sent_[(head_ + count_) % sent_.size()] = Clock::now();
        ++count_;
        w_.stats.echo_sent.inc();
        send_text(sh_.echo_payload);
    }

    // Send times of the messages in flight, oldest first (a ring of --echo slots).
    std::vector<Clock::time_point> sent_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

}  // namespace

std::shared_ptr<Conn> make_echo_conn(Worker& worker, Shared& shared, std::size_t index) {
    return std::make_shared<EchoConn>(worker, shared, index);
}

}  // namespace agenthost::agentsim
