#pragma once
// AuditFilePlugin: the Plugin object of audit_file. Resolves the log path, opens the
// writer (a log that cannot be opened stops start-up: auditing is not optional),
// registers the "audit" capability and the readiness check "audit:writable".

#include <memory>

#include <agenthost/context.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/audit_file/audit_config.hpp"
#include "plugins/audit_file/audit_writer.hpp"

namespace agenthost::plugins::audit_file {

class AuditFilePlugin final : public sdk::Plugin {
public:
    AuditFilePlugin(sdk::PluginContext& ctx, AuditConfig config);
    ~AuditFilePlugin() override;

    sdk::Status start() override;
    void stop() noexcept override;

    AuditFileWriter& writer() noexcept { return *writer_; }

    // `path`, or <state_dir>/audit.log when it is empty.
    static std::string resolve_path(const sdk::PluginContext& ctx, const std::string& path);

private:
    sdk::PluginContext& ctx_;
    std::shared_ptr<AuditFileWriter> writer_;
};

}  // namespace agenthost::plugins::audit_file
