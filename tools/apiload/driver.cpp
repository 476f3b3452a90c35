// apiload's connections (Asio/Beast lives in this file only). Every connection runs on
// one io_context thread; the shared schedule, counters and histograms are under one
// mutex (a few thousand operations per second: no contention worth avoiding).
#include "tools/apiload/driver.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include "kernel/util/time.hpp"

namespace agenthost::apiload {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

bool is_terminal(std::string_view s) {
    return s == "succeeded" || s == "failed" || s == "rejected" || s == "timed_out" ||
           s == "cancelled" || s == "dead_lettered";
}

std::string agent_id(const Options& o, std::size_t index) {
    char digits[32];
    std::snprintf(digits, sizeof digits, "%06zu", o.first + index % o.agents);
    return o.prefix + digits;
}

std::string json_string(const json::value& v, std::string_view key) {
    if (!v.is_object()) {
        return {};
    }
    const json::value* s = v.as_object().if_contains(key);
    return s != nullptr && s->is_string() ? std::string(s->as_string()) : std::string();
}

struct Poll {
    std::size_t index = 0;
    std::string id;
    Clock::time_point not_before;
};

class Conn;

struct Shared {
    Shared(const Options& opt, Report& rep) : o(opt), r(rep) {}
    const Options& o;
    Report& r;
    ssl::context tls{ssl::context::tls_client};
    tcp::endpoint target;
    std::string auth;
    std::vector<std::shared_ptr<Conn>> conns;

    std::mutex mu;
    std::size_t ready = 0;   // connections that finished their first connect attempt
    std::size_t usable = 0;  // ... of which succeeded
    std::string last_error;
    bool started = false;
    Clock::time_point t0, deadline;
    std::size_t next = 0;      // next command index to enqueue
    std::size_t answered = 0;  // POSTs answered for good (accepted or given up)
    std::size_t open = 0;      // accepted, not seen terminal yet
    std::deque<Poll> polls;
    // Until the last accepted command is terminal, only it is polled (one probe per
    // poll_ms), so the pollers stay out of the pipeline they measure; then every
    // command is fetched once for its timestamps.
    bool probing = true;
    bool probe_busy = false;
    Clock::time_point probe_due;
    std::string last_id;
    std::size_t last_index = 0;
    bool posted = false;
    Clock::time_point first_post, last_answer, last_terminal;
    std::int64_t min_created = INT64_MAX;
    std::int64_t max_updated = 0;
    std::size_t reported_errors = 0;
};

class Conn : public std::enable_shared_from_this<Conn> {
public:
    Conn(Shared& sh, asio::io_context& io) : sh_(sh), io_(io), timer_(io) {}

    void connect() {
        stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io_, sh_.tls);
        stream_->set_verify_callback(ssl::host_name_verification(sh_.o.host));
        auto& tcp_stream = beast::get_lowest_layer(*stream_);
        tcp_stream.expires_after(10s);
        tcp_stream.async_connect(sh_.target, [self = shared_from_this()](error_code ec) {
            if (ec) {
                self->on_io_error(ec);
                return;
            }
            self->stream_->async_handshake(ssl::stream_base::client, [self](error_code ec2) {
                if (ec2) {
                    self->on_io_error(ec2);
                    return;
                }
                self->on_connected();
            });
        });
    }

    void start() { next(); }

private:
    enum class Kind { none, post, get, probe };

    void on_connected() {
        if (started_) {
            resume();
            return;
        }
        std::lock_guard lock(sh_.mu);
        started_ = true;
        ++sh_.usable;
        count_ready();
    }

