#include "tests/cluster/cluster.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/services.hpp"

namespace agenthost::e2e {

namespace {

std::string plugin_dir() {
    return env_or("AGENTHOST_PLUGIN_DIR", "build/plugins");
}

// A curl config-file string: quoted, with \ and " escaped.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out + "\"";
}

}  // namespace

std::vector<std::string> agent_ids(std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 1; i <= n; ++i) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "gw-%02zu", i);
        out.emplace_back(buf);
    }
    return out;
}

bool have_plugin(const std::string& name) {
    return ::access((plugin_dir() + "/agenthost_" + name + ".so").c_str(), R_OK) == 0;
}

std::string missing_cluster_plugins() {
    std::string missing;
    for (const char* p : {"identity_postgres", "queue_redis", "replay_redis"}) {
        if (!have_plugin(p)) {
            missing += std::string(missing.empty() ? "" : ", ") + p;
        }
    }
    return missing;
}

Cluster::Cluster(ClusterOptions opts) : opts_(std::move(opts)) {
    ws_ = std::make_unique<Workspace>(opts_.agents);
    postgres_url_ = testsvc::fresh_postgres_database();
    redis_url_ = testsvc::shared_redis_url();
    prefix_ = testsvc::fresh_redis_prefix();
    const bool pg_telemetry = have_plugin("telemetry_postgres");
    for (std::size_t i = 0; i < opts_.backends; ++i) {
        BackendOptions o;
        o.name = host_id(i);
        o.heartbeat_s = opts_.heartbeat_s;
        o.identity_plugin =
            "identity_postgres: { enabled: true, config: { url: \"" + postgres_url_ + "\" } }";
        if (pg_telemetry) {
            o.telemetry_plugin =
                "telemetry_postgres: { enabled: true, config: { url: \"" + postgres_url_ + "\" } }";
        }
        if (!opts_.redis) {
            backends_.push_back(std::make_unique<Backend>(*ws_, o));
            continue;
        }
        o.queue_plugin = "queue_redis: { enabled: true, config: { url: \"" + redis_url_ +
                         "\", key_prefix: \"" + prefix_ +
                         "q:\", max_depth: " + std::to_string(opts_.queue_max_depth) +
                         ", ack_timeout_s: " + std::to_string(opts_.ack_timeout_s) +
                         ", max_backoff_s: " + std::to_string(opts_.ack_timeout_s * 4) +
                         ", max_attempts: " + std::to_string(opts_.max_attempts) +
                         ", sweep_interval_ms: 200, rescan_interval_s: 1 } }";
        // fallback: local, as configs/production.yaml: a Redis outage keeps sessions up.
        o.replay_plugin = "replay_redis: { enabled: true, config: { url: \"" + redis_url_ +
                          "\", key_prefix: \"" + prefix_ + "r:\", fallback: local } }";
        backends_.push_back(std::make_unique<Backend>(*ws_, o));
    }
}

Cluster::~Cluster() {
    nginx_.reset();
    for (auto& b : backends_) {
        if (b->process().running()) {
            b->process().signal(SIGTERM);
            b->process().wait(30s);
        }
    }
}

void Cluster::start() {
    for (auto& b : backends_) {
        b->start();
    }
    testsvc::NginxOptions o;
    for (auto& b : backends_) {
        o.agent_servers.push_back("127.0.0.1:" + std::to_string(b->ports().agents));
        o.api_servers.push_back("127.0.0.1:" + std::to_string(b->ports().admin));
        o.health_servers.push_back("127.0.0.1:" + std::to_string(b->ports().health));
    }
    nginx_ = std::make_unique<testsvc::Nginx>(o);
    nginx_->start();
}

std::unique_ptr<Gateway> Cluster::gateway(const std::string& agent) {
    GatewayOptions o;
    o.agent = agent;
    o.port = nginx_->agent_port();
    o.collect_interval_s = 5;
    auto gw = std::make_unique<Gateway>(*ws_, *backends_.front(), o);
    gw->start();
    return gw;
}

std::size_t Cluster::any_live() {
    for (std::size_t i = 0; i < backends_.size(); ++i) {
        if (backends_[i]->process().running()) {
            return i;
        }
    }
    throw std::runtime_error("no backend is running");
}

std::string Cluster::agent_host(const std::string& agent) {
    auto v = backends_.at(any_live())->api_json("GET", "/api/v1/agents/" + agent);
    if (!v.is_object()) {
        return "";
    }
    const auto* h = v.as_object().if_contains("host_id");
    const auto* s = v.as_object().if_contains("state");
    if (h == nullptr || !h->is_string() || s == nullptr || !s->is_string() ||
        s->as_string() != "online") {
        return "";
    }
    return std::string(h->as_string());
}

