// redis::Client and redis::LocalLoop: the only translation unit of ah_redis that
// includes Asio (and hiredis' async API). hiredis is driven through its event hooks
// (ev.addRead/delRead/addWrite/delWrite/cleanup, as in hiredis/adapters/*.h) mapped
// onto stream_descriptor::async_wait on ah_redis' own I/O thread (io_thread() below
// says why not the kernel's loop). Every touch of the redisAsyncContext holds the
// client's io_mu: the strand's handlers on the I/O thread, and a command issued on
// another thread, which is written from that thread at once (see send_inline) instead
// of being handed to the I/O thread (a thread wake-up per command). Callers' completions
// and hooks never run under io_mu: they are collected while it is held and run after.
#include "plugins/_common_redis/client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

namespace agenthost::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

Reply convert(const redisReply& r) {
    Reply out;
    switch (r.type) {
        case REDIS_REPLY_STRING: out.type = Reply::Type::string; break;
        case REDIS_REPLY_STATUS: out.type = Reply::Type::status; break;
        case REDIS_REPLY_ERROR: out.type = Reply::Type::error; break;
        case REDIS_REPLY_INTEGER: out.type = Reply::Type::integer; break;
        case REDIS_REPLY_ARRAY: out.type = Reply::Type::array; break;
        default: out.type = Reply::Type::nil; break;
    }
    if (r.str != nullptr) {
        out.str.assign(r.str, r.len);
    }
    out.integer = r.integer;
    if (r.type == REDIS_REPLY_ARRAY) {
        out.elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i) {
            out.elements.push_back(r.element[i] ? convert(*r.element[i]) : Reply{});
        }
    }
    return out;
}

sdk::Status lost(const std::string& why) {
    return sdk::error(sdk::Errc::unavailable, "redis unavailable: " + why);
}

