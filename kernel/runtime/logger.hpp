#pragma once
// spdlog-backed sdk::Logger: one shared spdlog logger per Runtime (stderr), and cheap
// per-component views of it ("kernel", "plugin:<name>"). Text lines read
//   2026-11-27T08:00:00.000+0000 info [plugin:x] message key=value key="two words"
// and JSON lines are one object per line:
//   {"ts":"2026-11-27T08:00:00.000Z","level":"info","component":"plugin:x","msg":"...",
//    "key":"value"}

#include <memory>
#include <string>

#include <agenthost/logger.hpp>

namespace spdlog {
class logger;
}

namespace agenthost::runtime {

// `level`: trace|debug|info|warn|error (unknown → info); `format`: text|json.
std::shared_ptr<spdlog::logger> make_base_logger(const std::string& level,
                                                 const std::string& format);
std::shared_ptr<sdk::Logger> make_component_logger(std::shared_ptr<spdlog::logger> base,
                                                   std::string component, bool json);

}  // namespace agenthost::runtime
