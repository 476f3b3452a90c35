#include "plugins/audit_file/audit_plugin.hpp"

#include <string>
#include <utility>

namespace agenthost::plugins::audit_file {

std::string AuditFilePlugin::resolve_path(const sdk::PluginContext& ctx, const std::string& path) {
    if (!path.empty()) {
        return path;
    }
    std::string dir = ctx.state_dir();
    if (!dir.empty() && dir.back() != '/') {
        dir.push_back('/');
    }
    return dir + "audit.log";
}

AuditFilePlugin::AuditFilePlugin(sdk::PluginContext& ctx, AuditConfig config) : ctx_(ctx) {
    config.path = resolve_path(ctx, config.path);
    if (config.checkpoint_path.empty()) {
        config.checkpoint_path = config.path + ".checkpoints";
    }
    writer_ = AuditFileWriter::create(ctx, std::move(config));
}

AuditFilePlugin::~AuditFilePlugin() {
    writer_->close();
}

sdk::Status AuditFilePlugin::start() {
    if (auto st = writer_->open(); !st.ok()) {
        return st;
    }
    // AuditSink declares no `capability` member, so register it by name; consumers
    // find_raw("audit") and cast back to sdk::AuditSink*.
    if (auto st = ctx_.services().provide_raw(sdk::capability::audit,
                                              static_cast<sdk::AuditSink*>(writer_.get()));
        !st.ok()) {
        return st;
    }
    std::weak_ptr<AuditFileWriter> weak = writer_;
    ctx_.health().add_check("audit:writable", true, [weak] {
        sdk::HealthReport r;
        r.component_type = "datastore";
        auto w = weak.lock();
        if (!w || !w->writable()) {
            r.state = sdk::HealthState::fail;
            r.output = "audit log not writable";
        }
        return r;
    });
    ctx_.logger().info("audit log open", {{"path", writer_->path()},
                                          {"checkpoints", writer_->checkpoint_path()},
                                          {"keyed", writer_->keyed() ? "true" : "false"},
                                          {"last_seq", std::to_string(writer_->last_seq())}});
    return {};
}

void AuditFilePlugin::stop() noexcept {
    writer_->close();
}

}  // namespace agenthost::plugins::audit_file
