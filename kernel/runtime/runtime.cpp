// The runtime: the io_contexts and their threads, timers, the blocking pool, and the
// wiring of the registries. The only runtime TU that includes Asio.
#include "kernel/runtime/runtime.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "kernel/runtime/audit_forwarder.hpp"
#include "kernel/runtime/health_table.hpp"
#include "kernel/runtime/logger.hpp"
#include "kernel/runtime/metrics_registry.hpp"
#include "kernel/runtime/service_table.hpp"
#include "kernel/util/time.hpp"

namespace agenthost::runtime {
namespace asio = boost::asio;
namespace {

class LoopScheduler final : public sdk::Scheduler {
public:
    LoopScheduler(asio::io_context& io, unsigned threads) : io_(io), threads_(threads) {}
    ~LoopScheduler() override { cancel_all(); }

    void post(sdk::Task task) override { asio::post(io_, std::move(task)); }

    sdk::TimerId schedule(std::chrono::milliseconds delay, sdk::Task task) override {
        auto timer = std::make_shared<asio::steady_timer>(io_, delay);
        sdk::TimerId id;
        {
            std::lock_guard lock(mu_);
            id = ++next_id_;
            timers_.emplace(id, timer);
        }
        timer->async_wait([this, id, timer, task = std::move(task)](const auto& ec) {
            // The map decides who wins a race between expiry and cancel(): whoever
            // erases the entry. A cancelled timer never runs its task.
            bool mine = false;
            {
                std::lock_guard lock(mu_);
                mine = timers_.erase(id) == 1;
            }
            if (mine && !ec) {
                task();
            }
        });
        return id;
    }

    bool cancel(sdk::TimerId id) override {
        std::shared_ptr<asio::steady_timer> timer;
        {
            std::lock_guard lock(mu_);
            auto it = timers_.find(id);
            if (it == timers_.end()) {
                return false;
            }
            timer = std::move(it->second);
            timers_.erase(it);
        }
        // Cancelling from a non-loop thread is safe: the handler checks the map.
        asio::post(io_, [timer] { timer->cancel(); });
        return true;
    }

    unsigned concurrency() const noexcept override { return threads_; }
    void* native_loop() noexcept override { return &io_; }

    void cancel_all() {
        std::lock_guard lock(mu_);
        timers_.clear();
    }

private:
    asio::io_context& io_;
    unsigned threads_;
    std::mutex mu_;
    sdk::TimerId next_id_ = 0;
    std::unordered_map<sdk::TimerId, std::shared_ptr<asio::steady_timer>> timers_;
};

class PoolBlocking final : public sdk::BlockingPool {
public:
    explicit PoolBlocking(unsigned threads) : pool_(threads), threads_(threads) {}
    void submit(sdk::Task work) override { asio::post(pool_, std::move(work)); }
    unsigned threads() const noexcept override { return threads_; }
    // Waits for queued work to finish (shutdown).
    void join() { pool_.join(); }

private:
    asio::thread_pool pool_;
    unsigned threads_;
};

class SystemClock final : public sdk::Clock {
public:
    std::int64_t now_unix_ms() const noexcept override { return util::now_unix_ms(); }
    std::chrono::steady_clock::time_point steady_now() const noexcept override {
        return std::chrono::steady_clock::now();
    }
};

}  // namespace

struct Runtime::Impl {
    explicit Impl(RuntimeOptions o)
        : options(std::move(o)),
          base_log(make_base_logger(options.log_level, options.log_format)),
          kernel_log(make_component_logger(base_log, "kernel", options.log_format == "json")),
          loops(make_loops(options.loop_threads)),
          scheduler(*loops.front(), options.loop_threads),
          blocking(options.blocking_threads),
          metrics(make_component_logger(base_log, "metrics", options.log_format == "json")),
          audit(services, make_component_logger(base_log, "audit", options.log_format == "json")) {
        services.set_withdraw_hook([this](std::string_view cap) { audit.on_withdraw(cap); });
        keep_running();
    }

    // One io_context per loop thread, each run by exactly that thread (as nginx's
    // workers): a handler never wakes another loop thread to run the next one, which
    // a shared io_context does for almost every event (futex + epoll_wait switches).
    // Concurrency hint 1 tells Asio so; posts from other threads stay safe.
    static std::vector<std::unique_ptr<asio::io_context>> make_loops(unsigned n) {
        std::vector<std::unique_ptr<asio::io_context>> v;
        for (unsigned i = 0; i < n; ++i) {
            v.push_back(std::make_unique<asio::io_context>(1));
        }
        return v;
    }

    // Restarts stopped loops and holds each open until stop() (threads_mu held).
    void keep_running() {
        if (!work.empty()) {
            return;
        }
        for (auto& loop : loops) {
            if (loop->stopped()) {
                loop->restart();
            }
            work.push_back(asio::make_work_guard(*loop));
        }
    }

