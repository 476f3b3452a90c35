#pragma once
// Helpers shared by the identity_postgres plugin tests: a fake context with real
// blocking threads, and a way to wait (with a deadline) for an async completion.

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <agenthost/capabilities/identity.hpp>

#include "tests/support/fake_context.hpp"

namespace agenthost::identity_postgres::test {

inline testing::FakeContextOptions threaded_options() {
    testing::FakeContextOptions o;
    o.plugin_name = "identity_postgres";
    o.blocking_mode = testing::FakeBlockingPool::Mode::threaded;
    return o;
}

// Calls an async store method and waits up to 30 s for its completion's value.
template <typename T, typename Call>
std::optional<T> await(Call&& c) {
    auto promise = std::make_shared<std::promise<T>>();
    auto future = promise->get_future();
    c([promise](T v) { promise->set_value(std::move(v)); });
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        return std::nullopt;
    }
    return future.get();
}

inline sdk::AgentHello hello(std::string agent, std::string session,
                             std::string host = "test-host") {
    sdk::AgentHello h;
    h.agent_id = std::move(agent);
    h.session_id = std::move(session);
    h.host_id = std::move(host);
    h.cert_fingerprint = "ff00";
    return h;
}

inline sdk::json::object config_with_url(const std::string& url) {
    sdk::json::object o;
    o["url"] = url;
    o["acquire_timeout_ms"] = 2000;
    o["health_interval_ms"] = 100;
    o["start_timeout_ms"] = 20000;
    return o;
}

}  // namespace agenthost::identity_postgres::test