// The I/O thread of every client of this module. Asio keeps per-thread state (the
// scheduler call stack) in function-local statics, and a plugin is built with hidden
// visibility, so a plugin's copy of Asio cannot run I/O objects on the kernel's
// io_context: a reactor completion would look for its thread state in the plugin's
// (empty) copy and crash (scheduler::compensating_work_started). So sockets live on
// an io_context of our own, run by one thread that lives until the process exits
// (never joined from inside itself); completions are posted back to the caller's
// world by the callers (the queue posts deliveries to the kernel's Scheduler).
asio::io_context& io_thread() {
    static asio::io_context* io = [] {
        auto* ctx = new asio::io_context(1);
        auto* guard = new asio::executor_work_guard<asio::io_context::executor_type>(
            asio::make_work_guard(*ctx));
        (void)guard;  // intentionally leaked: the loop runs until the process exits
        std::thread([ctx] { ctx->run(); }).detach();
        return ctx;
    }();
    return *io;
}

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
    Impl(asio::io_context& io, ClientOptions o, sdk::Logger& l)
        : strand(asio::make_strand(io)),
          sd(strand),
          retry_timer(strand),
          watchdog(strand),
          resolver(strand),
          opts(std::move(o)),
          log(l) {}

    ~Impl() {
        if (ac != nullptr) {
            // The loop went away before the teardown ran: free without event hooks.
            sd.release();
            ac->ev.cleanup = nullptr;
            stopping = true;
            closed = true;
            redisAsyncFree(ac);
        }
    }

    struct Pending {
        ReplyCallback done;
        bool tracked = true;  // counted for the command timeout
    };

    asio::strand<asio::io_context::executor_type> strand;
    asio::posix::stream_descriptor sd;
    asio::steady_timer retry_timer;
    asio::steady_timer watchdog;
    asio::ip::tcp::resolver resolver;
    const ClientOptions opts;
    sdk::Logger& log;

    // Guards the state below (strand handlers and inline sends); never held while a
    // caller's completion or hook runs (they go to `later`).
    std::mutex io_mu;
    std::vector<std::function<void()>> later;
    bool inline_send = false;  // a send on the caller's thread: it writes, no flush post
    // Sends posted to the strand and not run yet: an inline send would overtake them.
    std::atomic<int> posted{0};
    std::atomic<bool> stop_requested{false};

    redisAsyncContext* ac = nullptr;
    std::uint64_t gen = 0;  // bumped per context: completions of an old one are ignored
    bool want_read = false, want_write = false, reading = false, writing = false;
    bool flush_posted = false;  // a flush() is queued on the strand
    bool started = false, stopping = false, ready = false, retry_armed = false;
    bool hooks_pending = false;  // on_ready hooks of this connection not run yet
    bool ping_outstanding = false;
    std::chrono::milliseconds backoff{0};
    std::deque<Clock::time_point> inflight;
    Clock::time_point ping_sent{}, next_ping{};
    std::vector<std::string> channels;
    MessageCallback on_message;
    std::vector<std::function<void()>> hooks;
    std::mt19937 rng{std::random_device{}()};

    // Read from any thread.
    std::atomic<bool> healthy_flag{false};
    std::atomic<double> latency_ms{-1.0};
    std::atomic<std::uint64_t> connects{0};
    mutable std::mutex err_mu;
    std::string last_error;

    // Completion gate: once closed (stop()), no completion runs; a running one finishes
    // first. Recursive so that a completion may itself call stop().
    std::recursive_mutex gate_mu;
    bool closed = false;

    template <typename F>
    void run_gated(F&& f) {
        std::lock_guard lock(gate_mu);
        if (closed) {
            return;
        }
        try {
            f();
        } catch (const std::exception& e) {
            log.error("redis completion threw", {{"error", e.what()}});
        } catch (...) {
            log.error("redis completion threw", {});
        }
    }

    // Runs `f` holding io_mu, then the completions and hooks it queued, without it.
    template <typename F>
    void locked(F&& f) {
        std::vector<std::function<void()>> run;
        {
            std::lock_guard lock(io_mu);
            f();
            run.swap(later);
        }
        for (auto& task : run) {
            task();
        }
    }

    // A caller's task, run once io_mu is released, gated by stop(). Dropped when the
    // client is being destroyed (a context freed by ~Impl completes nothing).
    template <typename F>
    void defer(F&& f) {
        if (auto self = weak_from_this().lock()) {
            later.emplace_back([self = std::move(self), f = std::forward<F>(f)]() mutable {
                self->run_gated(f);
            });
        }
    }

    void complete(ReplyCallback done, sdk::Result<Reply> r) {
        defer([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    }

    void set_error(std::string why) {
        std::lock_guard lock(err_mu);
        last_error = std::move(why);
    }

    // ------------------------------------------------------------ connection

    void connect() {
        retry_armed = false;
        if (stopping || ac != nullptr) {
            return;
        }
        boost::system::error_code ec;
        asio::ip::make_address(opts.endpoint.host, ec);
        if (!ec) {
            return connect_ip(opts.endpoint.host);
        }
        // A host name: resolved by Asio's resolver thread, never on the loop.
        resolver.async_resolve(
            opts.endpoint.host, std::to_string(opts.endpoint.port),
            asio::bind_executor(strand, [self = shared_from_this()](
                                            const boost::system::error_code& rec, auto results) {
                self->locked([&] {
                    if (self->stopping) {
                        return;
                    }
                    if (rec || results.empty()) {
                        self->set_error("cannot resolve " + self->opts.endpoint.host + ": " +
                                        rec.message());
                        return self->schedule_reconnect();
                    }
                    self->connect_ip(results.begin()->endpoint().address().to_string());
                });
            }));
    }

    void connect_ip(const std::string& ip) {
        redisAsyncContext* c = redisAsyncConnect(ip.c_str(), opts.endpoint.port);
        if (c == nullptr || c->err != 0) {
            set_error(c ? std::string(c->errstr) : std::string("out of memory"));
            if (c != nullptr) {
                redisAsyncFree(c);
            }
            return schedule_reconnect();
        }
        boost::system::error_code ec;
        sd.assign(c->c.fd, ec);
        if (ec) {
            set_error("cannot watch socket: " + ec.message());
            redisAsyncFree(c);
            return schedule_reconnect();
        }
        // hiredis frees its read buffer whenever more than 16 KiB of it is idle, so a
        // burst of replies reallocates (and frees a large chunk, which makes glibc
        // consolidate its heap) again and again; keep up to 1 MiB instead.
        if (c->c.reader != nullptr) {
            c->c.reader->maxbuf = 1024 * 1024;
        }
        ac = c;
        ++gen;
        c->data = this;
        c->ev.data = this;
        c->ev.addRead = [](void* p) { static_cast<Impl*>(p)->want(true, true); };
        c->ev.delRead = [](void* p) { static_cast<Impl*>(p)->want(true, false); };
        c->ev.addWrite = [](void* p) { static_cast<Impl*>(p)->want(false, true); };
        c->ev.delWrite = [](void* p) { static_cast<Impl*>(p)->want(false, false); };
        c->ev.cleanup = [](void* p) { static_cast<Impl*>(p)->on_cleanup(); };
        handshake();
        arm_watchdog();
    }

    // AUTH / SELECT / SETNAME, then PING; the connection is ready when PING answers.
    void handshake() {
        const auto g = gen;
        auto check = [this, g](sdk::Result<Reply> r) {
            if (g == gen && (!r.ok() || r->is_error())) {
                set_error(r.ok() ? "handshake refused: " + r->str : r.status().message());
                post_drop(g);
            }
        };
        if (!opts.endpoint.password.empty()) {
            Argv auth{"AUTH"};
            if (!opts.endpoint.username.empty()) {
                auth.push_back(opts.endpoint.username);
            }
            auth.push_back(opts.endpoint.password);
            raw_send(auth, check, true);
        }
        if (opts.endpoint.db != 0) {
            raw_send({"SELECT", std::to_string(opts.endpoint.db)}, check, true);
        }
        raw_send({"CLIENT", "SETNAME", opts.name}, check, true);
        // A server still reading its AOF after a restart accepts connections and
        // CLIENT SETNAME but answers PING with -LOADING: the attempt fails like any
        // refused handshake and is retried with backoff (it used to leave the client
        // connected, never ready and never retrying).
        raw_send({"PING"}, [this, g, check](sdk::Result<Reply> r) {
            if (g != gen) {
                return;
            }
            if (!r.ok() || r->is_error()) {
                return check(std::move(r));
            }
            on_ready();
        }, true);
    }

    void on_ready() {
        if (stopping) {
            return;
        }
        ready = true;
        backoff = std::chrono::milliseconds(0);
        connects.fetch_add(1);
        next_ping = Clock::now() + opts.ping_interval;
        set_error("");
        log.info("redis connected", {{"endpoint", opts.endpoint.display()}, {"client", opts.name}});
        if (!channels.empty()) {
            Argv sub{"SUBSCRIBE"};
            sub.insert(sub.end(), channels.begin(), channels.end());
            send_subscribe(sub);
        }
        if (hooks.empty()) {
            healthy_flag = true;
            return;
        }
        // Until the hooks ran (re-registration first), callers' commands queue on the
        // strand behind them instead of being written directly, and healthy() stays
        // false: healthy means ready for callers, hooks included.
        ++posted;
        hooks_pending = true;
        for (auto& hook : hooks) {
            defer(hook);
        }
        later.emplace_back([self = shared_from_this(), g = gen] {
            self->locked([&] {
                self->hooks_pending = false;
                if (g == self->gen && self->ready && !self->stopping) {
                    self->healthy_flag = true;
                }
            });
            --self->posted;
        });
    }

    void post_drop(std::uint64_t g) {
        asio::post(strand, [self = shared_from_this(), g] {
            self->locked([&] {
                if (g == self->gen && self->ac != nullptr) {
                    self->drop();
                }
            });
        });
    }

    // Frees the context: every pending command fails; on_cleanup schedules a retry.
    void drop() {
        if (ac != nullptr) {
            redisAsyncFree(ac);  // runs the callbacks, then ev.cleanup
        }
    }

    // hiredis is done with the context (freed by us or after an error/EOF).
    void on_cleanup() {
        boost::system::error_code ec;
        sd.cancel(ec);
        sd.release();
        ++gen;
        ac = nullptr;
        want_read = want_write = reading = writing = false;
        if (ready && !stopping) {
            log.warn("redis connection lost",
                     {{"endpoint", opts.endpoint.display()}, {"error", error_text()}});
        }
        ready = false;
        ping_outstanding = false;
        healthy_flag = false;
        inflight.clear();
        schedule_reconnect();
    }

    std::string error_text() const {
        std::lock_guard lock(err_mu);
        return last_error;
    }

    void schedule_reconnect() {
        if (stopping || retry_armed) {
            return;
        }
        retry_armed = true;
        backoff = backoff.count() == 0 ? opts.backoff_min
                                       : std::min(opts.backoff_max, backoff * 2);
        // Jitter in [backoff/2, backoff]: a fleet of hosts does not reconnect in step.
        std::uniform_int_distribution<long> jitter(backoff.count() / 2, backoff.count());
        retry_timer.expires_after(std::chrono::milliseconds(jitter(rng)));
        retry_timer.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
            self->locked([&] {
                if (!e) {
                    self->connect();
                } else {
                    self->retry_armed = false;
                }
            });
        });
    }

    void arm_watchdog() {
        const auto tick = std::clamp(opts.command_timeout / 4, std::chrono::milliseconds(10),
                                     std::chrono::milliseconds(250));
        watchdog.expires_after(tick);
        watchdog.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
            self->locked([&] {
                if (e || self->stopping) {
                    return;
                }
                self->on_watchdog();
                self->arm_watchdog();
            });
        });
    }

    void on_watchdog() {
        if (ac == nullptr) {
            return;
        }
        const auto now = Clock::now();
        if (!inflight.empty() && now - inflight.front() > opts.command_timeout) {
            set_error("no reply within " + std::to_string(opts.command_timeout.count()) + " ms");
            return drop();
        }
        if (ready && channels.empty() && !ping_outstanding && now >= next_ping) {
            ping_outstanding = true;
            ping_sent = now;
            const auto g = gen;
            raw_send({"PING"}, [this, g](sdk::Result<Reply> r) {
                if (g != gen) {
                    return;
                }
                ping_outstanding = false;
                next_ping = Clock::now() + opts.ping_interval;
                if (r.ok() && !r->is_error()) {
                    latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - ping_sent)
                                     .count();
                    healthy_flag = !hooks_pending;
                }
            }, true);
        }
    }

    // ------------------------------------------------------------ socket readiness

    void want(bool read, bool on) {
        (read ? want_read : want_write) = on;
        if (!on) {
            return;
        }
        if (!read && inline_send) {
            return;  // send_inline writes right after queueing the command
        }
        if (!read && ac != nullptr && (ac->c.flags & REDIS_CONNECTED) != 0) {
            // Commands were queued on a connected socket, which is almost always
            // writable: write them at the end of this strand turn (everything issued
            // meanwhile leaves in the same write) instead of a reactor round trip
            // (epoll_ctl + epoll_wait) per command. A full socket buffer falls back to
            // waiting for writability (flush() arms it).
            if (!flush_posted) {
                flush_posted = true;
                asio::post(strand,
                           [self = shared_from_this()] { self->locked([&] { self->flush(); }); });
            }
            return;
        }
        arm(read);
    }

    void flush() {
        flush_posted = false;
        if (ac == nullptr || !want_write) {
            return;  // written meanwhile, or the connection is gone
        }
        if ((ac->c.flags & REDIS_CONNECTED) == 0) {
            arm(false);  // a new connection still connecting: wait as usual
            return;
        }
        write_queued();
    }

    // Writes what hiredis has queued (which may drop the connection, failing what is
    // queued); a partial write finishes when the socket is writable.
    void write_queued() {
        if (ac == nullptr || !want_write) {
            return;
        }
        redisAsyncHandleWrite(ac);
        if (ac != nullptr && want_write) {
            arm(false);
        }
    }

    void arm(bool read) {
        bool& busy = read ? reading : writing;
        if (busy || ac == nullptr) {
            return;
        }
        busy = true;
        const auto g = gen;
        sd.async_wait(read ? asio::posix::stream_descriptor::wait_read
                           : asio::posix::stream_descriptor::wait_write,
                      asio::bind_executor(strand, [self = shared_from_this(), g, read](
                                                      const boost::system::error_code& e) {
                          self->locked([&] { self->on_ready_io(g, read, e); });
                      }));
    }

    void on_ready_io(std::uint64_t g, bool read, const boost::system::error_code& e) {
        if (g != gen) {
            return;  // a wait of a previous connection
        }
        (read ? reading : writing) = false;
        if (e || ac == nullptr) {
            return;
        }
        if (read ? want_read : want_write) {
            if (read) {
                redisAsyncHandleRead(ac);
            } else {
                redisAsyncHandleWrite(ac);
            }
        }
        if (g == gen && (read ? want_read : want_write)) {
            arm(read);
        }
    }

    // ------------------------------------------------------------ commands

    static void reply_cb(redisAsyncContext* c, void* r, void* privdata) {
        std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
        auto* self = static_cast<Impl*>(c->data);
        if (p->tracked && !self->inflight.empty()) {
            self->inflight.pop_front();
        }
        if (r == nullptr) {
            std::string why = c->errstr != nullptr && c->err != 0 ? c->errstr : self->error_text();
            if (why.empty()) {
                why = "connection closed";
            }
            p->done(sdk::Result<Reply>(lost(why)));
            return;
        }
        p->done(sdk::Result<Reply>(convert(*static_cast<redisReply*>(r))));
    }

    // Sends on the current context; `done` runs on the strand (not gated).
    void raw_send(const Argv& argv, ReplyCallback done, bool tracked) {
        if (ac == nullptr) {
            return done(sdk::Result<Reply>(lost(error_text().empty() ? "not connected"
                                                                     : error_text())));
        }
        std::vector<const char*> ptrs;
        std::vector<std::size_t> lens;
        ptrs.reserve(argv.size());
        lens.reserve(argv.size());
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* p = new Pending{std::move(done), tracked};
        if (redisAsyncCommandArgv(ac, &Impl::reply_cb, p, static_cast<int>(argv.size()),
                                  ptrs.data(), lens.data()) != REDIS_OK) {
            std::unique_ptr<Pending> owned(p);
            owned->done(sdk::Result<Reply>(lost("command refused by the client")));
            return;
        }
        if (tracked) {
            inflight.push_back(Clock::now());
        }
    }

    // Public path: only once the handshake is done; completions are gated.
    void send(const Argv& argv, ReplyCallback done) {
        if (!ready || !channels.empty()) {
            auto why = lost(!channels.empty() ? "subscriber connection takes no commands"
                                              : (error_text().empty() ? "not connected"
                                                                      : error_text()));
            return complete(std::move(done), sdk::Result<Reply>(why));
        }
        raw_send(argv, [self = shared_from_this(), done = std::move(done)](sdk::Result<Reply> r) {
            self->complete(std::move(done), std::move(r));
        }, true);
    }

    // On a caller's thread: queues and writes the command at once, holding io_mu, when
    // the connection is ready and no send handed to the strand is still waiting (order)
    // and no writability wait is armed (a full socket buffer). Otherwise (or on the I/O
    // thread itself, whose strand turn ends with one write for all it queued) returns
    // false and the caller posts to the strand. Never blocks: io_mu is only tried.
    bool send_inline(const Argv& argv, ReplyCallback& done) {
        if (stop_requested.load() || posted.load() != 0 || strand.running_in_this_thread()) {
            return false;
        }
        std::unique_lock lock(io_mu, std::try_to_lock);
        if (!lock.owns_lock() || posted.load() != 0 || !ready || !channels.empty() ||
            ac == nullptr || stopping || writing || flush_posted ||
            (ac->c.flags & REDIS_CONNECTED) == 0) {
            return false;
        }
        inline_send = true;
        send(argv, std::move(done));
        inline_send = false;
        write_queued();
        std::vector<std::function<void()>> run;
        run.swap(later);
        lock.unlock();
        if (!run.empty()) {
            // Completions run on the I/O thread, never inside the caller's call.
            asio::post(strand, [run = std::move(run)] {
                for (const auto& task : run) {
                    task();
                }
            });
        }
        return true;
    }

    static void message_cb(redisAsyncContext* c, void* r, void*) {
        auto* self = static_cast<Impl*>(c->data);
        if (r == nullptr || self == nullptr) {
            return;
        }
        Reply msg = convert(*static_cast<redisReply*>(r));
        if (msg.is_array() && msg.size() == 3 && msg.at(0).text() == "message") {
            self->defer([self, msg = std::move(msg)] {
                self->on_message(msg.at(1).text(), msg.at(2).text());
            });
        }
    }

    void send_subscribe(const Argv& argv) {
        std::vector<const char*> ptrs;
        std::vector<std::size_t> lens;
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        redisAsyncCommandArgv(ac, &Impl::message_cb, nullptr, static_cast<int>(argv.size()),
                              ptrs.data(), lens.data());
    }

    void teardown() {
        stopping = true;
        retry_timer.cancel();
        watchdog.cancel();
        resolver.cancel();
        drop();
    }
};

