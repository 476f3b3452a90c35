#pragma once
// Structured logging handed to plugins through the context. Thread-safe: any thread
// may log at any time. Never pass secrets (keys, tokens) in messages or fields.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace agenthost::sdk {

enum class LogLevel { trace, debug, info, warn, error, critical };

// One key/value pair attached to a log line (rendered as JSON fields in json mode).
struct LogField {
    std::string_view key;
    std::string value;
};

class Logger {
public:
    virtual ~Logger() = default;
    virtual bool enabled(LogLevel level) const noexcept = 0;
    // Emits one line. `fields` are copied before return.
    virtual void log(LogLevel level, std::string_view message,
                     std::initializer_list<LogField> fields = {}) noexcept = 0;

    void debug(std::string_view m, std::initializer_list<LogField> f = {}) noexcept {
        log(LogLevel::debug, m, f);
    }
    void info(std::string_view m, std::initializer_list<LogField> f = {}) noexcept {
        log(LogLevel::info, m, f);
    }
    void warn(std::string_view m, std::initializer_list<LogField> f = {}) noexcept {
        log(LogLevel::warn, m, f);
    }
    void error(std::string_view m, std::initializer_list<LogField> f = {}) noexcept {
        log(LogLevel::error, m, f);
    }
};

}  // namespace agenthost::sdk
