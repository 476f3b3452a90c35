// The run: credentials, workers (one io_context per thread), the paced launch, the
// measurement window, the orderly stop. Also the two raw TLS modes: tls-hold (mutual
// TLS, then idle) and handshake (connect → full mTLS handshake → one HTTP request →
// close, in a loop), on ws_conn.cpp's client; ws-echo is echo_conn.cpp.
#include "tools/agentsim/engine.hpp"

#include <netinet/in.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <openssl/ssl.h>

#include "kernel/crypto/keyring.hpp"
#include "kernel/proto/codec.hpp"
#include "kernel/util/ids.hpp"
#include "kernel/util/time.hpp"
#include "tools/agentsim/sim_internal.hpp"
#include "tools/agentsim/ws_conn.hpp"

namespace agenthost::agentsim {

namespace json = boost::json;
using error_code = boost::system::error_code;

namespace {

std::atomic<bool> g_stop_requested{false};

// ---- tls-hold and handshake ------------------------------------------------------------
// The raw mutual-TLS connection of WsConn (no WebSocket layer), so these modes share
// the agent mode's TLS client.

class RawTlsConn final : public WsConn {
public:
    RawTlsConn(Worker& w, Shared& sh, std::size_t index)
        : WsConn(w, sh, index, /*tls=*/true, /*websocket=*/false),
          request_("GET /agentsim-handshake HTTP/1.1\r\nHost: " + sh.opt.host +
                   "\r\nConnection: close\r\n\r\n") {}

private:
    void on_tls_open() override {
        if (sh_.opt.mode == Mode::tls_hold) {
            // Reading goes on (it processes the server's tickets); the server never sends
            // application data, so the connection is held until one side closes it.
            mark_open();
            w_.stats.connect_us.record(micros_since(started()));
            sh_.note_connected();
            end_setup();
            return;
        }
        // handshake: one request proves the server finished (client cert verified).
        send_raw(request_);
    }

    void on_raw(ws::FrameReader& in) override {
        if (sh_.opt.mode == Mode::tls_hold) {
            in.consume(in.buffered());
            return;
        }
        const std::string_view data = in.data();
        if (ws::head_length(data) == 0) {
            if (data.size() > 64 * 1024) {
                fail_after_tls();
            }
            return;  // more to come
        }
        if (data.rfind("HTTP/1.", 0) != 0) {
            return fail_after_tls();
        }
        w_.stats.handshakes.inc();
        const auto us = micros_since(started());
        w_.stats.connect_us.record(us);
        if (sh_.measuring.load(std::memory_order_relaxed)) {
            w_.stats.measured_rtt.record(us);
        }
        sh_.note_connected();
        end_setup();
        end_quietly();
    }

    void on_ended() override {
        if (sh_.opt.mode != Mode::handshake || stopped_ || sh_.stopping.load()) {
            return;
        }
        // Posted: a fresh stack, and this connection's handlers have all returned.
        asio::post(w_.io, [this] { again(); });
    }

    std::string request_;
};

// ---- set-up helpers -----------------------------------------------------------------

std::string agent_id(const Options& o, std::size_t i) {
    char digits[32];
    std::snprintf(digits, sizeof(digits), "%06zu", o.first + i);
    return o.prefix + digits;
}

void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

sdk::Status setup_tls(Shared& sh) {
    SSL_CTX* ctx = sh.tls.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // Every connection does a full handshake: no session resumption.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    // Agent certificates are minted by the CA the server trusts: the leaf alone is the
    // chain. Without this OpenSSL rebuilds the chain from the trust store in every
    // handshake (an X509_verify_cert of our own certificate) and sends the root too,
    // as the gateway's TlsContext no longer does (kernel/net/tls.cpp, freeze_chain).
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    error_code ec;
    sh.tls.load_verify_file(sh.opt.trust, ec);
    if (ec) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "cannot load trust CA '" + sh.opt.trust + "': " + ec.message());
    }
    sh.tls.set_verify_mode(asio::ssl::verify_peer);
    return {};
}