// ---------------------------------------------------------------- Client

std::shared_ptr<Client> Client::create(void* /*native_loop*/, ClientOptions options,
                                       sdk::Logger& logger) {
    // See io_thread(): the caller's loop is not used for the socket.
    auto impl = std::make_shared<Impl>(io_thread(), std::move(options), logger);
    return std::shared_ptr<Client>(new Client(std::move(impl)));
}

Client::~Client() {
    stop();
}

void Client::start() {
    asio::post(impl_->strand, [self = impl_] {
        self->locked([&] {
            if (self->started || self->stopping) {
                return;
            }
            self->started = true;
            self->connect();
        });
    });
}

void Client::stop() noexcept {
    {
        // Waits for a completion running on another thread: after this block none runs.
        std::lock_guard lock(impl_->gate_mu);
        if (impl_->closed) {
            return;
        }
        impl_->closed = true;
    }
    impl_->healthy_flag = false;
    impl_->stop_requested = true;
    try {
        asio::post(impl_->strand, [self = impl_] { self->locked([&] { self->teardown(); }); });
    } catch (...) {
        // Posting only fails on allocation failure; the destructor frees the context.
    }
}

void Client::command(Argv argv, ReplyCallback done) {
    if (impl_->send_inline(argv, done)) {
        return;
    }
    ++impl_->posted;
    asio::post(impl_->strand,
               [self = impl_, argv = std::move(argv), done = std::move(done)]() mutable {
                   self->locked([&] {
                       --self->posted;
                       self->send(argv, std::move(done));
                   });
               });
}

