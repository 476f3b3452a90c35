#include "kernel/gateway/telemetry_pump.hpp"

#include <algorithm>
#include <cmath>

#include <boost/json/serialize.hpp>

#include "kernel/proto/messages.hpp"
#include "kernel/util/ids.hpp"

namespace agenthost::gateway {

std::size_t sanitize_points(std::vector<sdk::TelemetryPoint>& points) {
    const auto bad = [](const sdk::TelemetryPoint& p) {
        if (!proto::valid_metric_name(p.metric) || !std::isfinite(p.value) ||
            p.labels.size() > proto::kMaxLabels) {
            return true;
        }
        for (const auto& [k, v] : p.labels) {
            if (!proto::valid_label_name(k) || !proto::valid_utf8(v) ||
                v.size() > proto::kMaxLabelValueChars) {
                return true;
            }
        }
        return false;
    };
    const auto before = points.size();
    points.erase(std::remove_if(points.begin(), points.end(), bad), points.end());
    for (auto& p : points) {
        std::sort(p.labels.begin(), p.labels.end());
    }
    return before - points.size();
}

TelemetryPump::TelemetryPump(TelemetryDeps deps, std::vector<sdk::TelemetryCollector*> collectors,
                             std::function<std::size_t()> max_batch_points,
                             std::function<void()> spooled)
    : d_(deps),
      collectors_(std::move(collectors)),
      max_batch_points_(std::move(max_batch_points)),
      spooled_(std::move(spooled)),
      timers_(collectors_.size(), 0) {}

TelemetryPump::~TelemetryPump() {
    stop();
    std::unique_lock lk(life_->mu);
    life_->alive = false;
}

sdk::Task TelemetryPump::guarded(std::function<void()> fn) {
    return [life = life_, fn = std::move(fn)] {
        std::shared_lock lk(life->mu);
        if (life->alive) {
            fn();
        }
    };
}

void TelemetryPump::start() {
    {
        std::lock_guard lk(mu_);
        running_ = true;
    }
    for (std::size_t i = 0; i < collectors_.size(); ++i) {
        schedule(i);
    }
}

void TelemetryPump::stop() {
    std::lock_guard lk(mu_);
    running_ = false;
    for (auto& t : timers_) {
        if (t != 0) {
            d_.scheduler.cancel(t);
            t = 0;
        }
    }
}

void TelemetryPump::schedule(std::size_t index) {
    std::lock_guard lk(mu_);
    if (!running_) {
        return;
    }
    const auto interval = std::max(collectors_[index]->interval(), std::chrono::milliseconds(100));
    timers_[index] = d_.scheduler.schedule(interval, guarded([this, index] {
                                               {
                                                   std::lock_guard lk2(mu_);
                                                   timers_[index] = 0;
                                               }
                                               collect_now(index);
                                           }));
}

void TelemetryPump::collect_now(std::size_t index) {
    collectors_[index]->collect(
        [this, index, life = life_](sdk::Result<std::vector<sdk::TelemetryPoint>> r) {
            std::shared_lock lk(life->mu);
            if (life->alive) {
                d_.scheduler.post(guarded(
                    [this, index, r = std::move(r)]() mutable { on_points(index, std::move(r)); }));
            }
        });
}

void TelemetryPump::on_points(std::size_t index, sdk::Result<std::vector<sdk::TelemetryPoint>> r) {
    schedule(index);  // the next round does not depend on this one being stored
    if (!r.ok()) {
        d_.logger.warn("telemetry collection failed", {{"error", r.status().message()}});
        return;
    }
    std::vector<sdk::TelemetryPoint> points = std::move(r.value());
    if (const std::size_t bad = sanitize_points(points); bad > 0) {
        d_.metrics
            .counter("agenthost_gateway_telemetry_invalid_points_total",
                     "Collected points dropped for breaking the protocol's rules")
            .inc(bad);
        d_.logger.warn("dropped invalid telemetry points", {{"count", std::to_string(bad)}});
    }
    const std::size_t per_batch = std::max<std::size_t>(1, max_batch_points_());
    for (std::size_t at = 0; at < points.size(); at += per_batch) {
        proto::TelemetryBody batch;
        batch.batch_id = util::uuid_v4();
        const auto end = std::min(points.size(), at + per_batch);
        batch.points.assign(points.begin() + static_cast<std::ptrdiff_t>(at),
                            points.begin() + static_cast<std::ptrdiff_t>(end));
        const std::size_t n = batch.points.size();
        std::string body = boost::json::serialize(batch.to_json());
        d_.blocking.submit(guarded([this, id = batch.batch_id, body = std::move(body), n] {
            sdk::Status s = d_.store.spool_telemetry(id, body);
            if (s.code() == sdk::Errc::exhausted) {
                d_.metrics
                    .counter("agenthost_gateway_telemetry_dropped_points_total",
                             "Telemetry points not collected because the spool was full")
                    .inc(n);
                d_.logger.warn("spool full: telemetry batch dropped",
                               {{"points", std::to_string(n)}, {"detail", s.message()}});
                return;
            }
            if (!s.ok()) {
                d_.logger.error("cannot spool telemetry", {{"error", s.message()}});
                return;
            }
            d_.scheduler.post(guarded([this] {
                if (spooled_) {
                    spooled_();
                }
            }));
        }));
    }
}

}  // namespace agenthost::gateway