    // Caller holds sh_.mu. The last connection to finish connecting starts everyone,
    // so pacing begins with the whole pool ready.
    void count_ready() {
        if (++sh_.ready < sh_.conns.size() || sh_.usable == 0) {
            return;
        }
        sh_.started = true;
        sh_.t0 = Clock::now();
        sh_.deadline = sh_.t0 + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(sh_.o.timeout_s));
        for (auto& c : sh_.conns) {
            if (!c->dead_) {
                asio::post(c->io_, [c] { c->start(); });
            }
        }
    }

    void on_io_error(error_code ec) {
        std::unique_lock lock(sh_.mu);
        sh_.last_error = ec.message();
        if (!started_) {  // the first connect failed: this connection stays out
            started_ = true;
            dead_ = true;
            count_ready();
            return;
        }
        ++sh_.r.io_errors;
        if (Clock::now() >= sh_.deadline) {
            return;
        }
        lock.unlock();
        // The pending request is sent again on a new connection (a POST whose answer
        // was lost may then be enqueued twice; io_errors says whether that happened).
        timer_.expires_after(100ms);
        timer_.async_wait([self = shared_from_this()](error_code) { self->connect(); });
    }

    void resume() {
        if (kind_ == Kind::post) {
            send_post();
        } else if (kind_ == Kind::get) {
            send_get();
        } else if (kind_ == Kind::probe) {
            send_probe();
        } else {
            next();
        }
    }

    void wait_then(Clock::time_point at, void (Conn::*fn)()) {
        if (at <= Clock::now()) {
            (this->*fn)();
            return;
        }
        timer_.expires_at(at);
        timer_.async_wait([self = shared_from_this(), fn](error_code) { ((*self).*fn)(); });
    }

    void next() {
        kind_ = Kind::none;
        std::unique_lock lock(sh_.mu);
        const auto now = Clock::now();
        if (dead_ || now >= sh_.deadline) {
            return;
        }
        if (sh_.next < sh_.o.count) {
            index_ = sh_.next++;
            kind_ = Kind::post;
            auto due = now;
            if (sh_.o.rate > 0) {
                due = sh_.t0 + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(index_ / sh_.o.rate));
            }
            lock.unlock();
            wait_then(due, &Conn::send_post);
            return;
        }
        const auto later = now + std::chrono::milliseconds(static_cast<int>(sh_.o.poll_ms));
        if (sh_.answered < sh_.o.count) {  // other connections' POSTs are still out
            lock.unlock();
            wait_then(later, &Conn::next);
            return;
        }
        if (sh_.probing && sh_.open > 0) {
            if (!sh_.probe_busy && now >= sh_.probe_due) {
                sh_.probe_busy = true;
                kind_ = Kind::probe;
                lock.unlock();
                send_probe();
                return;
            }
            lock.unlock();
            wait_then(later, &Conn::next);
            return;
        }
        if (!sh_.polls.empty()) {
            poll_ = std::move(sh_.polls.front());
            sh_.polls.pop_front();
            kind_ = Kind::get;
            lock.unlock();
            wait_then(poll_.not_before, &Conn::send_get);
            return;
        }
        if (sh_.answered == sh_.o.count && sh_.open == 0) {
            return;  // all done
        }
        // Other connections still have requests out: look again shortly.
        lock.unlock();
        wait_then(later, &Conn::next);
    }

    void send_post() {
        req_ = {};
        req_.method(http::verb::post);
        req_.target("/api/v1/agents/" + agent_id(sh_.o, index_) + "/commands");
        req_.set(http::field::content_type, "application/json");
        req_.body() = "{\"name\":\"" + sh_.o.command + "\",\"args\":{\"text\":\"apiload " +
                      std::to_string(index_) + "\"}}";
        sent_ = Clock::now();
        {
            std::lock_guard lock(sh_.mu);
            if (!sh_.posted) {
                sh_.posted = true;
                sh_.first_post = sent_;
            }
        }
        exchange(&Conn::on_post);
    }

    void send_get() {
        req_ = {};
        req_.method(http::verb::get);
        req_.target("/api/v1/commands/" + poll_.id);
        exchange(&Conn::on_get);
    }

    void send_probe() {
        req_ = {};
        req_.method(http::verb::get);
        {
            std::lock_guard lock(sh_.mu);
            req_.target("/api/v1/commands/" + sh_.last_id);
        }
        exchange(&Conn::on_probe);
    }

    void on_probe() {
        const auto now = Clock::now();
        error_code ec;
        json::value body = json::parse(res_.body(), ec);
        const bool done = res_.result_int() != 200 || is_terminal(json_string(body, "state"));
        {
            std::lock_guard lock(sh_.mu);
            ++sh_.r.polls;
            sh_.probe_busy = false;
            sh_.probing = !done;
            sh_.probe_due = now + std::chrono::milliseconds(static_cast<int>(sh_.o.poll_ms));
        }
        next();
    }

    void exchange(void (Conn::*on_answer)()) {
        req_.version(11);
        req_.set(http::field::host, sh_.o.host);
        req_.set(http::field::authorization, sh_.auth);
        req_.keep_alive(true);
        req_.prepare_payload();
        beast::get_lowest_layer(*stream_).expires_after(30s);
        http::async_write(*stream_, req_,
                          [self = shared_from_this(), on_answer](error_code ec, std::size_t) {
                              if (ec) {
                                  self->on_io_error(ec);
                                  return;
                              }
                              self->res_ = {};
                              http::async_read(*self->stream_, self->buf_, self->res_,
                                               [self, on_answer](error_code ec2, std::size_t) {
                                                   if (ec2) {
                                                       self->on_io_error(ec2);
                                                       return;
                                                   }
                                                   ((*self).*on_answer)();
                                               });
                          });
    }

    void report_error(const char* what) {
        // Caller holds sh_.mu. The first few are worth reading; the rest are counted.
        if (++sh_.reported_errors <= 5) {
            std::fprintf(stderr, "apiload: %s answered %u: %.200s\n", what, res_.result_int(),
                         res_.body().c_str());
        }
    }

    void on_post() {
        const auto now = Clock::now();
        const unsigned status = res_.result_int();
        if (status == 429) {  // the agent's queue is full: try the same command again soon
            {
                std::lock_guard lock(sh_.mu);
                ++sh_.r.retried;
            }
            wait_then(now + 20ms, &Conn::send_post);
            return;
        }
        error_code ec;
        json::value body = json::parse(res_.body(), ec);
        std::string id = ec ? std::string() : json_string(body, "command_id");
        {
            std::lock_guard lock(sh_.mu);
            ++sh_.answered;
            sh_.last_answer = now;
            if ((status == 202 || status == 200) && !id.empty()) {
                ++sh_.r.enqueued;
                ++sh_.open;
                if (sh_.last_id.empty() || index_ >= sh_.last_index) {
                    sh_.last_id = id;
                    sh_.last_index = index_;
                }
                if (index_ >= sh_.o.warmup) {
                    sh_.r.post_us.record(static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::microseconds>(now - sent_)
                            .count()));
                }
                sh_.polls.push_back(
                    Poll{index_, std::move(id),
                         now + std::chrono::milliseconds(static_cast<int>(sh_.o.poll_ms))});
            } else {
                ++sh_.r.rejected;
                report_error("enqueue");
            }
        }
        next();
    }

    void on_get() {
        const auto now = Clock::now();
        const unsigned status = res_.result_int();
        error_code ec;
        json::value body = json::parse(res_.body(), ec);
        const std::string state = ec ? std::string() : json_string(body, "state");
        std::lock_guard lock(sh_.mu);
        ++sh_.r.polls;
        if (status == 200 && !is_terminal(state)) {
            poll_.not_before = now + std::chrono::milliseconds(static_cast<int>(sh_.o.poll_ms));
            sh_.polls.push_back(std::move(poll_));
        } else {
            --sh_.open;
            sh_.last_terminal = now;
            if (status != 200) {
                ++sh_.r.states["http_" + std::to_string(status)];
                report_error("GET command");
            } else {
                ++sh_.r.states[state];
                auto created = util::parse_rfc3339(json_string(body, "created_at"));
                auto updated = util::parse_rfc3339(json_string(body, "updated_at"));
                if (poll_.index >= sh_.o.warmup && created && updated) {
                    ++sh_.r.measured;
                    sh_.r.round_us.record(
                        static_cast<std::uint64_t>(std::max<std::int64_t>(0, *updated - *created)) *
                        1000);
                    sh_.min_created = std::min(sh_.min_created, *created);
                    sh_.max_updated = std::max(sh_.max_updated, *updated);
                }
            }
        }
        asio::post(io_, [self = shared_from_this()] { self->next(); });
    }

    Shared& sh_;
    asio::io_context& io_;
    asio::steady_timer timer_;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
    beast::flat_buffer buf_;
    http::request<http::string_body> req_;
    http::response<http::string_body> res_;
    Clock::time_point sent_;
    bool started_ = false;  // first connect attempt finished
    bool dead_ = false;     // first connect failed
    Kind kind_ = Kind::none;
    std::size_t index_ = 0;
    Poll poll_;
};