void Client::pipeline(std::vector<Argv> commands, PipelineCallback done) {
    struct Batch {
        std::vector<Reply> replies;
        std::size_t left = 0;
        std::optional<sdk::Status> failure;
        PipelineCallback done;
    };
    ++impl_->posted;
    asio::post(impl_->strand, [self = impl_, commands = std::move(commands),
                               done = std::move(done)]() mutable {
        self->locked([&] {
            --self->posted;
            if (commands.empty()) {
                self->defer([done = std::move(done)] { done(std::vector<Reply>{}); });
                return;
            }
            auto batch = std::make_shared<Batch>();
            batch->replies.resize(commands.size());
            batch->left = commands.size();
            batch->done = std::move(done);
            for (std::size_t i = 0; i < commands.size(); ++i) {
                self->send(commands[i], [batch, i](sdk::Result<Reply> r) {
                    if (r.ok()) {
                        batch->replies[i] = std::move(r.value());
                    } else if (!batch->failure) {
                        batch->failure = r.status();
                    }
                    if (--batch->left == 0) {
                        if (batch->failure) {
                            batch->done(sdk::Result<std::vector<Reply>>(*batch->failure));
                        } else {
                            batch->done(std::move(batch->replies));
                        }
                    }
                });
            }
        });
    });
}

