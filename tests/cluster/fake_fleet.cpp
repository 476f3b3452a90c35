#include "tests/cluster/fake_fleet.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/e2e/harness.hpp"
#include "tests/e2e/raw_client.hpp"

namespace agenthost::e2e {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct FakeFleet::Impl {
    using Stream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

    struct Agent {
        std::string id;
        std::string key;  // HMAC key (derived)
        asio::ssl::context ssl{asio::ssl::context::tls_client};
        std::unique_ptr<Stream> stream;
        beast::flat_buffer buffer;
        std::deque<std::string> outbox;
        bool writing = false;
        int attempt = 0;
        std::uint64_t generation = 0;  // bumps per connection; stale handlers drop out
        std::unique_ptr<asio::steady_timer> retry;
        // Results sent but not yet answered with result_ack: kept and sent again after a
        // reconnect, as a gateway's spool does (PROTOCOL.md §5). Loop thread only.
        std::map<std::string, json::object> unacked_results;
    };

    Workspace& ws;
    FakeFleetOptions opts;
    asio::io_context io;
    std::vector<std::unique_ptr<Agent>> agents;
    std::vector<std::unique_ptr<Stream>> graveyard;
    std::thread thread;
    std::atomic<bool> stopping{false};
    std::mt19937_64 rng{std::random_device{}()};

    mutable std::mutex mu;  // guards everything below (read by the test thread)
    std::map<std::string, bool> connected;
    std::map<std::string, std::string> host;
    std::map<std::string, int> deliveries;
    std::map<std::string, int> executions;
    std::map<std::string, std::set<std::string>> executed;  // the "durable" record
    std::map<int, int> closes;
    std::size_t sessions = 0;

    Impl(Workspace& w, FakeFleetOptions o) : ws(w), opts(o) {}

    void connect(Agent& a) {
        if (stopping) {
            return;
        }
        const std::uint64_t gen = ++a.generation;
        if (a.stream) {
            // Handlers of the old connection may still be queued: keep it alive.
            graveyard.push_back(std::move(a.stream));
        }
        a.stream = std::make_unique<Stream>(io, a.ssl);
        a.outbox.clear();
        a.writing = false;
        a.buffer.clear();
        auto& tcp = beast::get_lowest_layer(*a.stream);
        tcp.expires_after(std::chrono::seconds(10));
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), opts.port);
        tcp.async_connect(ep, [this, &a, gen](beast::error_code ec) {
            if (gen != a.generation) {
                return;
            }
            if (ec) {
                return failed(a, 1006);
            }
            SSL_set_tlsext_host_name(a.stream->next_layer().native_handle(), "localhost");
            a.stream->next_layer().async_handshake(asio::ssl::stream_base::client,
                                                   [this, &a, gen](beast::error_code ec2) {
                                                       if (gen != a.generation) {
                                                           return;
                                                       }
                                                       if (ec2) {
                                                           return failed(a, 1006);
                                                       }
                                                       upgrade(a, gen);
                                                   });
        });
    }

    void upgrade(Agent& a, std::uint64_t gen) {
        beast::get_lowest_layer(*a.stream).expires_never();
        a.stream->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
        a.stream->set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(beast::http::field::sec_websocket_protocol, "agenthost.v1");
        }));
        a.stream->read_message_max(1 << 20);
        a.stream->async_handshake("localhost", "/agent/v1", [this, &a, gen](beast::error_code ec) {
            if (gen != a.generation) {
                return;
            }
            if (ec) {
                return failed(a, 1006);
            }
            a.stream->text(true);
            json::object body{{"agent_version", "fake-1.0"},
                              {"hostname", a.id},
                              {"platform", "linux-x86_64"},
                              {"capabilities", json::array{"builtin.echo"}},
                              {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
            send(a, gen, sign_frame(a.key, "k1", envelope("hello", a.id, std::move(body))));
            read(a, gen);
        });
    }

    void read(Agent& a, std::uint64_t gen) {
        a.stream->async_read(a.buffer, [this, &a, gen](beast::error_code ec, std::size_t) {
            if (gen != a.generation) {
                return;
            }
            if (ec) {
                int code = ec == websocket::error::closed ? a.stream->reason().code : 1006;
                return failed(a, code);
            }
            std::string text = beast::buffers_to_string(a.buffer.data());
            a.buffer.consume(a.buffer.size());
            on_frame(a, gen, text);
            read(a, gen);
        });
    }

    void on_frame(Agent& a, std::uint64_t gen, const std::string& text) {
        json::object p = frame_payload(text);
        const auto* type = p.if_contains("type");
        if (type == nullptr || !type->is_string()) {
            return;
        }
        if (type->as_string() == "welcome") {
            a.attempt = 0;
            std::lock_guard lock(mu);
            connected[a.id] = true;
            ++sessions;
            const auto* h = p.at("body").as_object().if_contains("host_id");
            host[a.id] = h != nullptr && h->is_string() ? std::string(h->as_string()) : "";
            for (const auto& [id, result] : a.unacked_results) {
                send(a, gen, sign_frame(a.key, "k1", envelope("result", a.id, result)));
            }
            return;
        }
        if (type->as_string() == "result_ack") {
            const auto* body = p.if_contains("body");
            const auto* id = body != nullptr && body->is_object()
                                 ? body->as_object().if_contains("command_id")
                                 : nullptr;
            if (id != nullptr && id->is_string()) {
                a.unacked_results.erase(std::string(id->as_string()));
            }
            return;
        }
        if (type->as_string() != "command") {
            return;
        }
        const std::string id(p.at("body").at("command_id").as_string());
        {
            std::lock_guard lock(mu);
            ++deliveries[id];
            // Executed at most once per command id, whichever session delivers it.
            if (executed[a.id].insert(id).second) {
                ++executions[id];
            }
        }
        send(a, gen, sign_frame(a.key, "k1", envelope("ack", a.id, {{"command_id", id}})));
        const auto t = now_ms();
        json::object result{{"command_id", id}, {"status", "succeeded"}, {"exit_code", 0},
                            {"output", "ok"},   {"truncated", false},    {"started_at", t},
                            {"finished_at", t}};
        a.unacked_results[id] = result;
        send(a, gen, sign_frame(a.key, "k1", envelope("result", a.id, std::move(result))));
    }

    void send(Agent& a, std::uint64_t gen, std::string frame) {
        a.outbox.push_back(std::move(frame));
        if (!a.writing) {
            write_next(a, gen);
        }
    }

    void write_next(Agent& a, std::uint64_t gen) {
        if (a.outbox.empty()) {
            a.writing = false;
            return;
        }
        a.writing = true;
        a.stream->async_write(asio::buffer(a.outbox.front()),
                              [this, &a, gen](beast::error_code ec, std::size_t) {
                                  if (gen != a.generation) {
                                      return;
                                  }
                                  if (ec) {
                                      return failed(a, 1006);
                                  }
                                  a.outbox.pop_front();
                                  write_next(a, gen);
                              });
    }

    // The session is over: record why, drop the transport, reconnect after a backoff
    // with full jitter (uniform in [0, min(max, initial * 2^attempt)]).
    void failed(Agent& a, int code) {
        ++a.generation;
        {
            std::lock_guard lock(mu);
            connected[a.id] = false;
            ++closes[code];
        }
        if (a.stream) {
            beast::error_code ignored;
            beast::get_lowest_layer(*a.stream).socket().close(ignored);
        }
        if (stopping) {
            return;
        }
        const auto cap = std::min<std::int64_t>(
            opts.backoff_max.count(), opts.backoff_initial.count() << std::min(a.attempt, 10));
        ++a.attempt;
        std::uniform_int_distribution<std::int64_t> jitter(0, cap);
        a.retry = std::make_unique<asio::steady_timer>(io);
        a.retry->expires_after(std::chrono::milliseconds(jitter(rng)));
        a.retry->async_wait([this, &a](beast::error_code ec) {
            if (!ec) {
                connect(a);
            }
        });
    }
};

