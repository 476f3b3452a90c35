// Structured logging over spdlog (text or JSON lines).
#include "kernel/runtime/logger.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "kernel/util/time.hpp"

namespace agenthost::runtime {
namespace {

spdlog::level::level_enum to_spdlog(sdk::LogLevel l) {
    switch (l) {
        case sdk::LogLevel::trace:
            return spdlog::level::trace;
        case sdk::LogLevel::debug:
            return spdlog::level::debug;
        case sdk::LogLevel::info:
            return spdlog::level::info;
        case sdk::LogLevel::warn:
            return spdlog::level::warn;
        case sdk::LogLevel::error:
            return spdlog::level::err;
        case sdk::LogLevel::critical:
            return spdlog::level::critical;
    }
    return spdlog::level::info;
}

const char* level_name(sdk::LogLevel l) {
    switch (l) {
        case sdk::LogLevel::trace:
            return "trace";
        case sdk::LogLevel::debug:
            return "debug";
        case sdk::LogLevel::info:
            return "info";
        case sdk::LogLevel::warn:
            return "warn";
        case sdk::LogLevel::error:
            return "error";
        case sdk::LogLevel::critical:
            return "critical";
    }
    return "info";
}

// Values with spaces, quotes, '=' or control characters are quoted (logfmt style).
void append_text_value(std::string& out, std::string_view v) {
    bool quote = v.empty();
    for (char c : v) {
        if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) {
            quote = true;
            break;
        }
    }
    if (!quote) {
        out.append(v);
        return;
    }
    out += '"';
    for (char c : v) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += ' ';
        } else {
            out += c;
        }
    }
    out += '"';
}

class ComponentLogger final : public sdk::Logger {
public:
    ComponentLogger(std::shared_ptr<spdlog::logger> base, std::string component, bool json)
        : base_(std::move(base)), component_(std::move(component)), json_(json) {}

    bool enabled(sdk::LogLevel level) const noexcept override {
        return base_->should_log(to_spdlog(level));
    }

    void log(sdk::LogLevel level, std::string_view message,
             std::initializer_list<sdk::LogField> fields) noexcept override {
        if (!enabled(level)) {
            return;
        }
        try {
            std::string line =
                json_ ? render_json(level, message, fields) : render_text(message, fields);
            base_->log(to_spdlog(level), spdlog::string_view_t(line.data(), line.size()));
        } catch (...) {
            // Logging must never take the caller down (noexcept interface).
        }
    }

private:
    std::string render_text(std::string_view message,
                            std::initializer_list<sdk::LogField> fields) const {
        std::string line = "[" + component_ + "] ";
        line.append(message);
        for (const auto& f : fields) {
            line += ' ';
            line.append(f.key);
            line += '=';
            append_text_value(line, f.value);
        }
        return line;
    }

    std::string render_json(sdk::LogLevel level, std::string_view message,
                            std::initializer_list<sdk::LogField> fields) const {
        boost::json::object o;
        o["ts"] = util::rfc3339_ms(util::now_unix_ms());
        o["level"] = level_name(level);
        o["component"] = component_;
        o["msg"] = message;
        for (const auto& f : fields) {
            o[f.key] = f.value;
        }
        return boost::json::serialize(o);
    }

    std::shared_ptr<spdlog::logger> base_;
    std::string component_;
    bool json_;
};

}  // namespace

std::shared_ptr<spdlog::logger> make_base_logger(const std::string& level,
                                                 const std::string& format) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>("agenthost", std::move(sink));
    // JSON lines carry their own timestamp and level; text lines get spdlog's prefix.
    logger->set_pattern(format == "json" ? "%v" : "%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    auto lvl = spdlog::level::from_str(level == "warn" ? "warning" : level);
    if (lvl == spdlog::level::off && level != "off") {
        lvl = spdlog::level::info;
    }
    logger->set_level(lvl);
    logger->flush_on(spdlog::level::warn);
    return logger;
}

std::shared_ptr<sdk::Logger> make_component_logger(std::shared_ptr<spdlog::logger> base,
                                                   std::string component, bool json) {
    return std::make_shared<ComponentLogger>(std::move(base), std::move(component), json);
}

}  // namespace agenthost::runtime
