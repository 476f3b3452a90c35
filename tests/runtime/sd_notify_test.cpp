// Unit tests of the sd_notify client (kernel/runtime/sd_notify.hpp) against a unix
// datagram socket the test binds, as systemd's NOTIFY_SOCKET would be.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "kernel/runtime/runtime.hpp"
#include "kernel/runtime/sd_notify.hpp"

namespace agenthost::runtime {
namespace {

class NotifySocket {
public:
    explicit NotifySocket(bool abstract) {
        char tmpl[] = "/tmp/ah-notify-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        socklen_t len = 0;
        if (abstract) {
            name_ = "@ah-notify-" + std::to_string(::getpid()) + dir_.substr(dir_.size() - 6);
            std::memcpy(addr.sun_path + 1, name_.data() + 1, name_.size() - 1);
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
        } else {
            name_ = dir_ + "/notify";
            std::memcpy(addr.sun_path, name_.c_str(), name_.size() + 1);
            len = sizeof addr;
        }
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
        timeval tv{5, 0};  // every receive is bounded: a missing message fails, not hangs
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~NotifySocket() {
        ::close(fd_);
        std::filesystem::remove_all(dir_);
    }
    const std::string& name() const { return name_; }
    std::string receive() {
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }

private:
    std::string dir_;
    std::string name_;
    int fd_ = -1;
};

class SdNotifyTest : public ::testing::Test {
protected:
    void TearDown() override {
        ::unsetenv("NOTIFY_SOCKET");
        ::unsetenv("WATCHDOG_USEC");
        ::unsetenv("WATCHDOG_PID");
    }
};

TEST_F(SdNotifyTest, DisabledWithoutNotifySocket) {
    ::unsetenv("NOTIFY_SOCKET");
    SdNotifier n;
    EXPECT_FALSE(n.enabled());
    EXPECT_FALSE(n.ready("x"));
}

TEST_F(SdNotifyTest, SendsStatesToAPathSocket) {
    NotifySocket sock(false);
    ::setenv("NOTIFY_SOCKET", sock.name().c_str(), 1);
    SdNotifier n;
    ASSERT_TRUE(n.enabled());
    EXPECT_FALSE(n.watchdog_period().has_value());
    ASSERT_TRUE(n.ready("serving"));
    EXPECT_EQ(sock.receive(), "READY=1\nSTATUS=serving");
    ASSERT_TRUE(n.reloading());
    const std::string reloading = sock.receive();
    EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reloading;
    ASSERT_TRUE(n.stopping("draining"));
    EXPECT_EQ(sock.receive(), "STOPPING=1\nSTATUS=draining");
}

TEST_F(SdNotifyTest, SendsToAnAbstractSocket) {
    NotifySocket sock(true);
    ::setenv("NOTIFY_SOCKET", sock.name().c_str(), 1);
    SdNotifier n;
    ASSERT_TRUE(n.status("hello"));
    EXPECT_EQ(sock.receive(), "STATUS=hello");
}

TEST_F(SdNotifyTest, WatchdogForAnotherPidIsIgnored) {
    NotifySocket sock(false);
    ::setenv("NOTIFY_SOCKET", sock.name().c_str(), 1);
    ::setenv("WATCHDOG_USEC", "1000000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
    EXPECT_FALSE(SdNotifier().watchdog_period().has_value());
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    EXPECT_EQ(SdNotifier().watchdog_period(), std::chrono::microseconds(1000000));
}

TEST_F(SdNotifyTest, WatchdogPingsComeFromTheLoop) {
    NotifySocket sock(false);
    ::setenv("NOTIFY_SOCKET", sock.name().c_str(), 1);
    ::setenv("WATCHDOG_USEC", "100000", 1);  // pings every 50 ms
    RuntimeOptions o;
    o.loop_threads = 1;
    o.blocking_threads = 1;
    o.log_level = "off";
    Runtime rt(o);
    rt.start_background();
    {
        SdNotifier n;
        n.start_watchdog(rt.scheduler());
        for (int i = 0; i < 3; ++i) {
            EXPECT_EQ(sock.receive(), "WATCHDOG=1");
        }
        n.stop_watchdog();
    }
    rt.stop();
}

}  // namespace
}  // namespace agenthost::runtime
