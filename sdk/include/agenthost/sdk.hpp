#pragma once
// Umbrella header: everything a plugin author needs.

#include <agenthost/abi.hpp>
#include <agenthost/audit.hpp>
#include <agenthost/capabilities/collector.hpp>
#include <agenthost/capabilities/command_handler.hpp>
#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/migrations.hpp>
#include <agenthost/capabilities/queue.hpp>
#include <agenthost/capabilities/replay.hpp>
#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/config_schema.hpp>
#include <agenthost/context.hpp>
#include <agenthost/health.hpp>
#include <agenthost/http.hpp>
#include <agenthost/json.hpp>
#include <agenthost/logger.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/plugin.hpp>
#include <agenthost/scheduler.hpp>
#include <agenthost/services.hpp>
#include <agenthost/status.hpp>
#include <agenthost/version.hpp>