    RuntimeOptions options;
    std::shared_ptr<spdlog::logger> base_log;
    std::shared_ptr<sdk::Logger> kernel_log;
    // Destroyed after everything below that refers to them. loops[0] is io().
    std::vector<std::unique_ptr<asio::io_context>> loops;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::atomic<std::size_t> next_loop{0};
    LoopScheduler scheduler;
    PoolBlocking blocking;
    SystemClock clock;
    MetricsRegistry metrics;
    HealthTable health;
    RouteTable routes;
    ServiceTable services;
    AuditForwarder audit;

    std::mutex threads_mu;
    std::vector<std::thread> threads;
};

Runtime::Runtime(RuntimeOptions options) {
    if (options.loop_threads == 0) {
        options.loop_threads = 1;
    }
    if (options.blocking_threads == 0) {
        options.blocking_threads = 1;
    }
    impl_ = std::make_unique<Impl>(std::move(options));
}

Runtime::~Runtime() {
    stop();
    // Blocking work still queued finishes (its completions are posted to a stopped
    // loop and discarded with it); then timers go before the io_context.
    impl_->blocking.join();
    impl_->scheduler.cancel_all();
}

boost::asio::io_context& Runtime::io() {
    return *impl_->loops.front();
}
boost::asio::io_context& Runtime::connection_io() {
    auto& loops = impl_->loops;
    return *loops[impl_->next_loop.fetch_add(1, std::memory_order_relaxed) % loops.size()];
}
sdk::Scheduler& Runtime::scheduler() {
    return impl_->scheduler;
}
sdk::BlockingPool& Runtime::blocking() {
    return impl_->blocking;
}
sdk::Clock& Runtime::clock() {
    return impl_->clock;
}
sdk::Metrics& Runtime::metrics() {
    return impl_->metrics;
}
sdk::HealthRegistry& Runtime::health() {
    return impl_->health;
}
RouteTable& Runtime::routes() {
    return impl_->routes;
}
sdk::ServiceRegistry& Runtime::services() {
    return impl_->services;
}
sdk::AuditSink& Runtime::audit() {
    return impl_->audit;
}
MetricsRegistry& Runtime::metrics_registry() {
    return impl_->metrics;
}
HealthTable& Runtime::health_table() {
    return impl_->health;
}
ServiceTable& Runtime::service_table() {
    return impl_->services;
}
AuditForwarder& Runtime::audit_forwarder() {
    return impl_->audit;
}
const RuntimeOptions& Runtime::options() const {
    return impl_->options;
}

std::shared_ptr<sdk::Logger> Runtime::logger(std::string_view component) {
    if (component == "kernel") {
        return impl_->kernel_log;
    }
    return make_component_logger(impl_->base_log, std::string(component),
                                 impl_->options.log_format == "json");
}

void Runtime::set_draining(bool draining) {
    impl_->health.set_draining(draining);
}
bool Runtime::draining() const {
    return impl_->health.draining();
}

void Runtime::run() {
    {
        std::lock_guard lock(impl_->threads_mu);
        impl_->keep_running();
        for (std::size_t i = 1; i < impl_->loops.size(); ++i) {
            impl_->threads.emplace_back([loop = impl_->loops[i].get()] { loop->run(); });
        }
    }
    impl_->loops.front()->run();
    std::vector<std::thread> others;
    {
        std::lock_guard lock(impl_->threads_mu);
        others.swap(impl_->threads);
    }
    for (auto& t : others) {
        if (t.joinable()) {
            t.join();
        }
    }
}

void Runtime::start_background() {
    std::lock_guard lock(impl_->threads_mu);
    if (!impl_->work.empty() && !impl_->threads.empty()) {
        return;  // already running
    }
    // Threads left by a stop() issued from a loop thread are exiting: reap them.
    for (auto& t : impl_->threads) {
        if (t.get_id() == std::this_thread::get_id()) {
            t.detach();
        } else if (t.joinable()) {
            t.join();
        }
    }
    impl_->threads.clear();
    impl_->keep_running();
    for (auto& loop : impl_->loops) {
        impl_->threads.emplace_back([l = loop.get()] { l->run(); });
    }
}

void Runtime::stop() {
    std::vector<std::thread> joinable;
    {
        std::lock_guard lock(impl_->threads_mu);
        impl_->work.clear();
        for (auto& loop : impl_->loops) {
            loop->stop();
        }
        // A loop thread cannot join itself; run() or the destructor joins it later.
        auto self = std::this_thread::get_id();
        for (auto it = impl_->threads.begin(); it != impl_->threads.end();) {
            if (it->get_id() == self) {
                ++it;
            } else {
                joinable.push_back(std::move(*it));
                it = impl_->threads.erase(it);
            }
        }
    }
    for (auto& t : joinable) {
        if (t.joinable()) {
            t.join();
        }
    }
}

}  // namespace agenthost::runtime