FakeFleet::FakeFleet(Workspace& ws, std::vector<std::string> agents, FakeFleetOptions opts)
    : impl_(std::make_unique<Impl>(ws, opts)) {
    const std::string master = read_file(ws.master_key());
    for (auto& id : agents) {
        auto a = std::make_unique<Impl::Agent>();
        a->id = id;
        a->key = derive_key(master, id);
        a->ssl.load_verify_file(ws.pki("ca.crt"));
        a->ssl.set_verify_mode(asio::ssl::verify_peer);
        a->ssl.use_certificate_chain_file(ws.pki("agents/" + id + ".crt"));
        a->ssl.use_private_key_file(ws.pki("agents/" + id + ".key"), asio::ssl::context::pem);
        impl_->connected[id] = false;
        impl_->agents.push_back(std::move(a));
    }
}

FakeFleet::~FakeFleet() {
    stop();
}

void FakeFleet::start() {
    auto* impl = impl_.get();
    asio::post(impl->io, [impl] {
        for (auto& a : impl->agents) {
            impl->connect(*a);
        }
    });
    impl->thread = std::thread([impl] {
        auto guard = asio::make_work_guard(impl->io);
        impl->io.run();
    });
}

void FakeFleet::stop() {
    if (!impl_->thread.joinable()) {
        return;
    }
    impl_->stopping = true;
    auto* impl = impl_.get();
    asio::post(impl->io, [impl] {
        for (auto& a : impl->agents) {
            ++a->generation;
            if (a->retry) {
                a->retry->cancel();
            }
            if (a->stream) {
                beast::error_code ignored;
                beast::get_lowest_layer(*a->stream).socket().close(ignored);
            }
        }
        impl->io.stop();
    });
    impl_->thread.join();
}

std::size_t FakeFleet::connected() const {
    std::lock_guard lock(impl_->mu);
    std::size_t n = 0;
    for (auto& [id, up] : impl_->connected) {
        n += up ? 1 : 0;
    }
    return n;
}

bool FakeFleet::is_connected(const std::string& agent) const {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->connected.find(agent);
    return it != impl_->connected.end() && it->second;
}

std::string FakeFleet::host_of(const std::string& agent) const {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->host.find(agent);
    return it == impl_->host.end() ? "" : it->second;
}

std::map<std::string, int> FakeFleet::deliveries() const {
    std::lock_guard lock(impl_->mu);
    return impl_->deliveries;
}

std::map<std::string, int> FakeFleet::executions() const {
    std::lock_guard lock(impl_->mu);
    return impl_->executions;
}

std::map<int, int> FakeFleet::closes() const {
    std::lock_guard lock(impl_->mu);
    return impl_->closes;
}

std::size_t FakeFleet::sessions_opened() const {
    std::lock_guard lock(impl_->mu);
    return impl_->sessions;
}

}  // namespace agenthost::e2e