// Mints (and, in agent mode, derives keys for) every agent on `threads` threads.
sdk::Status prepare_agents(Shared& sh, unsigned threads, Report& report) {
    const Options& o = sh.opt;
    sh.agents.resize(o.agents);
    for (std::size_t i = 0; i < o.agents; ++i) {
        sh.agents[i].id = agent_id(o, i);
    }
    std::string master;
    if (!o.master.empty()) {
        auto m = crypto::read_key_file(o.master);
        if (!m.ok()) {
            return m.status();
        }
        master = std::move(*m);
    }
    if (o.mode == Mode::ws_echo) {
        // The echo payload is a telemetry frame of the same shape agent mode sends.
        std::string key = master.empty() ? std::string(32, 'k')
                                         : crypto::derive_agent_key(master, sh.agents[0].id);
        json::array points;
        for (std::size_t i = 0; i < o.points; ++i) {
            points.push_back(json::object{{"metric", "agentsim.value"},
                                          {"ts", util::now_unix_ms()},
                                          {"value", 12.5},
                                          {"labels", json::object{{"sim", "1"}}}});
        }
        sh.echo_payload = proto::encode(
            "telemetry", sh.agents[0].id,
            json::object{{"batch_id", util::uuid_v4()}, {"points", std::move(points)}}, o.kid,
            key, util::now_unix_ms());
        return {};
    }
    auto minter = CertMinter::load(o.ca_cert, o.ca_key, o.shared_key);
    if (!minter.ok()) {
        return minter.status();
    }
    auto t0 = Clock::now();
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::string failure;
    std::mutex failure_mu;
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            for (std::size_t i = next.fetch_add(1); i < o.agents && !failed.load();
                 i = next.fetch_add(1)) {
                auto& a = sh.agents[i];
                auto cred = (*minter)->mint(a.id);
                if (!cred.ok()) {
                    std::lock_guard lock(failure_mu);
                    failure = cred.status().message();
                    failed.store(true);
                    return;
                }
                a.credential = std::move(*cred);
                if (!master.empty()) {
                    a.hmac_key = crypto::derive_agent_key(master, a.id);
                }
            }
        });
    }
    for (auto& t : pool) {
        t.join();
    }
    if (failed.load()) {
        return sdk::error(sdk::Errc::internal, failure);
    }
    report.mint_s = std::chrono::duration<double>(Clock::now() - t0).count();
    report.mint_per_s = report.mint_s > 0 ? static_cast<double>(o.agents) / report.mint_s : 0;
    return {};
}

Totals total_of(const std::vector<std::unique_ptr<Worker>>& workers) {
    std::vector<const ThreadStats*> stats;
    for (const auto& w : workers) {
        stats.push_back(&w->stats);
    }
    return sum(stats);
}

void write_status(const Options& o, const std::vector<std::unique_ptr<Worker>>& workers,
                  double elapsed) {
    if (o.status_file.empty()) {
        return;
    }
    std::string tmp = o.status_file + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << status_json(total_of(workers), elapsed) << "\n";
    }
    std::rename(tmp.c_str(), o.status_file.c_str());
}

}  // namespace

void request_stop() noexcept {
    g_stop_requested.store(true);
}

void Shared::open_socket(tcp::socket& socket, std::size_t index) const {
    error_code ec;
    socket.open(tcp::v4(), ec);
    if (ec || sources.empty()) {
        return;
    }
    // Defer the port choice to connect(), so each (source, destination) pair has the
    // whole ephemeral range.
    int one = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    socket.bind(tcp::endpoint(sources[index % sources.size()], 0), ec);
}

std::shared_ptr<Conn> make_other_conn(Worker& worker, Shared& shared, std::size_t index) {
    if (shared.opt.mode == Mode::ws_echo) {
        return make_echo_conn(worker, shared, index);
    }
    return std::make_shared<RawTlsConn>(worker, shared, index);
}

