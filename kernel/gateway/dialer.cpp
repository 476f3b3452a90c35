#include "kernel/gateway/dialer.hpp"

#include "kernel/net/ws_client.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::gateway {

struct Dialer::State {
    std::mutex mu;
    bool stopped = false;
    bool session_open = false;             // an attempt in progress or a session live
    std::shared_ptr<net::TlsContext> tls;  // for the next dial (set_tls)
    sdk::TimerId timer = 0;
    Backoff backoff;
    explicit State(Backoff b) : backoff(b) {}
};

Dialer::Dialer(runtime::Runtime& rt, Uplink& uplink, DialerOptions options, sdk::Logger& logger)
    : rt_(rt),
      uplink_(uplink),
      options_(std::move(options)),
      logger_(logger),
      reconnects_(rt.metrics().counter("agenthost_gateway_reconnects_total",
                                       "Connection attempts after the first one")),
      state_(std::make_shared<State>(Backoff(options_.initial, options_.max))) {
    state_->tls = options_.tls;
}

Dialer::~Dialer() {
    stop(net::close_code::going_away);
}

void Dialer::start() {
    attempt();
}

bool Dialer::finished() const {
    std::lock_guard lk(state_->mu);
    return state_->stopped && !state_->session_open;
}

void Dialer::set_tls(std::shared_ptr<net::TlsContext> tls) {
    std::lock_guard lk(state_->mu);
    state_->tls = std::move(tls);
}

void Dialer::stop(std::uint16_t code) {
    {
        std::lock_guard lk(state_->mu);
        state_->stopped = true;
        if (state_->timer != 0) {
            rt_.scheduler().cancel(state_->timer);
            state_->timer = 0;
        }
    }
    uplink_.close(code, code == net::close_code::normal ? "gateway stopping" : "going away");
}

void Dialer::attempt() {
    std::shared_ptr<net::TlsContext> tls;
    {
        std::lock_guard lk(state_->mu);
        state_->timer = 0;
        if (state_->stopped) {
            return;
        }
        state_->session_open = true;
        tls = state_->tls;
    }
    std::weak_ptr<State> weak = state_;
    auto handler = uplink_.make_handler(
        [this, weak](std::uint16_t code) {
            if (auto s = weak.lock()) {
                retry("session closed with code " + std::to_string(code));
            }
        },
        [weak] {
            if (auto s = weak.lock()) {
                std::lock_guard lk(s->mu);
                s->backoff.reset();
            }
        });
    net::WsClient::connect(rt_, options_.url, std::move(tls), options_.limits, std::move(handler),
                           [this, weak](sdk::Status st) {
                               if (auto s = weak.lock()) {
                                   if (st.code() == sdk::Errc::permission_denied) {
                                       // The backend's key is not in the pin set: a
                                       // security decision (DESIGN.md), audited.
                                       rt_.audit().record(sdk::AuditEvent{
                                           "kernel", "backend.pin_mismatch", options_.url,
                                           "denied", {{"reason", st.message()}}});
                                   }
                                   retry("connect failed: " + st.message());
                               }
                           });
}

void Dialer::retry(const std::string& why) {
    std::chrono::milliseconds delay{0};
    {
        std::lock_guard lk(state_->mu);
        state_->session_open = false;
        if (state_->stopped) {
            return;
        }
        delay = state_->backoff.next();
        state_->timer =
            rt_.scheduler().schedule(delay, [this, weak = std::weak_ptr<State>(state_)] {
                if (auto s = weak.lock()) {
                    reconnects_.inc();
                    attempt();
                }
            });
    }
    logger_.warn("backend link down; reconnecting",
                 {{"reason", why}, {"retry_in_ms", std::to_string(delay.count())}});
}

}  // namespace agenthost::gateway
