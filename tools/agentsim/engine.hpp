#pragma once
// Runs one agentsim session: mints the credentials, starts one io_context per thread,
// ramps the connections, runs until the duration, a stop condition or a signal, then
// closes every connection and fills the report. No Asio in this header.

#include <string>

#include <agenthost/status.hpp>

#include "tools/agentsim/options.hpp"
#include "tools/agentsim/stats.hpp"

namespace agenthost::agentsim {

// SIGINT/SIGTERM set this; run() then stops as if the duration had passed.
void request_stop() noexcept;

sdk::Status run(const Options& options, Report& report);

}  // namespace agenthost::agentsim
