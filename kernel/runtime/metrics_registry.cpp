// Metrics registry and its Prometheus text-format (0.0.4) rendering.
#include "kernel/runtime/metrics_registry.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <string>

namespace agenthost::runtime {
namespace {

class CounterImpl final : public sdk::Counter {
public:
    void inc(std::uint64_t n) noexcept override { v_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept override { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

class GaugeImpl final : public sdk::Gauge {
public:
    void set(double v) noexcept override { v_.store(v, std::memory_order_relaxed); }
    void add(double d) noexcept override { v_.fetch_add(d, std::memory_order_relaxed); }
    double value() const noexcept override { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> v_{0.0};
};

class HistogramImpl final : public sdk::Histogram {
public:
    explicit HistogramImpl(std::vector<double> bounds)
        : bounds_(std::move(bounds)),
          counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

    void observe(double v) noexcept override {
        // Per-bucket (non-cumulative) counts; render() accumulates. The last slot is +Inf.
        std::size_t i = 0;
        while (i < bounds_.size() && v > bounds_[i]) {
            ++i;
        }
        counts_[i].fetch_add(1, std::memory_order_relaxed);
        sum_.fetch_add(v, std::memory_order_relaxed);
    }

    const std::vector<double>& bounds() const { return bounds_; }
    std::uint64_t bucket(std::size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
    double sum() const { return sum_.load(std::memory_order_relaxed); }

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
    std::atomic<double> sum_{0.0};
};

std::string format_double(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

void append_escaped_help(std::string& out, std::string_view help) {
    for (char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

void append_escaped_label(std::string& out, std::string_view value) {
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

// `{a="x",b="y"}`, with an optional extra label (histogram `le`); "" when empty.
std::string render_labels(const sdk::Labels& labels, std::string_view extra_key = {},
                          std::string_view extra_value = {}) {
    if (labels.empty() && extra_key.empty()) {
        return {};
    }
    std::string out = "{";
    bool first = true;
    auto put = [&](std::string_view k, std::string_view v) {
        if (!first) {
            out += ',';
        }
        first = false;
        out.append(k);
        out += "=\"";
        append_escaped_label(out, v);
        out += '"';
    };
    for (const auto& [k, v] : labels) {
        put(k, v);
    }
    if (!extra_key.empty()) {
        put(extra_key, extra_value);
    }
    out += '}';
    return out;
}

std::string labels_key(const sdk::Labels& sorted) {
    std::string key;
    for (const auto& [k, v] : sorted) {
        key += k;
        key += '\x1f';
        key += v;
        key += '\x1e';
    }
    return key;
}

}  // namespace

struct MetricsRegistry::Series {
    sdk::Labels labels;  // sorted by name
    std::unique_ptr<CounterImpl> counter;
    std::unique_ptr<GaugeImpl> gauge;
    std::unique_ptr<HistogramImpl> histogram;
    std::function<double()> callback;
    std::string owner;
    // A series made only for a callback is hidden once the callback is dropped; plain
    // handles are never removed because plugins may keep pointers to them.
    bool callback_only = false;
};

struct MetricsRegistry::Family {
    std::string name;
    std::string help;
    Kind kind;
    std::vector<double> buckets;
    std::map<std::string, std::unique_ptr<Series>> series;
};

MetricsRegistry::MetricsRegistry(std::shared_ptr<sdk::Logger> log) : log_(std::move(log)) {}
MetricsRegistry::~MetricsRegistry() = default;

bool MetricsRegistry::valid_metric_name(std::string_view name) noexcept {
    if (name.empty()) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit))) {
            return false;
        }
    }
    return true;
}

bool MetricsRegistry::valid_label_name(std::string_view name) noexcept {
    if (name.empty() || name.starts_with("__")) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit))) {
            return false;
        }
    }
    return true;
}

void MetricsRegistry::complain(std::string_view what, std::string_view name) noexcept {
    if (log_) {
        log_->error("metric registration refused",
                    {{"reason", std::string(what)}, {"metric", std::string(name)}});
    }
}

MetricsRegistry::Family* MetricsRegistry::family_locked(std::string_view name,
                                                        std::string_view help, Kind kind) {
    if (!valid_metric_name(name)) {
        complain("invalid metric name", name);
        return nullptr;
    }
    auto it = families_.find(name);
    if (it == families_.end()) {
        auto fam = std::make_unique<Family>();
        fam->name = std::string(name);
        fam->help = std::string(help);
        fam->kind = kind;
        it = families_.emplace(fam->name, std::move(fam)).first;
    }
    if (it->second->kind != kind) {
        complain("metric already registered with another type", name);
        return nullptr;
    }
    return it->second.get();
}

MetricsRegistry::Series* MetricsRegistry::series_locked(Family& family, const sdk::Labels& labels,
                                                        bool* created) {
    sdk::Labels sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [k, v] : sorted) {
        if (!valid_label_name(k) || (family.kind == Kind::histogram && k == "le")) {
            complain("invalid label name '" + k + "'", family.name);
            return nullptr;
        }
    }
    auto key = labels_key(sorted);
    auto it = family.series.find(key);
    *created = it == family.series.end();
    if (*created) {
        auto s = std::make_unique<Series>();
        s->labels = std::move(sorted);
        it = family.series.emplace(std::move(key), std::move(s)).first;
    }
    return it->second.get();
}

sdk::Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                       const sdk::Labels& labels) {
    std::lock_guard lock(mu_);
    bool created = false;
    Family* fam = family_locked(name, help, Kind::counter);
    Series* s = fam ? series_locked(*fam, labels, &created) : nullptr;
    if (!s) {
        detached_.push_back(std::make_unique<Series>());
        s = detached_.back().get();
    }
    if (!s->counter) {
        s->counter = std::make_unique<CounterImpl>();
    }
    return *s->counter;
}

