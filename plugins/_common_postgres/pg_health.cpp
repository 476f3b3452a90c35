#include "plugins/_common_postgres/pg_health.hpp"

#include <utility>

namespace agenthost::pg {

PoolHealth::PoolHealth(sdk::PluginContext& ctx, std::shared_ptr<Pool> pool,
                       std::chrono::milliseconds interval, double warn_ms)
    : ctx_(ctx), pool_(std::move(pool)), interval_(interval), warn_ms_(warn_ms) {
    last_.state = sdk::HealthState::fail;
    last_.component_type = "datastore";
    last_.observed_unit = "ms";
    last_.output = "not probed yet";
}

void PoolHealth::start(const std::string& name) {
    std::weak_ptr<PoolHealth> weak = weak_from_this();
    ctx_.health().add_check(name, true, [weak]() {
        if (auto self = weak.lock()) {
            return self->report();
        }
        return sdk::HealthReport{sdk::HealthState::fail, "datastore", std::nullopt, "ms",
                                 "store stopped"};
    });
    ctx_.metrics().callback_gauge("agenthost_postgres_latency_ms",
                                  "Latency of the last PostgreSQL probe (ms); -1 when down.",
                                  {{"plugin", std::string(ctx_.plugin_name())}}, [weak]() {
                                      auto self = weak.lock();
                                      if (!self) {
                                          return -1.0;
                                      }
                                      return self->report().observed_value.value_or(-1.0);
                                  });
    arm();
}

void PoolHealth::stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    if (armed_) {
        ctx_.scheduler().cancel(timer_);
        armed_ = false;
    }
}

void PoolHealth::arm() {
    // Under mu_: stop() cannot slip between the stopped_ check and schedule().
    std::lock_guard lock(mu_);
    if (stopped_) {
        return;
    }
    std::weak_ptr<PoolHealth> weak = weak_from_this();
    armed_ = true;
    timer_ = ctx_.scheduler().schedule(interval_, [weak]() {
        auto self = weak.lock();
        if (!self) {
            return;
        }
        {
            std::lock_guard lock(self->mu_);
            if (self->stopped_) {
                return;
            }
        }
        // Never ping on the loop: it is a network round trip (or a connect timeout).
        self->ctx_.blocking().submit([weak]() {
            if (auto me = weak.lock()) {
                me->refresh();
                me->arm();
            }
        });
    });
}

void PoolHealth::refresh() {
    sdk::HealthReport r;
    r.component_type = "datastore";
    r.observed_unit = "ms";
    sdk::Status st = pool_->ping();
    if (st.code() == sdk::Errc::exhausted && pool_->healthy()) {
        // Every connection is lent out: the server is busy, not down.
        r.state = sdk::HealthState::warn;
        r.output = st.message();
    } else if (!st.ok()) {
        r.state = sdk::HealthState::fail;
        r.output = st.message();
    } else {
        const double ms = static_cast<double>(pool_->last_ping_latency().count()) / 1000.0;
        r.observed_value = ms;
        if (ms > warn_ms_) {
            r.state = sdk::HealthState::warn;
            r.output = "latency above " + std::to_string(warn_ms_) + " ms";
        }
    }
    std::lock_guard lock(mu_);
    last_ = std::move(r);
}

sdk::HealthReport PoolHealth::report() const {
    sdk::HealthReport r;
    {
        std::lock_guard lock(mu_);
        r = last_;
    }
    // A broken connection seen by real traffic counts at once, not at the next probe.
    if (r.state != sdk::HealthState::fail && !pool_->healthy()) {
        r.state = sdk::HealthState::fail;
        r.observed_value.reset();
        r.output = "postgres connection lost";
    }
    return r;
}

}  // namespace agenthost::pg