void Client::eval(const Script& script, Argv keys, Argv args, ReplyCallback done) {
    Argv argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.emplace_back("EVALSHA");
    argv.push_back(script.sha1());
    argv.push_back(std::to_string(keys.size()));
    std::move(keys.begin(), keys.end(), std::back_inserter(argv));
    std::move(args.begin(), args.end(), std::back_inserter(argv));
    auto self = impl_;
    command(argv, [self, argv, &script, done = std::move(done)](sdk::Result<Reply> r) mutable {
        if (r.ok() && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0) {
            // The server lost its script cache (restart, SCRIPT FLUSH): send the body.
            argv[0] = "EVAL";
            argv[1] = script.source();
            asio::post(self->strand,
                       [self, argv = std::move(argv), done = std::move(done)]() mutable {
                           self->locked([&] { self->send(argv, std::move(done)); });
                       });
            return;
        }
        done(std::move(r));
    });
}

void Client::subscribe(std::vector<std::string> channels, MessageCallback on_message) {
    asio::post(impl_->strand, [self = impl_, channels = std::move(channels),
                               on_message = std::move(on_message)]() mutable {
        self->locked([&] {
            self->channels = std::move(channels);
            self->on_message = std::move(on_message);
        });
    });
}

void Client::on_ready(std::function<void()> hook) {
    asio::post(impl_->strand,
               [self = impl_, hook = std::move(hook)]() mutable {
                   self->locked([&] { self->hooks.push_back(std::move(hook)); });
               });
}

