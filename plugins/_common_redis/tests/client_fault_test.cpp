// ah_redis against a private Redis that the test stops and restarts: fail-fast while
// it is down, reconnect with backoff and the on_ready hooks when it is back, and the
// command timeout when the server stops answering (CLIENT PAUSE); and against a
// scripted server that is still loading its data (PING answered with -LOADING).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "plugins/_common_redis/client.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/services.hpp"

namespace agenthost::redis {
namespace {

using namespace std::chrono_literals;
using testing::wait_until;

sdk::Result<Reply> run(Client& c, Argv argv) {
    std::mutex mu;
    std::optional<sdk::Result<Reply>> out;
    c.command(std::move(argv), [&](sdk::Result<Reply> r) {
        std::lock_guard lock(mu);
        out.emplace(std::move(r));
    });
    EXPECT_TRUE(wait_until([&] {
        std::lock_guard lock(mu);
        return out.has_value();
    }, 20s));
    std::lock_guard lock(mu);
    return out ? std::move(*out) : sdk::Result<Reply>(sdk::error(sdk::Errc::timeout, "no answer"));
}

// A client that notices a dead server within tens of milliseconds and retries soon.
ClientOptions quick_options(const std::string& url) {
    ClientOptions o;
    o.endpoint = *parse_url(url);
    o.ping_interval = 50ms;
    o.backoff_min = 20ms;
    return o;
}

// A stand-in for a Redis that has just restarted and is still reading its AOF: it
// accepts, answers CLIENT/SELECT/AUTH with +OK, and PING with -LOADING on its first
// `loading` connections (keeping them open, as Redis does), +PONG on later ones.
class LoadingRedis {
public:
    explicit LoadingRedis(int loading) : loading_(loading) {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
            ::listen(listener_, 16) != 0 ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            throw std::runtime_error("fake redis: cannot listen");
        }
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~LoadingRedis() {
        stop_ = true;
        thread_.join();
        for (auto& c : conns_) {
            ::close(c.fd);
        }
        ::close(listener_);
    }
    LoadingRedis(const LoadingRedis&) = delete;
    LoadingRedis& operator=(const LoadingRedis&) = delete;

    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    int accepted() const { return accepted_.load(); }

private:
    struct Conn {
        int fd;
        int index;
        std::string in;
    };

    void serve() {
        while (!stop_) {
            std::vector<pollfd> fds{{listener_, POLLIN, 0}};
            for (const auto& c : conns_) {
                fds.push_back({c.fd, POLLIN, 0});
            }
            if (::poll(fds.data(), fds.size(), 20) <= 0) {
                continue;
            }
            if ((fds[0].revents & POLLIN) != 0) {
                const int fd = ::accept(listener_, nullptr, nullptr);
                if (fd >= 0) {
                    conns_.push_back({fd, accepted_++, {}});
                }
            }
            for (std::size_t i = 1; i < fds.size(); ++i) {
                if (fds[i].revents == 0) {
                    continue;
                }
                Conn& c = conns_[i - 1];
                char buf[4096];
                const ssize_t n = ::read(c.fd, buf, sizeof buf);
                if (n <= 0) {
                    continue;  // closed by the client: left as is until the end
                }
                c.in.append(buf, static_cast<std::size_t>(n));
                answer(c);
            }
        }
    }

    // Answers every complete RESP command buffered on `c`.
    void answer(Conn& c) {
        for (;;) {
            std::vector<std::string> args;
            std::size_t pos = 0;
            if (!parse(c.in, pos, args)) {
                return;
            }
            c.in.erase(0, pos);
            std::string reply = "+OK\r\n";
            if (!args.empty() && args[0] == "PING") {
                reply = c.index < loading_ ? "-LOADING Redis is loading the dataset in memory\r\n"
                                           : "+PONG\r\n";
            }
            if (::write(c.fd, reply.data(), reply.size()) < 0) {
                return;
            }
        }
    }