sdk::Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help,
                                   const sdk::Labels& labels) {
    std::lock_guard lock(mu_);
    bool created = false;
    Family* fam = family_locked(name, help, Kind::gauge);
    Series* s = fam ? series_locked(*fam, labels, &created) : nullptr;
    if (!s) {
        detached_.push_back(std::make_unique<Series>());
        s = detached_.back().get();
    }
    if (!s->gauge) {
        s->gauge = std::make_unique<GaugeImpl>();
    }
    s->callback_only = false;
    return *s->gauge;
}

sdk::Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                           std::vector<double> buckets, const sdk::Labels& labels) {
    std::lock_guard lock(mu_);
    bool created = false;
    Family* fam = family_locked(name, help, Kind::histogram);
    if (fam && fam->series.empty() && fam->buckets.empty()) {
        // The first registration fixes the family's bucket layout.
        std::erase_if(buckets, [](double b) { return std::isnan(b) || std::isinf(b); });
        std::sort(buckets.begin(), buckets.end());
        buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
        fam->buckets = std::move(buckets);
    }
    Series* s = fam ? series_locked(*fam, labels, &created) : nullptr;
    if (!s) {
        detached_.push_back(std::make_unique<Series>());
        s = detached_.back().get();
    }
    if (!s->histogram) {
        s->histogram = std::make_unique<HistogramImpl>(fam ? fam->buckets : std::vector<double>{});
    }
    return *s->histogram;
}

void MetricsRegistry::callback_gauge(std::string_view name, std::string_view help,
                                     const sdk::Labels& labels, std::function<double()> fn) {
    callback_gauge_owned("", name, help, labels, std::move(fn));
}

void MetricsRegistry::callback_gauge_owned(std::string owner, std::string_view name,
                                           std::string_view help, const sdk::Labels& labels,
                                           std::function<double()> fn) {
    std::lock_guard lock(mu_);
    bool created = false;
    Family* fam = family_locked(name, help, Kind::gauge);
    Series* s = fam ? series_locked(*fam, labels, &created) : nullptr;
    if (!s) {
        return;
    }
    if (created) {
        s->callback_only = true;
    }
    s->callback = std::move(fn);
    s->owner = std::move(owner);
}

void MetricsRegistry::drop_callbacks(std::string_view owner) {
    std::lock_guard lock(mu_);
    for (auto& [name, fam] : families_) {
        for (auto& [key, s] : fam->series) {
            if (s->callback && s->owner == owner) {
                s->callback = nullptr;
            }
        }
    }
}

std::string MetricsRegistry::render_prometheus() const {
    // Callbacks run under the lock so that drop_callbacks() (called before the owning
    // plugin stops) cannot race with a scrape still inside a callback.
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& [name, fam] : families_) {
        std::string body;
        for (const auto& [key, s] : fam->series) {
            switch (fam->kind) {
                case Kind::counter:
                    if (s->counter) {
                        body += name + render_labels(s->labels) + ' ' +
                                std::to_string(s->counter->value()) + '\n';
                    }
                    break;
                case Kind::gauge: {
                    double v = 0;
                    if (s->callback) {
                        try {
                            v = s->callback();
                        } catch (...) {
                            v = std::nan("");
                        }
                    } else if (s->gauge && !s->callback_only) {
                        v = s->gauge->value();
                    } else {
                        break;
                    }
                    body += name + render_labels(s->labels) + ' ' + format_double(v) + '\n';
                    break;
                }
                case Kind::histogram: {
                    if (!s->histogram) {
                        break;
                    }
                    const auto& h = *s->histogram;
                    std::uint64_t cumulative = 0;
                    for (std::size_t i = 0; i < h.bounds().size(); ++i) {
                        cumulative += h.bucket(i);
                        body += name + "_bucket" +
                                render_labels(s->labels, "le", format_double(h.bounds()[i])) + ' ' +
                                std::to_string(cumulative) + '\n';
                    }
                    cumulative += h.bucket(h.bounds().size());
                    body += name + "_bucket" + render_labels(s->labels, "le", "+Inf") + ' ' +
                            std::to_string(cumulative) + '\n';
                    body += name + "_sum" + render_labels(s->labels) + ' ' +
                            format_double(h.sum()) + '\n';
                    // _count is the +Inf bucket, so a scrape is self-consistent even
                    // while observations race with it.
                    body += name + "_count" + render_labels(s->labels) + ' ' +
                            std::to_string(cumulative) + '\n';
                    break;
                }
            }
        }
        if (body.empty()) {
            continue;
        }
        out += "# HELP " + name + ' ';
        append_escaped_help(out, fam->help);
        out += '\n';
        static constexpr const char* kind_names[] = {"counter", "gauge", "histogram"};
        out += "# TYPE " + name + ' ' + kind_names[static_cast<int>(fam->kind)] + '\n';
        out += body;
    }
    return out;
}

}  // namespace agenthost::runtime
