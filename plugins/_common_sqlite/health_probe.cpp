#include "plugins/_common_sqlite/health_probe.hpp"

#include <utility>

namespace agenthost::sqlite {

HealthProbe::HealthProbe(sdk::PluginContext& ctx, std::shared_ptr<AsyncGate> gate, Database* db,
                         std::chrono::milliseconds interval, double warn_ms)
    : ctx_(ctx), gate_(std::move(gate)), db_(db), interval_(interval), warn_ms_(warn_ms) {
    last_.state = sdk::HealthState::fail;
    last_.component_type = "datastore";
    last_.observed_unit = "ms";
    last_.output = "not probed yet";
}

void HealthProbe::start(const std::string& name) {
    std::weak_ptr<HealthProbe> weak = weak_from_this();
    ctx_.health().add_check(name, true, [weak]() {
        if (auto self = weak.lock()) {
            return self->report();
        }
        return sdk::HealthReport{sdk::HealthState::fail, "datastore", std::nullopt, "ms",
                                 "store stopped"};
    });
    ctx_.metrics().callback_gauge("agenthost_sqlite_latency_ms",
                                  "Latency of the last SQLite store probe (ms).",
                                  {{"plugin", std::string(ctx_.plugin_name())}}, [weak]() {
                                      auto self = weak.lock();
                                      if (!self) {
                                          return -1.0;
                                      }
                                      return self->report().observed_value.value_or(-1.0);
                                  });
    arm();
}

void HealthProbe::stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    if (armed_) {
        ctx_.scheduler().cancel(timer_);
        armed_ = false;
    }
}

void HealthProbe::arm() {
    std::lock_guard lock(mu_);
    if (stopped_) {
        return;
    }
    std::weak_ptr<HealthProbe> weak = weak_from_this();
    armed_ = true;
    timer_ = ctx_.scheduler().schedule(interval_, [weak]() {
        auto self = weak.lock();
        if (!self) {
            return;
        }
        AsyncGate::Pass pass(*self->gate_);
        if (!pass) {
            return;
        }
        // Never probe on the loop: the probe takes SQLite locks and touches the disk.
        self->ctx_.blocking().submit([weak]() {
            auto me = weak.lock();
            if (!me) {
                return;
            }
            AsyncGate::Pass inner(*me->gate_);
            if (!inner) {
                return;
            }
            me->refresh();
            me->arm();
        });
    });
}

void HealthProbe::refresh() {
    sdk::HealthReport r;
    r.component_type = "datastore";
    r.observed_unit = "ms";
    auto elapsed = db_->ping();
    if (!elapsed) {
        r.state = sdk::HealthState::fail;
        r.output = elapsed.status().message();
    } else {
        double ms = static_cast<double>(elapsed->count()) / 1000.0;
        r.observed_value = ms;
        if (ms > warn_ms_) {
            r.state = sdk::HealthState::warn;
            r.output = "latency above " + std::to_string(warn_ms_) + " ms";
        }
    }
    std::lock_guard lock(mu_);
    last_ = std::move(r);
}

sdk::HealthReport HealthProbe::report() const {
    std::lock_guard lock(mu_);
    return last_;
}

}  // namespace agenthost::sqlite
