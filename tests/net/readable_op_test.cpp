// The readable-wait operation behind FdTlsStream (kernel/net/fd_readable_op.hpp) on a
// plain loopback TCP pair: each path by which readability can be learnt (reactor edge,
// speculative peek at start), that a wait never completes on an empty socket, that a
// peer's close wakes it, and that closing the socket aborts it. Loopback only, no TLS,
// so it runs with the unit tests (and under ASan + UBSan in CI).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "kernel/net/fd_readable_op.hpp"

#if defined(AGENTHOST_HAS_READABLE_OP)

namespace asio = boost::asio;
using asio::ip::tcp;
using agenthost::net::detail::async_readable;
using agenthost::net::detail::reactor_of;

namespace {

class ReadableOpTest : public ::testing::Test {
protected:
    void SetUp() override {
        tcp::acceptor acc(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
        writer_.connect(acc.local_endpoint());
        acc.accept(reader_);
        reader_.non_blocking(true);
    }

    // Runs handlers until `done` holds or 10 s pass; true if it holds.
    template <class Pred>
    bool run_until(Pred done) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            io_.restart();
            io_.run_one_for(std::chrono::milliseconds(100));
        }
        return done();
    }

    void send(const char* text) { asio::write(writer_, asio::buffer(text, std::strlen(text))); }

    std::size_t drain() {
        char buf[256];
        boost::system::error_code ec;
        std::size_t total = 0;
        for (;;) {
            const std::size_t n = reader_.read_some(asio::buffer(buf), ec);
            if (ec) {
                return total;  // would_block: empty
            }
            total += n;
        }
    }

    // The loopback peer's bytes are in the socket (delivery is near-immediate).
    bool wait_available() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (reader_.available() == 0 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
        }
        return reader_.available() != 0;
    }

    void wait(std::optional<boost::system::error_code>& out) {
        out.reset();
        async_readable(reader_, reactor_of(reader_),
                       [&out](boost::system::error_code ec) { out = ec; });
    }

    asio::io_context io_{1};
    tcp::socket writer_{io_};
    tcp::socket reader_{io_};
};

TEST_F(ReadableOpTest, CompletesWhenDataArrivesLater) {
    std::optional<boost::system::error_code> got;
    wait(got);
    io_.poll();
    EXPECT_FALSE(got.has_value()) << "completed on an empty socket";
    send("hello");
    ASSERT_TRUE(run_until([&] { return got.has_value(); }));
    EXPECT_FALSE(*got);
    EXPECT_EQ(drain(), 5u);
}

TEST_F(ReadableOpTest, AfterAReactorWakeTheNextWaitWaitsForNewData) {
    std::optional<boost::system::error_code> got;
    wait(got);
    send("one");
    ASSERT_TRUE(run_until([&] { return got.has_value(); }));
    ASSERT_EQ(drain(), 3u);
    // The reactor now tries nothing speculatively: the wait is queued as is and must
    // still be woken by the next edge.
    wait(got);
    io_.poll();
    EXPECT_FALSE(got.has_value());
    send("two");
    ASSERT_TRUE(run_until([&] { return got.has_value(); }));
    EXPECT_FALSE(*got);
    EXPECT_EQ(drain(), 3u);
}

TEST_F(ReadableOpTest, DataThatArrivedBeforeTheWaitIsSeenAtOnce) {
    std::optional<boost::system::error_code> got;
    wait(got);
    send("one");
    ASSERT_TRUE(run_until([&] { return got.has_value(); }));
    ASSERT_EQ(drain(), 3u);
    // Data arrives, and the reactor harvests its edge, while no wait is queued (a
    // pending timer keeps poll() running the reactor). Only the speculative look at
    // start can learn of it now: no further edge will come.
    send("late");
    ASSERT_TRUE(wait_available());
    asio::steady_timer keep(io_, std::chrono::hours(1));
    keep.async_wait([](boost::system::error_code) {});
    io_.restart();
    io_.poll();
    wait(got);
    ASSERT_TRUE(run_until([&] { return got.has_value(); }));
    EXPECT_FALSE(*got);
    EXPECT_EQ(drain(), 4u);
}

TEST_F(ReadableOpTest, APeersCloseWakesIt) {
    std::optional<boost::system::error_code> got;
    wait(got);
    writer_.close();
    ASSERT_TRUE(run_until([&] { return got.has_value(); }));
    EXPECT_FALSE(*got);
    char c;
    boost::system::error_code ec;
    reader_.read_some(asio::buffer(&c, 1), ec);
    EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(ReadableOpTest, ClosingTheSocketAbortsIt) {
    std::optional<boost::system::error_code> got;
    wait(got);
    io_.poll();
    reader_.close();
    ASSERT_TRUE(run_until([&] { return got.has_value(); }));
    EXPECT_EQ(*got, asio::error::operation_aborted);
}

}  // namespace

#endif
