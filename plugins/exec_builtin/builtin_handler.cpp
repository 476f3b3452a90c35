#include "builtin_handler.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include <boost/json/serialize.hpp>

namespace agenthost::plugins::exec_builtin {

namespace json = sdk::json;
using sdk::CommandState;
using sdk::Errc;
using sdk::ExecResult;
using sdk::Status;

namespace {

constexpr std::string_view kEcho = "builtin.echo";
constexpr std::string_view kSleep = "builtin.sleep";
constexpr std::string_view kSysinfo = "builtin.sysinfo";

std::string capped(std::string text, std::size_t cap, bool& truncated) {
    truncated = text.size() > cap;
    if (truncated) {
        text.resize(cap);
    }
    return text;
}

// Sleep duration in ms from {seconds} or {ms}; the caller validated the args.
std::int64_t sleep_ms(const json::object& args) {
    if (const auto* ms = args.if_contains("ms")) {
        return ms->as_int64();
    }
    const json::value& s = args.at("seconds");
    const double seconds = s.is_int64() ? static_cast<double>(s.as_int64()) : s.as_double();
    return static_cast<std::int64_t>(std::llround(seconds * 1000.0));
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

BuiltinOptions parse_options(const json::object& config) {
    BuiltinOptions o;
    if (const auto* v = config.if_contains("max_sleep_s"); v && v->is_int64()) {
        o.max_sleep_ms = v->as_int64() * 1000;
    }
    if (const auto* v = config.if_contains("proc_root"); v && v->is_string()) {
        o.proc_root = std::string(v->as_string());
    }
    return o;
}

sdk::Result<std::string> read_sysinfo(const std::string& proc_root) {
    json::object doc;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) {
        doc["hostname"] = host;
    }
    struct utsname u {};
    if (uname(&u) == 0) {
        doc["kernel"] = {{"sysname", u.sysname},
                         {"release", u.release},
                         {"version", u.version},
                         {"machine", u.machine}};
    }
    auto uptime = read_file(proc_root + "/uptime");
    auto loadavg = read_file(proc_root + "/loadavg");
    if (!uptime || !loadavg) {
        return sdk::error(Errc::unavailable, "cannot read " + proc_root + "/uptime or loadavg");
    }
    double up = 0;
    std::istringstream(*uptime) >> up;
    doc["uptime_s"] = up;
    double l1 = 0, l5 = 0, l15 = 0;
    std::istringstream(*loadavg) >> l1 >> l5 >> l15;
    doc["load"] = {{"1m", l1}, {"5m", l5}, {"15m", l15}};
    return json::serialize(doc);
}

BuiltinHandler::BuiltinHandler(sdk::PluginContext& ctx, BuiltinOptions options)
    : ctx_(ctx), options_(std::move(options)) {}

BuiltinHandler::~BuiltinHandler() {
    shutdown();
}

std::vector<std::string> BuiltinHandler::commands() const {
    return {std::string(kEcho), std::string(kSleep), std::string(kSysinfo)};
}

Status BuiltinHandler::validate(const sdk::CommandRequest& request) const {
    const json::object& args = request.args;
    if (request.name == kEcho) {
        if (const auto* t = args.if_contains("text"); t && !t->is_string()) {
            return sdk::error(Errc::invalid_argument, "builtin.echo: 'text' must be a string");
        }
        return {};
    }
    if (request.name == kSleep) {
        const bool has_s = args.contains("seconds");
        const bool has_ms = args.contains("ms");
        if (args.size() != 1 || has_s == has_ms) {
            return sdk::error(Errc::invalid_argument,
                              "builtin.sleep: args must be exactly one of {seconds} or {ms}");
        }
        if (has_ms && !args.at("ms").is_int64()) {
            return sdk::error(Errc::invalid_argument, "builtin.sleep: 'ms' must be an integer");
        }
        if (has_s && !args.at("seconds").is_number()) {
            return sdk::error(Errc::invalid_argument, "builtin.sleep: 'seconds' must be a number");
        }
        if (has_s && !std::isfinite(args.at("seconds").to_number<double>())) {
            return sdk::error(Errc::invalid_argument, "builtin.sleep: 'seconds' must be finite");
        }
        const std::int64_t ms = sleep_ms(args);
        if (ms < 0 || ms > options_.max_sleep_ms) {
            return sdk::error(Errc::invalid_argument, "builtin.sleep: duration must be within 0.." +
                                                          std::to_string(options_.max_sleep_ms) +
                                                          " ms");
        }
        return {};
    }
    if (request.name == kSysinfo) {
        if (!args.empty()) {
            return sdk::error(Errc::invalid_argument, "builtin.sysinfo takes no arguments");
        }
        return {};
    }
    return sdk::error(Errc::not_found, "unknown command " + request.name);
}

void BuiltinHandler::execute(sdk::CommandRequest request, sdk::Callback<ExecResult> done) {
    const std::int64_t started = ctx_.clock().now_unix_ms();
    if (request.name == kEcho) {
        ExecResult r;
        r.started_ms = started;
        const auto* t = request.args.if_contains("text");
        std::string text = t ? std::string(t->as_string()) : json::serialize(request.args);
        r.output = capped(std::move(text), request.output_cap_bytes, r.truncated);
        r.exit_code = 0;
        // Completion is never inline: the executor may hold state while calling us.
        ctx_.scheduler().post(
            [r = std::move(r), done = std::move(done), clock = &ctx_.clock()]() mutable {
                r.finished_ms = clock->now_unix_ms();
                done(std::move(r));
            });
        return;
    }
    if (request.name == kSleep) {
        run_sleep(std::move(request), std::move(done));
        return;
    }
    if (request.name == kSysinfo) {
        sdk::Clock* clock = &ctx_.clock();
        ctx_.blocking().submit([root = options_.proc_root, cap = request.output_cap_bytes, clock,
                                started, done = std::move(done)] {
            ExecResult r;
            r.started_ms = started;
            auto info = read_sysinfo(root);
            if (info) {
                r.output = capped(std::move(info.value()), cap, r.truncated);
                r.exit_code = 0;
            } else {
                r.status = CommandState::failed;
                r.output = info.status().message();
            }
            r.finished_ms = clock->now_unix_ms();
            done(std::move(r));
        });
        return;
    }
    ExecResult r;
    r.status = CommandState::rejected;
    r.output = "unknown command " + request.name;
    r.started_ms = r.finished_ms = started;
    ctx_.scheduler().post(
        [r = std::move(r), done = std::move(done)]() mutable { done(std::move(r)); });
}

void BuiltinHandler::run_sleep(sdk::CommandRequest request, sdk::Callback<ExecResult> done) {
    const std::int64_t ms = sleep_ms(request.args);
    std::lock_guard lk(state_->mu);
    if (state_->stopped) {
        return;
    }
    Sleeper& s = state_->sleepers[request.command_id];
    s.done = std::move(done);
    s.started_ms = ctx_.clock().now_unix_ms();
    // Timer tasks hold the shared state, not `this`: a timer that fires after
    // shutdown() finds its entry gone and does nothing.
    s.timer =
        ctx_.scheduler().schedule(std::chrono::milliseconds(ms),
                                  [state = state_, clock = &ctx_.clock(), id = request.command_id] {
                                      finish_sleep(state, *clock, id, false);
                                  });
}

void BuiltinHandler::finish_sleep(const std::shared_ptr<State>& state, const sdk::Clock& clock,
                                  std::string_view command_id, bool cancelled) {
    Sleeper s;
    {
        std::lock_guard lk(state->mu);
        auto it = state->sleepers.find(command_id);
        if (it == state->sleepers.end()) {
            return;
        }
        s = std::move(it->second);
        state->sleepers.erase(it);
    }
    ExecResult r;
    r.started_ms = s.started_ms;
    r.finished_ms = clock.now_unix_ms();
    if (cancelled) {
        r.status = CommandState::failed;
        r.output = "cancelled";
    } else {
        r.exit_code = 0;
        r.output = "slept " + std::to_string(r.finished_ms - r.started_ms) + " ms";
    }
    s.done(std::move(r));
}

void BuiltinHandler::cancel(std::string_view command_id) {
    sdk::TimerId timer = 0;
    {
        std::lock_guard lk(state_->mu);
        auto it = state_->sleepers.find(command_id);
        if (it == state_->sleepers.end()) {
            return;  // echo/sysinfo finish on their own; a finished sleep is gone
        }
        timer = it->second.timer;
    }
    ctx_.scheduler().cancel(timer);
    // Complete from the loop, never inline inside the caller's cancel().
    ctx_.scheduler().post([state = state_, clock = &ctx_.clock(), id = std::string(command_id)] {
        finish_sleep(state, *clock, id, true);
    });
}

void BuiltinHandler::shutdown() noexcept {
    std::map<std::string, Sleeper, std::less<>> pending;
    {
        std::lock_guard lk(state_->mu);
        state_->stopped = true;
        pending.swap(state_->sleepers);
    }
    for (auto& [id, s] : pending) {
        ctx_.scheduler().cancel(s.timer);
    }
}

}  // namespace agenthost::plugins::exec_builtin
