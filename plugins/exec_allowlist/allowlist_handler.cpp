#include "allowlist_handler.hpp"

namespace agenthost::plugins::exec_allowlist {

using sdk::Errc;

AllowlistHandler::AllowlistHandler(sdk::PluginContext& ctx,
                                   std::map<std::string, ProgramSpec> programs)
    : ctx_(ctx), programs_(std::move(programs)), runner_(ctx.clock()) {}

std::vector<std::string> AllowlistHandler::commands() const {
    std::vector<std::string> out;
    for (const auto& [name, spec] : programs_) {
        out.push_back(std::string(kCommandPrefix) + name);
    }
    return out;
}

const ProgramSpec* AllowlistHandler::find(std::string_view command) const {
    if (command.substr(0, kCommandPrefix.size()) != kCommandPrefix) {
        return nullptr;
    }
    auto it = programs_.find(std::string(command.substr(kCommandPrefix.size())));
    return it == programs_.end() ? nullptr : &it->second;
}

sdk::Status AllowlistHandler::validate(const sdk::CommandRequest& request) const {
    const ProgramSpec* spec = find(request.name);
    if (spec == nullptr) {
        return sdk::error(Errc::not_found, "no allowlisted program for " + request.name);
    }
    return check_args(*spec, request.args);
}

void AllowlistHandler::execute(sdk::CommandRequest request, sdk::Callback<sdk::ExecResult> done) {
    const ProgramSpec* spec = find(request.name);
    // The executor validated already; re-checking keeps this method safe on its own.
    sdk::Status valid = spec ? check_args(*spec, request.args)
                             : sdk::error(Errc::not_found, "unknown command " + request.name);
    if (!valid.ok()) {
        sdk::ExecResult r;
        r.status = sdk::CommandState::rejected;
        r.output = valid.message();
        r.started_ms = r.finished_ms = ctx_.clock().now_unix_ms();
        ctx_.scheduler().post(
            [r = std::move(r), done = std::move(done)]() mutable { done(std::move(r)); });
        return;
    }
    SpawnRequest s;
    s.id = request.command_id;
    s.argv = build_argv(*spec, request.args);
    s.env = spec->env;
    s.output_cap = request.output_cap_bytes;
    s.timeout = spec->timeout;
    s.done = std::move(done);
    ctx_.logger().info("running allowlisted program",
                       {{"command_id", request.command_id}, {"program", s.argv[0]}});
    runner_.run(std::move(s));
}

void AllowlistHandler::cancel(std::string_view command_id) {
    runner_.cancel(command_id);
}

}  // namespace agenthost::plugins::exec_allowlist