bool Client::healthy() const noexcept {
    return impl_->healthy_flag.load();
}

std::optional<double> Client::ping_latency_ms() const noexcept {
    const double v = impl_->latency_ms.load();
    return v < 0 ? std::nullopt : std::optional<double>(v);
}

std::string Client::last_error() const {
    return impl_->error_text();
}

std::uint64_t Client::connects() const noexcept {
    return impl_->connects.load();
}

// ---------------------------------------------------------------- LocalLoop

namespace {

class LocalScheduler final : public sdk::Scheduler {
public:
    explicit LocalScheduler(asio::io_context& io, unsigned threads) : io_(io), threads_(threads) {}
    void post(sdk::Task task) override { asio::post(io_, std::move(task)); }
    sdk::TimerId schedule(std::chrono::milliseconds delay, sdk::Task task) override {
        auto timer = std::make_shared<asio::steady_timer>(io_, delay);
        sdk::TimerId id = 0;
        {
            std::lock_guard lock(mu_);
            id = ++next_id_;
            timers_.emplace(id, timer);
        }
        timer->async_wait([this, id, timer, task = std::move(task)](const auto& ec) {
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
        asio::post(io_, [timer] { timer->cancel(); });
        return true;
    }
    unsigned concurrency() const noexcept override { return threads_; }
    void* native_loop() noexcept override { return &io_; }
    void clear() {
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

}  // namespace

struct LocalLoop::Impl {
    explicit Impl(unsigned n) : work(asio::make_work_guard(io)), scheduler(io, n) {
        for (unsigned i = 0; i < n; ++i) {
            threads.emplace_back([this] { io.run(); });
        }
    }
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    LocalScheduler scheduler;
    std::vector<std::thread> threads;
};

LocalLoop::LocalLoop(unsigned threads) : impl_(std::make_unique<Impl>(std::max(1u, threads))) {}

LocalLoop::~LocalLoop() {
    impl_->scheduler.clear();
    impl_->work.reset();
    impl_->io.stop();
    for (auto& t : impl_->threads) {
        t.join();
    }
}

sdk::Scheduler& LocalLoop::scheduler() noexcept {
    return impl_->scheduler;
}

void* LocalLoop::native_loop() noexcept {
    return &impl_->io;
}

}  // namespace agenthost::redis
