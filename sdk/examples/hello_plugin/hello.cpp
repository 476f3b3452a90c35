#include "hello.hpp"

#include <boost/json/serialize.hpp>

namespace hello {
namespace sdk = agenthost::sdk;

HelloPlugin::HelloPlugin(sdk::PluginContext& ctx, std::string greeting)
    : ctx_(ctx), greeting_(std::move(greeting)) {}

sdk::Status HelloPlugin::start() {
    requests_ = &ctx_.metrics().counter("hello_requests_total", "Requests to GET /hello");
    // The handler copies what it needs: it may run on any loop thread.
    auto* requests = requests_;
    std::string body = sdk::json::serialize(sdk::json::object{{"message", greeting_}});
    auto st =
        ctx_.routes().add(sdk::Listener::health, "GET", "/hello",
                          [requests, body](const sdk::HttpRequest&, sdk::HttpResponder respond) {
                              requests->inc();
                              sdk::HttpResponse r;
                              r.body = body;
                              respond(std::move(r));
                          });
    if (st.ok()) {
        ctx_.logger().info("hello route registered", {{"path", "/hello"}});
    }
    return st;
}

void HelloPlugin::stop() noexcept {
    ctx_.logger().info("hello stopped");
}

}  // namespace hello
