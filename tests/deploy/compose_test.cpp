// deploy/docker-compose.yml, checked structurally (no Docker engine runs here): the
// services of the documented topology, healthchecks wired to the readiness endpoints,
// start order on service_healthy, restart policies and resource limits everywhere,
// and ports consistent between compose, the backend config and nginx's template.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <yaml-cpp/yaml.h>

namespace {

std::string source_dir() {
    const char* s = std::getenv("AGENTHOST_SOURCE_DIR");
    return s != nullptr ? s : ".";
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// yaml-cpp keeps `<<` merge keys as ordinary keys; apply them (one level, as used).
YAML::Node merged(const YAML::Node& n) {
    YAML::Node out(YAML::NodeType::Map);
    if (n["<<"]) {
        for (const auto& kv : n["<<"]) {
            out[kv.first.as<std::string>()] = kv.second;
        }
    }
    for (const auto& kv : n) {
        if (kv.first.as<std::string>() != "<<") {
            out[kv.first.as<std::string>()] = kv.second;
        }
    }
    return out;
}

class Compose : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = YAML::LoadFile(source_dir() + "/deploy/docker-compose.yml");
        ASSERT_TRUE(root_["services"].IsMap());
        for (const auto& kv : root_["services"]) {
            services_[kv.first.as<std::string>()] = merged(kv.second);
        }
    }
    YAML::Node service(const std::string& name) { return services_[name]; }

    YAML::Node root_;
    std::map<std::string, YAML::Node> services_;
};

TEST_F(Compose, HasTheDocumentedTopology) {
    std::set<std::string> names;
    for (const auto& [name, _] : services_) {
        names.insert(name);
    }
    EXPECT_EQ(names, (std::set<std::string>{"postgres", "redis", "migrate", "backend1",
                                            "backend2", "nginx", "gateway"}));
}

TEST_F(Compose, LongRunningServicesHaveHealthchecksRestartAndLimits) {
    for (const auto& [name, svc] : services_) {
        if (name == "migrate") {
            EXPECT_EQ(svc["restart"].as<std::string>(), "no");
            continue;
        }
        SCOPED_TRACE(name);
        ASSERT_TRUE(svc["healthcheck"]["test"].IsSequence());
        EXPECT_TRUE(svc["healthcheck"]["interval"]);
        EXPECT_TRUE(svc["healthcheck"]["retries"]);
        EXPECT_EQ(svc["restart"].as<std::string>(), "unless-stopped");
        ASSERT_TRUE(svc["deploy"]["resources"]["limits"]["memory"]);
        ASSERT_TRUE(svc["deploy"]["resources"]["limits"]["cpus"]);
        EXPECT_TRUE(svc["logging"]["options"]["max-size"]);
    }
}

TEST_F(Compose, StartOrderWaitsForHealthyDependencies) {
    for (const auto& [name, svc] : services_) {
        if (!svc["depends_on"]) {
            continue;
        }
        SCOPED_TRACE(name);
        ASSERT_TRUE(svc["depends_on"].IsMap()) << "short-form depends_on has no condition";
        for (const auto& dep : svc["depends_on"]) {
            const auto dep_name = dep.first.as<std::string>();
            const auto cond = dep.second["condition"].as<std::string>();
            ASSERT_TRUE(services_.count(dep_name)) << dep_name;
            if (dep_name == "migrate") {
                EXPECT_EQ(cond, "service_completed_successfully");
            } else {
                EXPECT_EQ(cond, "service_healthy");
                EXPECT_TRUE(services_[dep_name]["healthcheck"]) << dep_name;
            }
        }
    }
    for (const char* b : {"backend1", "backend2"}) {
        auto deps = service(b)["depends_on"];
        EXPECT_TRUE(deps["postgres"] && deps["redis"] && deps["migrate"]) << b;
    }
    EXPECT_TRUE(service("nginx")["depends_on"]["backend1"]);
    EXPECT_TRUE(service("nginx")["depends_on"]["backend2"]);
    EXPECT_TRUE(service("gateway")["depends_on"]["nginx"]);
}