    static bool parse(const std::string& in, std::size_t& pos, std::vector<std::string>& args) {
        auto line = [&](std::size_t& p, std::string& out) {
            const auto end = in.find("\r\n", p);
            if (end == std::string::npos) {
                return false;
            }
            out = in.substr(p, end - p);
            p = end + 2;
            return true;
        };
        std::string head;
        if (!line(pos, head) || head.empty() || head[0] != '*') {
            return false;
        }
        const int n = std::stoi(head.substr(1));
        for (int i = 0; i < n; ++i) {
            std::string len;
            if (!line(pos, len) || len.empty() || len[0] != '$') {
                return false;
            }
            const auto size = static_cast<std::size_t>(std::stoul(len.substr(1)));
            if (in.size() < pos + size + 2) {
                return false;
            }
            args.push_back(in.substr(pos, size));
            pos += size + 2;
        }
        return true;
    }

    const int loading_;
    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::vector<Conn> conns_;  // the server thread's
    std::thread thread_;
};

TEST(RedisClientFault, AServerStillLoadingItsDataIsRetriedUntilItAnswers) {
    LoadingRedis server(2);
    testing::FakeLogger log;  // outlives the loop's threads
    LocalLoop loop(2);
    ClientOptions o = quick_options(server.url());
    o.backoff_max = 100ms;
    auto c = Client::create(loop.native_loop(), o, log);
    std::atomic<int> ready{0};
    c->on_ready([&] { ++ready; });
    c->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy(); }, 20s))
        << "stuck on a -LOADING handshake: " << c->last_error();
    EXPECT_GE(server.accepted(), 3) << "two refused handshakes, then a good one";
    EXPECT_EQ(ready.load(), 1);
    EXPECT_EQ(c->connects(), 1u);
    c->stop();
}

TEST(RedisClientFault, RecoversAfterTheServerRestarts) {
    testsvc::RedisServer server;
    testing::FakeLogger log;  // outlives the loop's threads
    LocalLoop loop(2);
    ClientOptions o = quick_options(server.url());
    o.backoff_max = 200ms;
    auto c = Client::create(loop.native_loop(), o, log);
    std::atomic<int> ready{0};
    c->on_ready([&] { ++ready; });
    c->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy() && ready == 1; }));
    ASSERT_TRUE(run(*c, {"SET", "k", "before"}).ok());

    server.stop();
    ASSERT_TRUE(wait_until([&] { return !c->healthy(); })) << "the ping notices";
    auto down = run(*c, {"GET", "k"});
    EXPECT_EQ(down.status().code(), sdk::Errc::unavailable);

    server.start();
    ASSERT_TRUE(wait_until([&] { return c->healthy(); }, 20s)) << c->last_error();
    EXPECT_EQ(ready.load(), 2) << "hooks run again on reconnect";
    EXPECT_GE(c->connects(), 2u);
    auto after = run(*c, {"GET", "k"});
    ASSERT_TRUE(after.ok()) << after.status().message();
    EXPECT_EQ(after->text(), "before") << "AOF kept the acknowledged write";
    c->stop();
}

TEST(RedisClientFault, ASilentServerTimesOutAndTheClientReconnects) {
    testsvc::RedisServer server;
    testing::FakeLogger log;  // outlives the loop's threads
    LocalLoop loop(2);
    ClientOptions o = quick_options(server.url());
    o.command_timeout = 300ms;
    auto c = Client::create(loop.native_loop(), o, log);
    auto admin = Client::create(loop.native_loop(), o, log);
    c->start();
    admin->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy() && admin->healthy(); }));

    // The server holds every client's commands for 1.5 s: ours must give up at its
    // 300 ms timeout. (Without the timeout the GET would be answered once the pause
    // ends, with a nil reply and no error: no clock is needed to tell.)
    ASSERT_TRUE(run(*admin, {"CLIENT", "PAUSE", "1500", "ALL"}).ok());
    auto r = run(*c, {"GET", "k"});
    EXPECT_EQ(r.status().code(), sdk::Errc::unavailable);
    ASSERT_TRUE(wait_until([&] { return c->healthy(); }, 20s)) << c->last_error();
    EXPECT_TRUE(run(*c, {"PING"}).ok());
    c->stop();
    admin->stop();
}

}  // namespace
}  // namespace agenthost::redis