sdk::Status run(const Options& o, Report& report) {
    report.options = o;
    raise_fd_limit();
    Shared sh(o);
    error_code ec;
    auto address = asio::ip::make_address(o.host, ec);
    if (ec) {
        return sdk::error(sdk::Errc::invalid_argument, "--host must be an IP address: " + o.host);
    }
    sh.target = tcp::endpoint(address, o.port);
    for (std::size_t i = 0; i < o.sources; ++i) {
        sh.sources.push_back(asio::ip::address_v4(0x7f000002u + static_cast<std::uint32_t>(i)));
    }
    if (auto st = setup_tls(sh); !st && o.mode != Mode::ws_echo) {
        return st;
    }
    unsigned threads =
        o.threads != 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
    report.threads = threads;
    if (auto st = prepare_agents(sh, threads, report); !st) {
        return st;
    }

    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned t = 0; t < threads; ++t) {
        workers.push_back(std::make_unique<Worker>());
    }
    std::vector<std::shared_ptr<Conn>> conns;
    conns.reserve(o.agents);
    for (std::size_t i = 0; i < o.agents; ++i) {
        Worker& w = *workers[i % threads];
        conns.push_back(o.mode == Mode::agent ? make_agent_conn(w, sh, i)
                                              : make_other_conn(w, sh, i));
    }
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> io_threads;
    for (auto& w : workers) {
        guards.emplace_back(w->io.get_executor());
        io_threads.emplace_back([&io = w->io] { io.run(); });
    }

    sh.t0 = Clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - sh.t0).count(); };
    auto stop_wanted = [&] { return g_stop_requested.load(); };
    double next_status = 0;
    auto tick_status = [&] {
        double e = elapsed();
        if (e >= next_status) {
            next_status = e + 1.0;
            write_status(o, workers, e);
            if (!o.quiet) {
                Totals t = total_of(workers);
                std::fprintf(stderr,
                             "[agentsim %6.1fs] open %llu  connected %llu  handshakes %llu  "
                             "errors %llu  acks %llu  results %llu\n",
                             e, static_cast<unsigned long long>(t.open),
                             static_cast<unsigned long long>(
                                 o.mode == Mode::agent ? t.welcomed : t.tls_ok + t.upgraded),
                             static_cast<unsigned long long>(t.handshakes),
                             static_cast<unsigned long long>(t.tcp_errors + t.tls_errors +
                                                             t.upgrade_errors),
                             static_cast<unsigned long long>(t.telemetry_acks + t.echo_received),
                             static_cast<unsigned long long>(t.result_acks));
            }
        }
    };
    auto nap = [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); };

    // Paced launch: connection i starts no earlier than i / ramp seconds, and at most
    // max_pending set-ups are in flight.
    for (std::size_t i = 0; i < o.agents && !stop_wanted(); ++i) {
        if (o.ramp > 0) {
            auto due = sh.t0 + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(i) / o.ramp));
            while (Clock::now() < due && !stop_wanted()) {
                tick_status();
                nap();
            }
        }
        while (sh.pending.load() >= static_cast<std::int64_t>(o.max_pending) && !stop_wanted()) {
            tick_status();
            nap();
        }
        sh.pending.fetch_add(1);
        asio::post(workers[i % threads]->io, [c = conns[i]] { c->start(); });
        tick_status();
    }
    while (sh.pending.load() > 0 && !stop_wanted()) {
        tick_status();
        nap();
    }
    report.timeline.ramp_end_s = elapsed();
    while (elapsed() < report.timeline.ramp_end_s + o.warmup_s && !stop_wanted()) {
        tick_status();
        nap();
    }
    report.timeline.measure_start_s = elapsed();
    report.at_measure_start = total_of(workers);
    sh.measuring.store(true);
    const double end_at = report.timeline.measure_start_s + o.duration_s;
    for (;;) {
        if (stop_wanted() || (o.duration_s > 0 && elapsed() >= end_at)) {
            break;
        }
        if (o.stop_after_results > 0 && total_of(workers).result_acks >= o.stop_after_results) {
            break;
        }
        tick_status();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    sh.measuring.store(false);
    report.timeline.end_s = elapsed();
    report.totals = total_of(workers);

    // Orderly stop: close frames out, then bounded wait for the sessions to end.
    sh.stopping.store(true);
    for (std::size_t i = 0; i < conns.size(); ++i) {
        asio::post(workers[i % threads]->io, [c = conns[i]] { c->stop(); });
    }
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (total_of(workers).open > 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    guards.clear();
    for (auto& w : workers) {
        w->io.stop();
    }
    for (auto& t : io_threads) {
        t.join();
    }
    write_status(o, workers, elapsed());
    for (auto& w : workers) {
        report.connect_us.merge(w->stats.connect_us);
        report.rtt_us.merge(w->stats.rtt_us);
        report.measured_rtt.merge(w->stats.measured_rtt);
    }
    std::int64_t first = sh.first_connect_ns.load();
    std::int64_t last = sh.last_connect_ns.load();
    report.timeline.first_connect_s = first < 0 ? -1 : static_cast<double>(first) / 1e9;
    report.timeline.last_connect_s = last < 0 ? -1 : static_cast<double>(last) / 1e9;
    conns.clear();
    return {};
}

}  // namespace agenthost::agentsim
