#pragma once
// Internal to agentsim's Asio TUs (engine, ws_conn, agent_conn, echo_conn): the state shared
// by every connection, one worker per I/O thread, and the connection interface.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "tools/agentsim/certs.hpp"
#include "tools/agentsim/options.hpp"
#include "tools/agentsim/stats.hpp"

namespace agenthost::agentsim {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct AgentIdentity {
    std::string id;
    std::shared_ptr<AgentCredential> credential;  // null in ws-echo mode
    std::string hmac_key;                         // raw 32 bytes (agent mode)
};

struct Shared {
    explicit Shared(const Options& o) : opt(o), tls(asio::ssl::context::tls_client) {}

    const Options& opt;
    asio::ssl::context tls;
    tcp::endpoint target;
    std::vector<AgentIdentity> agents;
    std::vector<asio::ip::address_v4> sources;  // empty: the kernel picks
    std::string echo_payload;                   // ws-echo: a signed telemetry frame
    Clock::time_point t0 = Clock::now();
    std::atomic<bool> stopping{false};
    std::atomic<std::int64_t> pending{0};  // connection set-ups in flight
    std::atomic<std::int64_t> first_connect_ns{-1};
    std::atomic<std::int64_t> last_connect_ns{-1};
    std::atomic<bool> measuring{false};  // inside the measurement window

    // A session / held connection / handshake cycle was established now.
    void note_connected() noexcept {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        std::int64_t expected = -1;
        first_connect_ns.compare_exchange_strong(expected, ns);
        std::int64_t last = last_connect_ns.load();
        while (last < ns && !last_connect_ns.compare_exchange_weak(last, ns)) {
        }
    }
    // Opens `socket` bound to the source address for agent `index` (if any).
    void open_socket(tcp::socket& socket, std::size_t index) const;
};

struct Worker {
    asio::io_context io{1};
    ThreadStats stats;
};

class Conn {
public:
    virtual ~Conn() = default;
    virtual void start() = 0;  // on the worker's thread
    virtual void stop() = 0;   // on the worker's thread: close gracefully, no reconnect
};

// agent mode (agent_conn.cpp)
std::shared_ptr<Conn> make_agent_conn(Worker& worker, Shared& shared, std::size_t index);
// ws-echo mode (echo_conn.cpp)
std::shared_ptr<Conn> make_echo_conn(Worker& worker, Shared& shared, std::size_t index);
// tls-hold and handshake modes (engine.cpp)
std::shared_ptr<Conn> make_other_conn(Worker& worker, Shared& shared, std::size_t index);

inline std::uint64_t micros_since(Clock::time_point start) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
}

}  // namespace agenthost::agentsim
