#pragma once
// Runs child processes without a shell and without blocking any loop thread: one
// monitor thread owns every child, polling their output pipes and pidfds. Each
// child gets a new process group, a cleared environment, stdin from /dev/null and
// one pipe for stdout+stderr (kept up to a cap, the rest drained and dropped).
// A timeout or cancel SIGKILLs the whole process group; when the leader exits, any
// process it left in its group is killed too, so no command leaves anything behind.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <agenthost/sdk.hpp>

namespace agenthost::plugins::exec_allowlist {

struct SpawnRequest {
    std::string id;                 // command_id, the key for cancel()
    std::vector<std::string> argv;  // argv[0] is an absolute path
    std::vector<std::string> env;   // "K=V", the child's whole environment
    std::size_t output_cap = 64 * 1024;
    std::chrono::milliseconds timeout{60'000};
    sdk::Callback<sdk::ExecResult> done;  // called once on the monitor thread
};

class ProcessRunner {
public:
    explicit ProcessRunner(const sdk::Clock& clock);
    ~ProcessRunner();
    ProcessRunner(const ProcessRunner&) = delete;
    ProcessRunner& operator=(const ProcessRunner&) = delete;

    // Thread-safe, non-blocking: the spawn happens on the monitor thread.
    void run(SpawnRequest request);
    // Kills the process group of `id` (status `failed`, exit_code null).
    void cancel(std::string_view id);
    // Kills and reaps every child without completing it, then joins the thread.
    void stop() noexcept;
    std::size_t active() const;

private:
    struct Child;
    void loop();
    void drain_inbox();
    void spawn(SpawnRequest& request);
    void pump(Child& child, bool pid_ready);
    void complete(Child& child);
    void wake() noexcept;

    const sdk::Clock& clock_;
    int wake_rd_ = -1;
    int wake_wr_ = -1;
    mutable std::mutex mu_;
    std::deque<SpawnRequest> spawns_;
    std::vector<std::string> cancels_;
    bool stopping_ = false;
    std::size_t active_ = 0;
    std::map<std::string, std::unique_ptr<Child>> children_;  // monitor thread only
    std::thread thread_;
};

}  // namespace agenthost::plugins::exec_allowlist
