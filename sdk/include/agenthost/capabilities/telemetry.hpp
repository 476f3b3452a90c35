#pragma once
// Capability "telemetry": durable, idempotent storage of command results and
// telemetry points. A completion reporting success means the data is durable (the
// caller acks the agent only then). Threading: thread-safe; completions on any
// thread, possibly inline; blocking stores work on the blocking pool.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/queue.hpp>
#include <agenthost/status.hpp>

namespace agenthost::sdk {

struct CommandResult {
    std::string command_id;
    std::string agent_id;
    CommandState status = CommandState::succeeded;  // succeeded/failed/rejected/timed_out
    std::optional<std::int64_t> exit_code;
    std::string output;            // as sent: UTF-8 text, or base64 when encoding is base64
    std::string output_encoding;   // "utf-8" or "base64"
    bool truncated = false;
    std::int64_t started_ms = 0;
    std::int64_t finished_ms = 0;
    std::int64_t received_ms = 0;  // when the backend received it
};

// Labels sorted by name; the storage key is (agent, metric, ts, labels).
using LabelSet = std::vector<std::pair<std::string, std::string>>;

struct TelemetryPoint {
    std::string metric;
    std::int64_t ts_ms = 0;
    double value = 0;
    LabelSet labels;
};

struct TelemetryBatch {
    std::string agent_id;
    std::string batch_id;
    std::vector<TelemetryPoint> points;
};

struct IngestOutcome {
    std::uint64_t accepted = 0;    // points newly stored
    std::uint64_t duplicates = 0;  // points already stored (incl. repeats in the batch)
};

struct TelemetryQuery {
    std::string agent_id;
    std::optional<std::string> metric;
    std::optional<std::int64_t> since_ms;  // inclusive
    std::optional<std::int64_t> until_ms;  // exclusive
    std::size_t limit = 100;
};

class TelemetryStore {
public:
    static constexpr std::string_view capability = "telemetry";
    virtual ~TelemetryStore() = default;

    // Upsert by command_id. Yields true when stored, false for a duplicate (a stored
    // result is never overwritten by a later copy).
    virtual void store_result(CommandResult result, Callback<Result<bool>> done) = 0;
    virtual void get_result(std::string command_id,
                            Callback<Result<std::optional<CommandResult>>> done) = 0;
    virtual void store_batch(TelemetryBatch batch, Callback<Result<IngestOutcome>> done) = 0;
    // Newest first.
    virtual void query(TelemetryQuery query,
                       Callback<Result<std::vector<TelemetryPoint>>> done) = 0;
};

}  // namespace agenthost::sdk