TEST_F(Compose, PortsAgreeAcrossComposeBackendConfigAndNginx) {
    auto backend_cfg = YAML::LoadFile(source_dir() + "/deploy/compose/backend.yaml");
    const auto agents = backend_cfg["listen"]["agents"]["port"].as<std::string>();
    const auto admin = backend_cfg["listen"]["admin"]["port"].as<std::string>();
    const auto health = backend_cfg["listen"]["health"]["port"].as<std::string>();
    EXPECT_EQ(backend_cfg["listen"]["agents"]["address"].as<std::string>(), "0.0.0.0");

    auto env = service("nginx")["environment"];
    EXPECT_EQ(env["BACKEND_AGENT_PORT"].as<std::string>(), agents);
    EXPECT_EQ(env["BACKEND_API_PORT"].as<std::string>(), admin);
    EXPECT_EQ(env["BACKEND_HEALTH_PORT"].as<std::string>(), health);
    EXPECT_EQ(env["BACKENDS"].as<std::string>(), "backend1 backend2");

    std::set<std::string> published;
    for (const auto& p : service("nginx")["ports"]) {
        published.insert(p.as<std::string>());
    }
    EXPECT_TRUE(published.count(env["AGENT_PORT"].as<std::string>() + ":" +
                                env["AGENT_PORT"].as<std::string>()));
    EXPECT_TRUE(published.count(env["API_PORT"].as<std::string>() + ":" +
                                env["API_PORT"].as<std::string>()));
    EXPECT_TRUE(published.count(env["HEALTH_PORT"].as<std::string>() + ":" +
                                env["HEALTH_PORT"].as<std::string>()));

    for (const char* b : {"backend1", "backend2"}) {
        SCOPED_TRACE(b);
        std::set<std::string> exposed;
        for (const auto& p : service(b)["expose"]) {
            exposed.insert(p.as<std::string>());
        }
        EXPECT_EQ(exposed, (std::set<std::string>{agents, admin, health}));
        auto test = service(b)["healthcheck"]["test"];
        EXPECT_EQ(test[test.size() - 1].as<std::string>(),
                  "http://127.0.0.1:" + health + "/readyz");
    }

    // Every placeholder of the nginx template is filled by the compose render script.
    const std::string tmpl = slurp(source_dir() + "/deploy/nginx/nginx.conf");
    const std::string render = slurp(source_dir() + "/deploy/compose/render-nginx.sh");
    std::regex placeholder("@([A-Z_]+)@");
    std::set<std::string> seen;
    for (auto it = std::sregex_iterator(tmpl.begin(), tmpl.end(), placeholder);
         it != std::sregex_iterator(); ++it) {
        seen.insert((*it)[0]);
    }
    ASSERT_FALSE(seen.empty());
    for (const auto& p : seen) {
        EXPECT_NE(render.find(p), std::string::npos) << p << " is not rendered";
    }
}

TEST_F(Compose, RedisIsDurableAndImagesComeFromTheDockerfile) {
    const std::string redis_conf = slurp(source_dir() + "/deploy/redis/redis.conf");
    EXPECT_TRUE(std::regex_search(redis_conf, std::regex("(^|\\n)appendonly yes")));
    EXPECT_TRUE(std::regex_search(redis_conf, std::regex("(^|\\n)appendfsync (always|everysec)")));
    const std::string dockerfile = slurp(source_dir() + "/deploy/Dockerfile");
    for (const auto& [name, svc] : services_) {
        if (svc["build"]) {
            const auto target = svc["build"]["target"].as<std::string>();
            EXPECT_NE(dockerfile.find(" AS " + target + "\n"), std::string::npos)
                << name << " builds missing target " << target;
        }
    }
    EXPECT_TRUE(root_["secrets"]["pg_password"]);
    EXPECT_TRUE(root_["volumes"]["pgdata"]);
}

}  // namespace
