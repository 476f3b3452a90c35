#pragma once
// The start-up sequence both SQLite stores share: open + migrate the file on the
// blocking pool, take a first latency probe there too, then (on the caller's thread,
// non-blocking) register the "<plugin>:latency" health check and arm its refresh.

#include <memory>
#include <string>

#include <agenthost/context.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_sqlite/async_gate.hpp"
#include "plugins/_common_sqlite/health_probe.hpp"
#include "plugins/_common_sqlite/store_config.hpp"

namespace agenthost::sqlite {

// `Db` provides `static Result<unique_ptr<Db>> open(const Options&)` and
// `Database& database()`. On success `probe` is running and the Db is returned.
template <typename Db>
sdk::Result<std::shared_ptr<Db>> start_store(sdk::PluginContext& ctx, const StoreConfig& cfg,
                                             const std::shared_ptr<AsyncGate>& gate,
                                             std::shared_ptr<HealthProbe>& probe) {
    Options options;
    options.path = resolve_path(cfg.path, ctx.state_dir(), ctx.plugin_name());
    options.busy_timeout_ms = cfg.busy_timeout_ms;
    options.synchronous = cfg.synchronous;
    const std::string prefix = std::string(ctx.plugin_name()) + ": " + options.path + ": ";

    auto db = wait_on_pool<std::shared_ptr<Db>>(
        ctx.blocking(), cfg.open_timeout, [options]() -> sdk::Result<std::shared_ptr<Db>> {
            auto opened = Db::open(options);
            if (!opened) {
                return opened.status();
            }
            return std::shared_ptr<Db>(std::move(opened).value());
        });
    if (!db) {
        return sdk::Status(db.status().code(), prefix + db.status().message());
    }
    auto made = std::make_shared<HealthProbe>(ctx, gate, &(*db)->database(), cfg.health_interval,
                                              cfg.latency_warn_ms);
    auto probed =
        wait_on_pool<bool>(ctx.blocking(), cfg.open_timeout, [made]() -> sdk::Result<bool> {
            made->refresh();
            return true;
        });
    if (!probed) {
        return sdk::Status(probed.status().code(), prefix + probed.status().message());
    }
    made->start(std::string(ctx.plugin_name()) + ":latency");
    probe = std::move(made);
    ctx.logger().info("sqlite store open", {{"path", options.path}});
    return db;
}

}  // namespace agenthost::sqlite
