#pragma once
// redis::Client: one hiredis 0.14 async connection driven by Asio on ah_redis' own
// I/O thread (one per plugin module; a plugin's copy of Asio cannot drive sockets on
// the kernel's io_context, see client.cpp). No call here blocks and no caller ever
// waits: a command issued on a caller's thread is written from that thread at once
// when the connection is idle for it (no hand-off to, and wake-up of, the I/O thread;
// a client lock that is busy or an earlier command still queued sends it through the
// client's strand instead, so one caller's commands keep their order); replies are
// parsed on the I/O thread when the socket is readable (stream_descriptor::async_wait).
// Asio stays inside client.cpp; this header is Asio-free.
//
//  - Reconnects with jittered exponential backoff (backoff_min .. backoff_max) after
//    any failure; on every (re)connect it authenticates, selects the db, then runs the
//    on_ready hooks (re-subscribe, re-register state) before healthy() turns true.
//  - Commands issued while disconnected fail at once with Errc::unavailable (callers
//    answer 503); a reply missing for longer than command_timeout drops the
//    connection, failing every in-flight command with Errc::unavailable.
//  - Pipelining: commands are sent as issued, back to back, without waiting for
//    replies; pipeline() sends a batch and answers once with every reply.
//  - Pub/sub: a client put into subscriber mode (subscribe()) only receives
//    messages; use a second client for commands.
//  - Completions run on ah_redis' I/O thread (the client's strand), never inside the
//    call that issued the command, and must not block; post to the kernel's Scheduler
//    for anything that must run on the loop.
//    After stop() returns no completion or hook runs any more.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <agenthost/logger.hpp>
#include <agenthost/scheduler.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_redis/reply.hpp"

namespace agenthost::redis {

struct ClientOptions {
    Endpoint endpoint;
    std::string name = "agenthost";  // CLIENT SETNAME, and log tag
    std::chrono::milliseconds command_timeout{5000};
    std::chrono::milliseconds ping_interval{1000};  // health probe and latency sample
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{5000};
};

using ReplyCallback = std::function<void(sdk::Result<Reply>)>;
using PipelineCallback = std::function<void(sdk::Result<std::vector<Reply>>)>;
using MessageCallback = std::function<void(const std::string& channel, const std::string& payload)>;
using Argv = std::vector<std::string>;

class Client {
public:
    // `native_loop` (sdk::Scheduler::native_loop()) is accepted for callers that check
    // for a real loop first; the socket runs on ah_redis' I/O thread either way.
    // `logger` must outlive the client's teardown (it runs on that thread after stop()).
    static std::shared_ptr<Client> create(void* native_loop, ClientOptions options,
                                          sdk::Logger& logger);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts connecting (asynchronously). Idempotent.
    void start();
    // Closes the connection; in-flight commands are dropped without completion.
    void stop() noexcept;

    // Sends one command. Thread-safe.
    void command(Argv argv, ReplyCallback done);
    // Sends the commands back to back; `done` gets every reply in order, or the first
    // connection failure. Error replies are returned as replies, not as a failure.
    void pipeline(std::vector<Argv> commands, PipelineCallback done);
    // EVALSHA script keys... args..., falling back to EVAL when the server has not
    // cached it (NOSCRIPT, e.g. after a restart).
    void eval(const Script& script, Argv keys, Argv args, ReplyCallback done);

    // Subscriber mode: SUBSCRIBE to `channels` on every (re)connect and pass each
    // message to `on_message`. Call before start(); the client then takes no commands.
    void subscribe(std::vector<std::string> channels, MessageCallback on_message);
    // Runs after every successful (re)connect, on the strand, before healthy() is true
    // for commands issued by the hook itself. Register before start().
    void on_ready(std::function<void()> hook);

    // Connected and the last PING answered within command_timeout.
    bool healthy() const noexcept;
    // Round trip of the last PING in milliseconds (nullopt before the first one).
    std::optional<double> ping_latency_ms() const noexcept;
    // Reason of the last failure ("" when none); never contains credentials.
    std::string last_error() const;
    // Successful connects so far (1 after the first, +1 per reconnect).
    std::uint64_t connects() const noexcept;

    struct Impl;

private:
    explicit Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<Impl> impl_;
};

// An io_context run by its own threads, with an sdk::Scheduler whose native_loop()
// is that io_context: for tests and benchmarks that need a real loop outside the
// kernel (the kernel's Runtime provides the same in production).
class LocalLoop {
public:
    explicit LocalLoop(unsigned threads = 2);
    ~LocalLoop();  // stops and joins the threads
    LocalLoop(const LocalLoop&) = delete;
    LocalLoop& operator=(const LocalLoop&) = delete;

    sdk::Scheduler& scheduler() noexcept;
    void* native_loop() noexcept;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace agenthost::redis
