#pragma once
// Test doubles for the plugin context (unit tests only): a real single-threaded
// loop with timers, a real small blocking pool, a recording logger, metrics and
// audit sink. Real threads keep the asynchronous contracts honest (nothing runs
// inline) while staying deterministic enough for waits with deadlines.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <agenthost/sdk.hpp>

namespace agenthost::testing {

// Polls `pred` until it holds or `timeout` passes (a wait on a condition, not a sleep).
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
}

class FakeScheduler final : public sdk::Scheduler {
public:
    FakeScheduler() : thread_([this] { run(); }) {}
    ~FakeScheduler() override {
        {
            std::lock_guard lk(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void post(sdk::Task task) override { schedule(std::chrono::milliseconds(0), std::move(task)); }
    sdk::TimerId schedule(std::chrono::milliseconds delay, sdk::Task task) override {
        std::lock_guard lk(mu_);
        const sdk::TimerId id = ++next_;
        timers_.emplace(id, Entry{std::chrono::steady_clock::now() + delay, std::move(task)});
        cv_.notify_all();
        return id;
    }
    bool cancel(sdk::TimerId id) override {
        std::lock_guard lk(mu_);
        return timers_.erase(id) != 0;
    }
    unsigned concurrency() const noexcept override { return 1; }
    std::size_t pending() const {
        std::lock_guard lk(mu_);
        return timers_.size();
    }

private:
    struct Entry {
        std::chrono::steady_clock::time_point due;
        sdk::Task task;
    };
    void run() {
        std::unique_lock lk(mu_);
        while (!stop_) {
            auto best = timers_.end();
            for (auto it = timers_.begin(); it != timers_.end(); ++it) {
                if (best == timers_.end() || it->second.due < best->second.due) {
                    best = it;
                }
            }
            if (best == timers_.end()) {
                cv_.wait(lk);
                continue;
            }
            if (best->second.due > std::chrono::steady_clock::now()) {
                const auto due = best->second.due;  // a cancel() may erase the entry meanwhile
                cv_.wait_until(lk, due);
                continue;
            }
            sdk::Task task = std::move(best->second.task);
            timers_.erase(best);
            lk.unlock();
            task();
            lk.lock();
        }
    }
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<sdk::TimerId, Entry> timers_;
    sdk::TimerId next_ = 0;
    bool stop_ = false;
    std::thread thread_;
};

class FakePool final : public sdk::BlockingPool {
public:
    explicit FakePool(unsigned n = 2) {
        for (unsigned i = 0; i < n; ++i) {
            threads_.emplace_back([this] { run(); });
        }
    }
    ~FakePool() override {
        {
            std::lock_guard lk(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_) {
            t.join();
        }
    }
    void submit(sdk::Task work) override {
        std::lock_guard lk(mu_);
        q_.push_back(std::move(work));
        cv_.notify_one();
    }
    unsigned threads() const noexcept override { return static_cast<unsigned>(threads_.size()); }

private:
    void run() {
        std::unique_lock lk(mu_);
        for (;;) {
            cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
            if (q_.empty()) {
                return;
            }
            auto t = std::move(q_.front());
            q_.pop_front();
            lk.unlock();
            t();
            lk.lock();
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<sdk::Task> q_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

// Wall clock with an adjustable offset, so tests can move "now" past deadlines.
class FakeClock final : public sdk::Clock {
public:
    std::int64_t now_unix_ms() const noexcept override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count() +
               offset_ms.load();
    }
    std::chrono::steady_clock::time_point steady_now() const noexcept override {
        return std::chrono::steady_clock::now();
    }
    std::atomic<std::int64_t> offset_ms{0};
};

class FakeLogger final : public sdk::Logger {
public:
    bool enabled(sdk::LogLevel) const noexcept override { return true; }
    void log(sdk::LogLevel level, std::string_view message,
             std::initializer_list<sdk::LogField> fields) noexcept override {
        std::string line(message);
        for (const auto& f : fields) {
            line += " " + std::string(f.key) + "=" + f.value;
        }
        std::lock_guard lk(mu_);
        lines_.emplace_back(level, std::move(line));
    }
    bool contains(std::string_view needle) const {
        std::lock_guard lk(mu_);
        for (const auto& [lvl, l] : lines_) {
            if (l.find(needle) != std::string::npos) {
                return true;
            }
        }
        return false;
    }

private:
    mutable std::mutex mu_;
    std::vector<std::pair<sdk::LogLevel, std::string>> lines_;
};

class FakeCounter final : public sdk::Counter {
public:
    void inc(std::uint64_t n) noexcept override { v_ += n; }
    std::uint64_t value() const noexcept override { return v_; }

private:
    std::atomic<std::uint64_t> v_{0};
};
class FakeGauge final : public sdk::Gauge {
public:
    void set(double v) noexcept override { v_ = v; }
    void add(double d) noexcept override {
        double cur = v_.load();
        while (!v_.compare_exchange_weak(cur, cur + d)) {
        }
    }
    double value() const noexcept override { return v_; }

private:
    std::atomic<double> v_{0};
};
class FakeHistogram final : public sdk::Histogram {
public:
    void observe(double) noexcept override {}
};

class FakeMetrics final : public sdk::Metrics {
public:
    sdk::Counter& counter(std::string_view name, std::string_view, const sdk::Labels& l) override {
        std::lock_guard lk(mu_);
        auto& p = counters_[key(name, l)];
        if (!p) {
            p = std::make_unique<FakeCounter>();
        }
        return *p;
    }
    sdk::Gauge& gauge(std::string_view name, std::string_view, const sdk::Labels& l) override {
        std::lock_guard lk(mu_);
        auto& p = gauges_[key(name, l)];
        if (!p) {
            p = std::make_unique<FakeGauge>();
        }
        return *p;
    }
    sdk::Histogram& histogram(std::string_view, std::string_view, std::vector<double>,
                              const sdk::Labels&) override {
        return hist_;
    }
    void callback_gauge(std::string_view, std::string_view, const sdk::Labels&,
                        std::function<double()>) override {}
    std::string render_prometheus() const override { return {}; }
    // Key: name{k=v,...}
    static std::string key(std::string_view name, const sdk::Labels& l) {
        std::string k(name);
        if (!l.empty()) {
            k += "{";
            for (const auto& [a, b] : l) {
                k += a + "=" + b + ",";
            }
            k.back() = '}';
        }
        return k;
    }
    std::uint64_t counter_value(const std::string& k) const {
        std::lock_guard lk(mu_);
        auto it = counters_.find(k);
        return it == counters_.end() ? 0 : it->second->value();
    }
    double gauge_value(const std::string& k) const {
        std::lock_guard lk(mu_);
        auto it = gauges_.find(k);
        return it == gauges_.end() ? 0 : it->second->value();
    }

private:
    mutable std::mutex mu_;
    std::map<std::string, std::unique_ptr<FakeCounter>> counters_;
    std::map<std::string, std::unique_ptr<FakeGauge>> gauges_;
    FakeHistogram hist_;
};

class FakeAudit final : public sdk::AuditSink {
public:
    void record(sdk::AuditEvent event, sdk::AuditCompletion done) override {
        {
            std::lock_guard lk(mu_);
            events_.push_back(std::move(event));
        }
        if (done) {
            done(sdk::Status::success());
        }
    }
    bool writable() const noexcept override { return true; }
    sdk::Status flush() override { return {}; }
    std::vector<sdk::AuditEvent> events() const {
        std::lock_guard lk(mu_);
        return events_;
    }

private:
    mutable std::mutex mu_;
    std::vector<sdk::AuditEvent> events_;
};

class FakeServices final : public sdk::ServiceRegistry {
public:
    sdk::Status provide_raw(std::string_view cap, void* service) override {
        std::lock_guard lk(mu_);
        services_.emplace_back(std::string(cap), service);
        return {};
    }
    void* find_raw(std::string_view cap) const override {
        std::lock_guard lk(mu_);
        for (const auto& [c, s] : services_) {
            if (c == cap) {
                return s;
            }
        }
        return nullptr;
    }
    std::vector<void*> find_all_raw(std::string_view cap) const override {
        std::lock_guard lk(mu_);
        std::vector<void*> out;
        for (const auto& [c, s] : services_) {
            if (c == cap) {
                out.push_back(s);
            }
        }
        return out;
    }

private:
    mutable std::mutex mu_;
    std::vector<std::pair<std::string, void*>> services_;
};

class FakeRoutes final : public sdk::RouteRegistry {
public:
    sdk::Status add(sdk::Listener, std::string, std::string, sdk::HttpHandler) override {
        return {};
    }
};

class FakeHealth final : public sdk::HealthRegistry {
public:
    void add_check(std::string, bool, sdk::HealthCheck) override {}
    std::vector<std::pair<std::string, sdk::HealthReport>> evaluate() const override { return {}; }
    bool ready() const override { return true; }
};

class FakeContext final : public sdk::PluginContext {
public:
    explicit FakeContext(std::string state_dir = "/tmp") : state_dir_(std::move(state_dir)) {}
    std::string_view plugin_name() const noexcept override { return "test"; }
    std::string_view role() const noexcept override { return "gateway"; }
    std::string_view host_id() const noexcept override { return "test-host"; }
    const std::string& state_dir() const noexcept override { return state_dir_; }
    sdk::Logger& logger() noexcept override { return log; }
    sdk::Metrics& metrics() noexcept override { return metric; }
    sdk::Scheduler& scheduler() noexcept override { return sched; }
    sdk::BlockingPool& blocking() noexcept override { return pool; }
    sdk::Clock& clock() noexcept override { return clk; }
    sdk::ServiceRegistry& services() noexcept override { return svc; }
    sdk::RouteRegistry& routes() noexcept override { return route; }
    sdk::HealthRegistry& health() noexcept override { return hlth; }
    sdk::AuditSink& audit() noexcept override { return aud; }

    FakeLogger log;
    FakeMetrics metric;
    FakeClock clk;
    FakeServices svc;
    FakeRoutes route;
    FakeHealth hlth;
    FakeAudit aud;
    // Declared last: destroyed first, so no task runs against destroyed members.
    FakePool pool;
    FakeScheduler sched;

private:
    std::string state_dir_;
};

}  // namespace agenthost::testing
