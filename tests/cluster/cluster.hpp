#pragma once
// A cluster of real backends behind the real nginx (deploy/nginx/nginx.conf), sharing
// one PostgreSQL database (identity_postgres, telemetry_postgres when built, else
// telemetry_sqlite per host) and one Redis key prefix (queue_redis, replay_redis).
// Built on the e2e harness: Workspace (PKI, keys, token), Backend, Gateway.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/harness.hpp"
#include "tests/support/nginx.hpp"

namespace agenthost::e2e {

struct ClusterOptions {
    std::size_t backends = 3;
    std::vector<std::string> agents;  // certificates are issued for these
    int heartbeat_s = 2;              // idle timeout and lease are 3x this
    int ack_timeout_s = 5;
    int max_attempts = 5;
    std::size_t queue_max_depth = 2000;
    // false: queue_memory and replay_memory per host (identity still shared), for
    // suites that only exercise the identity constraint.
    bool redis = true;
};

// "gw-01" … "gw-NN".
std::vector<std::string> agent_ids(std::size_t n);

// Whether the plugin module was built (AGENTHOST_PLUGIN_DIR/agenthost_<name>.so).
bool have_plugin(const std::string& name);
// The plugins a cluster needs that are not built ("" when none is missing).
std::string missing_cluster_plugins();

struct ApiCall {
    std::string method;
    std::string path;
    std::string body;
    std::vector<std::string> headers;
};
struct ApiReply {
    int status = 0;
    std::string body;
};

class Cluster {
public:
    explicit Cluster(ClusterOptions opts);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    // Starts every backend (each waits for /readyz), then nginx in front of them.
    void start();

    Workspace& ws() { return *ws_; }
    std::size_t size() const { return backends_.size(); }
    Backend& backend(std::size_t i) { return *backends_.at(i); }
    std::string host_id(std::size_t i) const { return "host-" + std::to_string(i + 1); }
    testsvc::Nginx& nginx() { return *nginx_; }
    const std::string& postgres_url() const { return postgres_url_; }
    const std::string& redis_url() const { return redis_url_; }
    const std::string& key_prefix() const { return prefix_; }

    // A real `agenthost` gateway dialing nginx (started).
    std::unique_ptr<Gateway> gateway(const std::string& agent);
    // The index of a backend whose process runs.
    std::size_t any_live();
    // host_id of the agent's live session as the operator API reports it ("" offline).
    std::string agent_host(const std::string& agent);

    // Many operator API calls to backend `i` through one curl process (keep-alive),
    // in order; a reply per call.
    std::vector<ApiReply> api_batch(std::size_t i, const std::vector<ApiCall>& calls);

private:
    ClusterOptions opts_;
    std::unique_ptr<Workspace> ws_;
    std::string postgres_url_;
    std::string redis_url_;
    std::string prefix_;
    std::vector<std::unique_ptr<Backend>> backends_;
    std::unique_ptr<testsvc::Nginx> nginx_;
};

// One enqueued command: its id ("" when the API refused), agent, entry host, status.
struct Enqueued {
    std::string id;
    std::string agent;
    std::size_t via = 0;
    int status = 0;
};
// Enqueues `count` builtin.echo commands: the k-th (k counted from `offset`) goes to
// agents[k % agents.size()] through the operator API of backend hosts[k % hosts.size()];
// one curl per host, the hosts in parallel.
std::vector<Enqueued> enqueue_round_robin(Cluster& cluster, const std::vector<std::string>& agents,
                                          std::size_t count, const std::vector<std::size_t>& hosts,
                                          std::size_t offset = 0);
bool is_terminal(const std::string& state);
// Polls GET /api/v1/commands/{id} (rotating over the live hosts) until every command is
// in a terminal state or `timeout` passes; the last state seen per id.
std::map<std::string, std::string> wait_terminal(Cluster& cluster,
                                                 const std::vector<std::string>& ids,
                                                 std::chrono::seconds timeout);
// Lines of `log` containing both needles (e.g. "executing command" and a command id).
std::size_t count_lines(const std::string& log, const std::string& a, const std::string& b);

}  // namespace agenthost::e2e