std::string read_token(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.pop_back();
    }
    return line;
}

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

std::string run(const Options& o, Report& report) {
    Shared sh(o, report);
    const std::string token = read_token(o.token_file);
    if (token.empty()) {
        return "no token in '" + o.token_file + "'";
    }
    sh.auth = "Bearer " + token;
    error_code ec;
    auto address = asio::ip::make_address(o.host, ec);
    if (ec) {
        return "--host must be an IP address: " + o.host;
    }
    sh.target = tcp::endpoint(address, o.port);
    SSL_CTX_set_min_proto_version(sh.tls.native_handle(), TLS1_2_VERSION);
    sh.tls.load_verify_file(o.trust, ec);
    if (ec) {
        return "cannot load trust CA '" + o.trust + "': " + ec.message();
    }
    sh.tls.set_verify_mode(ssl::verify_peer);

    const unsigned threads =
        std::max(1u, std::min<unsigned>(o.threads, static_cast<unsigned>(o.connections)));
    std::vector<std::unique_ptr<asio::io_context>> ios;
    for (unsigned i = 0; i < threads; ++i) {
        ios.push_back(std::make_unique<asio::io_context>(1));
    }
    for (std::size_t i = 0; i < o.connections; ++i) {
        sh.conns.push_back(std::make_shared<Conn>(sh, *ios[i % threads]));
    }
    for (auto& c : sh.conns) {
        c->connect();
    }
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;
    std::thread progress([&] {
        std::unique_lock lock(done_mu);
        while (!done_cv.wait_for(lock, 1s, [&] { return done; })) {
            if (o.quiet) {
                continue;
            }
            std::lock_guard l(sh.mu);
            std::fprintf(stderr, "apiload: enqueued %zu/%zu, finished %zu, open %zu\n",
                         report.enqueued, o.count, report.enqueued - sh.open, sh.open);
        }
    });
    std::vector<std::thread> workers;
    for (auto& io : ios) {
        workers.emplace_back([&io] { io->run(); });
    }
    for (auto& t : workers) {
        t.join();
    }
    {
        std::lock_guard lock(done_mu);
        done = true;
    }
    done_cv.notify_all();
    progress.join();
    sh.conns.clear();

    if (sh.usable == 0) {
        return "no connection to the API: " + sh.last_error;
    }
    report.unfinished = sh.open + (o.count - std::min(o.count, sh.answered));
    report.enqueue_s = sh.posted ? seconds(sh.last_answer - sh.first_post) : 0;
    report.total_s = report.enqueued > report.unfinished ? seconds(sh.last_terminal - sh.t0) : 0;
    if (sh.max_updated >= sh.min_created && sh.min_created != INT64_MAX) {
        report.server_window_s = static_cast<double>(sh.max_updated - sh.min_created) / 1000.0;
    }
    return {};
}

}  // namespace agenthost::apiload
