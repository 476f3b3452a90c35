#include "kernel/config/schema_validator.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

namespace agenthost::config {

namespace json = sdk::json;
using sdk::Field;
using sdk::FieldType;

namespace {

struct Ctx {
    const ValidateOptions& options;
    sdk::ConfigErrors& errors;

    void fail(const std::string& path, std::string message) {
        errors.push_back({path, std::move(message)});
    }
};

// Numbers in messages: integral values without a fraction.
std::string format_number(double v) {
    if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 1e15) {
        return std::to_string(static_cast<std::int64_t>(v));
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// Quoting a user value for a message: long values are cut so one typo does not
// flood the terminal.
std::string quote(const std::string& s) {
    constexpr std::size_t max_len = 80;
    if (s.size() <= max_len) {
        return "'" + s + "'";
    }
    return "'" + s.substr(0, max_len) + "...'";
}

// What the user wrote, for "expected X, got Y" (never the value of a secret).
std::string describe(const YAML::Node& n, bool secret) {
    if (!n.IsDefined()) {
        return "null";
    }
    switch (n.Type()) {
        case YAML::NodeType::Undefined:
        case YAML::NodeType::Null:
            return "null";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Scalar:
            if (secret) {
                return "a scalar";
            }
            if (n.Tag() == "!") {
                return "the quoted string " + quote(n.Scalar());
            }
            return quote(n.Scalar());
    }
    return "an unknown node";
}

// A quoted YAML scalar ("30") is a string, never a number or a boolean.
bool is_quoted(const YAML::Node& n) {
    return n.Tag() == "!";
}

std::optional<std::int64_t> parse_integer(const std::string& text) {
    std::string_view s = text;
    if (!s.empty() && s.front() == '+') {
        s.remove_prefix(1);
    }
    if (s.empty()) {
        return std::nullopt;
    }
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

std::optional<double> parse_number(const std::string& text) {
    std::string_view s = text;
    if (!s.empty() && s.front() == '+') {
        s.remove_prefix(1);
    }
    if (s.empty()) {
        return std::nullopt;
    }
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

void check_value_bounds(double v, const Field& f, const std::string& path, Ctx& c) {
    const std::string shown = f.secret ? "value" : "value " + format_number(v);
    if (f.min && v < *f.min) {
        c.fail(path, shown + " is below the minimum " + format_number(*f.min));
    } else if (f.max && v > *f.max) {
        c.fail(path, shown + " is above the maximum " + format_number(*f.max));
    }
}

void check_size_bounds(std::size_t n, const char* unit, const Field& f, const std::string& path,
                       Ctx& c) {
    const auto v = static_cast<double>(n);
    if (f.min && v < *f.min) {
        c.fail(path, std::string("too short: ") + std::to_string(n) + " " + unit + ", minimum " +
                         format_number(*f.min));
    } else if (f.max && v > *f.max) {
        c.fail(path, std::string("too long: ") + std::to_string(n) + " " + unit + ", maximum " +
                         format_number(*f.max));
    }
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) {
        out += out.empty() ? s : ", " + s;
    }
    return out;
}

// Checks a string value against one_of/pattern/length/file; returns the value to use
// (the resolved path for file fields) or nullopt after recording an error.
std::optional<std::string> check_string(std::string value, const Field& f, const std::string& path,
                                        Ctx& c) {
    const std::size_t errors_before = c.errors.size();
    check_size_bounds(value.size(), "characters", f, path, c);
    if (!f.one_of.empty() && std::find(f.one_of.begin(), f.one_of.end(), value) == f.one_of.end()) {
        c.fail(path, "invalid value" + (f.secret ? std::string() : " " + quote(value)) +
                         " (expected one of: " + join(f.one_of) + ")");
    }
    if (!f.pattern.empty()) {
        try {
            if (!std::regex_match(value, std::regex(f.pattern, std::regex::ECMAScript))) {
                c.fail(path, (f.secret ? std::string("value") : "value " + quote(value)) +
                                 " does not match the pattern " + f.pattern);
            }
        } catch (const std::regex_error&) {
            c.fail(path, "schema error: invalid pattern " + f.pattern);
        }
    }
    if (f.file != sdk::FileCheck::none) {
        value = resolve_path(c.options.base_dir, value);
        check_file(value, f.file, path, c.errors);
    }
    if (c.errors.size() != errors_before) {
        return std::nullopt;
    }
    return value;
}

std::optional<json::value> validate_value(const YAML::Node& n, const Field& f,
                                          const std::string& path, Ctx& c);

bool has_required_members(const Field& f) {
    return std::any_of(f.fields.begin(), f.fields.end(), [](const Field& m) { return m.required; });
}

json::object validate_members(const YAML::Node& n, const sdk::Schema& schema,
                              const std::string& path, Ctx& c,
                              const std::vector<std::string>& passthrough) {
    json::object out;
    const bool empty = !n.IsDefined() || n.IsNull();
    if (!empty && !n.IsMap()) {
        c.fail(path.empty() ? std::string("<root>") : path,
               "expected a mapping, got " + describe(n, false));
        return out;
    }
    std::set<std::string> seen;
    if (!empty) {
        for (auto it = n.begin(); it != n.end(); ++it) {
            if (!it->first.IsScalar()) {
                c.fail(path.empty() ? std::string("<root>") : path,
                       "mapping keys must be plain strings");
                continue;
            }
            const std::string key = it->first.Scalar();
            const std::string key_path = join_path(path, key);
            if (!seen.insert(key).second) {
                c.fail(key_path, "duplicate key '" + key + "'");
                continue;
            }
            if (std::find(passthrough.begin(), passthrough.end(), key) != passthrough.end()) {
                continue;
            }
            auto field = std::find_if(schema.begin(), schema.end(),
                                      [&](const Field& f) { return f.key == key; });
            if (field == schema.end()) {
                std::vector<std::string> valid;
                for (const auto& f : schema) {
                    valid.push_back(f.key);
                }
                valid.insert(valid.end(), passthrough.begin(), passthrough.end());
                std::sort(valid.begin(), valid.end());
                c.fail(key_path,
                       valid.empty()
                           ? "unknown key '" + key + "' (this section accepts no keys)"
                           : "unknown key '" + key + "' (valid keys: " + join(valid) + ")");
                continue;
            }
            if (auto v = validate_value(it->second, *field, key_path, c)) {
                out[key] = std::move(*v);
            }
        }
    }
    for (const auto& f : schema) {
        if (seen.count(f.key) != 0) {
            continue;
        }
        const std::string key_path = join_path(path, f.key);
        if (f.required) {
            c.fail(key_path, "required key is missing");
        } else if (f.default_value) {
            json::value v = *f.default_value;
            // The value used is the value checked, even when it is the default.
            if (f.file != sdk::FileCheck::none && v.is_string() && !v.as_string().empty()) {
                std::string file = resolve_path(c.options.base_dir, std::string(v.as_string()));
                check_file(file, f.file, key_path, c.errors);
                v = json::string(file);
            }
            out[f.key] = std::move(v);
        } else if (f.type == FieldType::object && !has_required_members(f)) {
            out[f.key] = validate_members(YAML::Node(), f.fields, key_path, c, {});
        }
    }
    return out;
}

std::optional<json::value> validate_value(const YAML::Node& n, const Field& f,
                                          const std::string& path, Ctx& c) {
    const std::string expected = std::string("expected ") + sdk::field_type_name(f.type);
    switch (f.type) {
        case FieldType::string: {
            if (!n.IsScalar()) {
                c.fail(path, expected + ", got " + describe(n, f.secret));
                return std::nullopt;
            }
            auto s = check_string(n.Scalar(), f, path, c);
            if (!s) {
                return std::nullopt;
            }
            return json::value(json::string(*s));
        }
        case FieldType::integer: {
            std::optional<std::int64_t> v;
            if (n.IsScalar() && !is_quoted(n)) {
                v = parse_integer(n.Scalar());
            }
            if (!v) {
                c.fail(path, expected + ", got " + describe(n, f.secret));
                return std::nullopt;
            }
            const std::size_t before = c.errors.size();
            check_value_bounds(static_cast<double>(*v), f, path, c);
            if (c.errors.size() != before) {
                return std::nullopt;
            }
            return json::value(*v);
        }
        case FieldType::number: {
            std::optional<double> v;
            if (n.IsScalar() && !is_quoted(n)) {
                v = parse_number(n.Scalar());
            }
            if (!v) {
                c.fail(path, expected + " (finite), got " + describe(n, f.secret));
                return std::nullopt;
            }
            const std::size_t before = c.errors.size();
            check_value_bounds(*v, f, path, c);
            if (c.errors.size() != before) {
                return std::nullopt;
            }
            return json::value(*v);
        }
        case FieldType::boolean: {
            if (n.IsScalar() && !is_quoted(n) && (n.Scalar() == "true" || n.Scalar() == "false")) {
                return json::value(n.Scalar() == "true");
            }
            c.fail(path, expected + " (true or false), got " + describe(n, f.secret));
            return std::nullopt;
        }
        case FieldType::object: {
            if (n.IsDefined() && !n.IsNull() && !n.IsMap()) {
                c.fail(path, "expected a mapping, got " + describe(n, f.secret));
                return std::nullopt;
            }
            return json::value(validate_members(n, f.fields, path, c, {}));
        }
        case FieldType::list: {
            if (n.IsDefined() && !n.IsNull() && !n.IsSequence()) {
                c.fail(path, "expected a list, got " + describe(n, f.secret));
                return std::nullopt;
            }
            if (!f.item) {
                c.fail(path, "schema error: list without an item schema");
                return std::nullopt;
            }
            json::array out;
            const std::size_t before = c.errors.size();
            const std::size_t count = n.IsDefined() && n.IsSequence() ? n.size() : 0;
            for (std::size_t i = 0; i < count; ++i) {
                const std::string item_path = path + "[" + std::to_string(i) + "]";
                if (auto v = validate_value(n[i], *f.item, item_path, c)) {
                    out.push_back(std::move(*v));
                }
            }
            check_size_bounds(count, "items", f, path, c);
            if (c.errors.size() != before) {
                return std::nullopt;
            }
            return json::value(std::move(out));
        }
        case FieldType::map: {
            if (n.IsDefined() && !n.IsNull() && !n.IsMap()) {
                c.fail(path, "expected a mapping, got " + describe(n, f.secret));
                return std::nullopt;
            }
            if (!f.item) {
                c.fail(path, "schema error: map without a value schema");
                return std::nullopt;
            }
            json::object out;
            const std::size_t before = c.errors.size();
            if (n.IsDefined() && n.IsMap()) {
                for (auto it = n.begin(); it != n.end(); ++it) {
                    if (!it->first.IsScalar()) {
                        c.fail(path, "mapping keys must be plain strings");
                        continue;
                    }
                    const std::string key = it->first.Scalar();
                    const std::string key_path = join_path(path, key);
                    if (out.contains(key)) {
                        c.fail(key_path, "duplicate key '" + key + "'");
                        continue;
                    }
                    if (auto v = validate_value(it->second, *f.item, key_path, c)) {
                        out[key] = std::move(*v);
                    }
                }
                check_size_bounds(n.size(), "entries", f, path, c);
            }
            if (c.errors.size() != before) {
                return std::nullopt;
            }
            return json::value(std::move(out));
        }
    }
    c.fail(path, "schema error: unknown field type");
    return std::nullopt;
}

}  // namespace

std::string join_path(const std::string& base, const std::string& key) {
    return base.empty() ? key : base + "." + key;
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
    if (path.empty() || path.front() == '/' || base_dir.empty()) {
        return path;
    }
    // Normalised so messages show /etc/agenthost/x, not /etc/agenthost/conf/../x.
    return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

void check_file(const std::string& file, sdk::FileCheck check, const std::string& path,
                sdk::ConfigErrors& errors) {
    using sdk::FileCheck;
    if (check == FileCheck::none) {
        return;
    }
    if (file.empty()) {
        errors.push_back({path, "empty file path"});
        return;
    }
    struct stat st {};
    const bool exists = ::stat(file.c_str(), &st) == 0;
    const int err = errno;
    if (!exists && !(err == ENOENT && check == FileCheck::writable_directory)) {
        errors.push_back({path, err == ENOENT
                                    ? "file not found: " + file
                                    : "cannot access " + file + ": " + std::strerror(err)});
        return;
    }
    switch (check) {
        case FileCheck::none:
            return;
        case FileCheck::readable_file:
        case FileCheck::private_file:
            if (!S_ISREG(st.st_mode)) {
                errors.push_back({path, "not a regular file: " + file});
            } else if (::access(file.c_str(), R_OK) != 0) {
                errors.push_back({path, "file is not readable: " + file});
            } else if (check == FileCheck::private_file && (st.st_mode & 077) != 0) {
                char mode[16];
                std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
                errors.push_back({path, std::string("private key file is group/world-readable "
                                                    "(mode ") +
                                            mode + "); chmod 600"});
            }
            return;
        case FileCheck::directory:
            if (!S_ISDIR(st.st_mode)) {
                errors.push_back({path, "not a directory: " + file});
            }
            return;
        case FileCheck::writable_directory: {
            if (exists) {
                if (!S_ISDIR(st.st_mode)) {
                    errors.push_back({path, "not a directory: " + file});
                } else if (::access(file.c_str(), W_OK | X_OK) != 0) {
                    errors.push_back({path, "directory is not writable: " + file});
                }
                return;
            }
            // Missing: it can be created if the nearest existing ancestor is a writable
            // directory (nothing is created here; check-config has no side effects).
            std::string parent = file;
            while (true) {
                auto slash = parent.find_last_of('/');
                parent = slash == std::string::npos ? "."
                         : slash == 0               ? "/"
                                                    : parent.substr(0, slash);
                struct stat pst {};
                if (::stat(parent.c_str(), &pst) == 0) {
                    if (!S_ISDIR(pst.st_mode) || ::access(parent.c_str(), W_OK | X_OK) != 0) {
                        errors.push_back(
                            {path, "directory does not exist and cannot be created: " + file});
                    }
                    return;
                }
                if (parent == "/" || parent == ".") {
                    errors.push_back(
                        {path, "directory does not exist and cannot be created: " + file});
                    return;
                }
            }
        }
    }
}

sdk::json::object validate_section(const YAML::Node& node, const sdk::Schema& schema,
                                   const std::string& path, sdk::ConfigErrors& errors) {
    return validate_section(node, schema, path, errors, ValidateOptions{});
}

sdk::json::object validate_section(const YAML::Node& node, const sdk::Schema& schema,
                                   const std::string& path, sdk::ConfigErrors& errors,
                                   const ValidateOptions& options) {
    Ctx c{options, errors};
    try {
        return validate_members(node, schema, path, c, options.passthrough_keys);
    } catch (const std::exception& e) {
        // yaml-cpp throws on malformed node access; a config error, never a crash.
        c.fail(path.empty() ? std::string("<root>") : path,
               std::string("invalid YAML structure: ") + e.what());
        return {};
    }
}

}  // namespace agenthost::config