std::vector<ApiReply> Cluster::api_batch(std::size_t i, const std::vector<ApiCall>& calls) {
    if (calls.empty()) {
        return {};
    }
    const std::string dir = ws_->dir() + "/batch-" + std::to_string(i);
    ::mkdir(dir.c_str(), 0700);
    const std::string base = "https://127.0.0.1:" + std::to_string(backends_.at(i)->ports().admin);
    std::ostringstream cfg;
    for (std::size_t n = 0; n < calls.size(); ++n) {
        const auto& c = calls[n];
        if (n > 0) {
            cfg << "next\n";
        }
        cfg << "url = " << quoted(base + c.path) << "\n"
            << "request = " << quoted(c.method) << "\n"
            << "cacert = " << quoted(ws_->pki("ca.crt")) << "\n"
            << "header = " << quoted("Authorization: Bearer " + ws_->token()) << "\n"
            << "output = " << quoted(dir + "/" + std::to_string(n)) << "\n"
            << "write-out = \"%{http_code}\\n\"\n"
            << "silent\nshow-error\n";
        for (const auto& h : c.headers) {
            cfg << "header = " << quoted(h) << "\n";
        }
        if (!c.body.empty()) {
            cfg << "header = \"Content-Type: application/json\"\n"
                << "data-binary = " << quoted(c.body) << "\n";
        }
    }
    const std::string cfg_path = dir + "/curl.cfg";
    write_file(cfg_path, cfg.str());
    std::string codes;
    run("curl -K " + cfg_path, &codes);
    std::vector<ApiReply> out(calls.size());
    std::istringstream in(codes);
    for (std::size_t n = 0; n < calls.size(); ++n) {
        std::string code;
        std::getline(in, code);
        try {
            out[n].status = std::stoi(code);
        } catch (...) {
            out[n].status = 0;
        }
        out[n].body = read_file(dir + "/" + std::to_string(n));
        ::unlink((dir + "/" + std::to_string(n)).c_str());
    }
    return out;
}

// ---------------------------------------------------------------------------------
std::vector<Enqueued> enqueue_round_robin(Cluster& cluster, const std::vector<std::string>& agents,
                                          std::size_t count, const std::vector<std::size_t>& hosts,
                                          std::size_t offset) {
    std::vector<Enqueued> out(count);
    std::map<std::size_t, std::vector<std::size_t>> per_host;  // host -> indexes into out
    for (std::size_t n = 0; n < count; ++n) {
        const std::size_t k = offset + n;
        out[n].agent = agents[k % agents.size()];
        out[n].via = hosts[k % hosts.size()];
        per_host[out[n].via].push_back(n);
    }
    std::vector<std::thread> threads;
    for (auto& [host, indexes] : per_host) {
        threads.emplace_back([&cluster, &out, host = host, &indexes = indexes, offset] {
            std::vector<ApiCall> calls;
            for (std::size_t n : indexes) {
                json::object body{{"name", "builtin.echo"},
                                  {"args", {{"text", "c" + std::to_string(offset + n)}}},
                                  {"timeout_s", 600}};
                calls.push_back(ApiCall{"POST",
                                        "/api/v1/agents/" + out[n].agent + "/commands",
                                        json::serialize(body),
                                        {}});
            }
            auto replies = cluster.api_batch(host, calls);
            for (std::size_t j = 0; j < indexes.size(); ++j) {
                auto& e = out[indexes[j]];
                e.status = replies[j].status;
                boost::system::error_code ec;
                auto v = json::parse(replies[j].body, ec);
                if (!ec && v.is_object() && v.as_object().contains("command_id")) {
                    e.id = json::value_to<std::string>(v.at("command_id"));
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    return out;
}

bool is_terminal(const std::string& state) {
    static const std::set<std::string> terminal{"succeeded", "failed",    "rejected",
                                                "timed_out", "cancelled", "dead_lettered"};
    return terminal.count(state) > 0;
}

std::map<std::string, std::string> wait_terminal(Cluster& cluster,
                                                 const std::vector<std::string>& ids,
                                                 std::chrono::seconds timeout) {
    std::map<std::string, std::string> state;
    for (const auto& id : ids) {
        state[id] = "";
    }
    std::size_t round = 0;
    wait_until(
        [&] {
            std::vector<std::string> open;
            for (auto& [id, s] : state) {
                if (!is_terminal(s)) {
                    open.push_back(id);
                }
            }
            if (open.empty()) {
                return true;
            }
            // Ask a different live host each round: any host answers for the cluster.
            std::vector<std::size_t> live;
            for (std::size_t i = 0; i < cluster.size(); ++i) {
                if (cluster.backend(i).process().running()) {
                    live.push_back(i);
                }
            }
            const std::size_t host = live.at(round++ % live.size());
            std::vector<ApiCall> calls;
            for (const auto& id : open) {
                calls.push_back(ApiCall{"GET", "/api/v1/commands/" + id, "", {}});
            }
            auto replies = cluster.api_batch(host, calls);
            for (std::size_t j = 0; j < open.size(); ++j) {
                boost::system::error_code ec;
                auto v = json::parse(replies[j].body, ec);
                if (!ec && v.is_object() && v.as_object().contains("state")) {
                    state[open[j]] = json::value_to<std::string>(v.at("state"));
                }
            }
            return false;
        },
        timeout, 500ms);
    return state;
}

std::size_t count_lines(const std::string& log, const std::string& a, const std::string& b) {
    std::istringstream in(log);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) {
        n += line.find(a) != std::string::npos && line.find(b) != std::string::npos ? 1 : 0;
    }
    return n;
}

}  // namespace agenthost::e2e
