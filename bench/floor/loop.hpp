// One epoll thread of echo_floor. Server: echoes every byte it reads. Client: sends the
// payload, checks the echo, counts a round trip, sends again. Connections are handed
// in with adopt() from any thread; the loop owns them from then on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/floor/conn.hpp"
#include "bench/floor/options.hpp"

namespace echo_floor {

class Loop {
public:
    // stop_fd: an eventfd shared by all loops; writing to it ends every run().
    Loop(const Options& o, std::string payload, int stop_fd);
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    ~Loop();

    void adopt(std::unique_ptr<Conn> c);  // any thread

    // The loop thread. Returns when the stop event fires or, in the client, when a
    // connection fails (then failed() is true).
    void run();

    // Any thread.
    std::uint64_t round_trips() const { return round_trips_.load(std::memory_order_relaxed); }
    bool failed() const { return failed_.load(std::memory_order_acquire); }
    const std::string& failure() const { return failure_; }  // once failed() is true

private:
    void watch(int fd, std::uint32_t events, void* tag);
    void fail(std::string why);
    void take_incoming();
    bool on_ready(Conn& c);
    bool on_bytes(Conn& c, const char* p, std::size_t n);
    bool drain_tls(Conn& c);
    bool on_plain(Conn& c, const char* p, std::size_t n);
    bool queue(Conn& c, const char* p, std::size_t n);
    bool flush(Conn& c);

    const Options& o_;
    const std::string payload_;
    int ep_;
    int wake_;
    std::mutex mu_;
    std::vector<std::unique_ptr<Conn>> incoming_;  // guarded by mu_
    std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
    alignas(64) std::atomic<std::uint64_t> round_trips_{0};  // written by the loop only
    std::atomic<bool> failed_{false};
    std::string failure_;
    char in_[16384];
    char plain_[16384];
};

}  // namespace echo_floor
