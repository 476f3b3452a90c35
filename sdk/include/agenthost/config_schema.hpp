#pragma once
// One schema mechanism for the kernel and every plugin (in the spirit of Fluent Bit's
// config maps): each key declares its type, bounds, default and description. The
// kernel validates a section against its schema *before* the plugin sees it:
// unknown keys are rejected with the list of valid keys, every error carries its
// YAML path, and all errors are reported in one run. A plugin with no options
// declares an empty schema so that typos still fail.
//
// The plugin receives its section as a json::object with defaults filled in and
// every value already of the declared type.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <agenthost/json.hpp>

namespace agenthost::sdk {

enum class FieldType {
    string,
    integer,
    number,
    boolean,
    list,    // items described by `item`
    object,  // members described by `fields`
    map,     // arbitrary string keys, values described by `item`
};

// File checks applied to string fields holding a path.
enum class FileCheck {
    none,
    readable_file,       // exists, is a regular file, is readable
    private_file,        // as readable_file, and not group/world accessible (keys, secrets)
    directory,           // exists and is a directory
    writable_directory,  // exists (or can be created) and is writable
};

struct Field {
    std::string key;
    FieldType type = FieldType::string;
    std::string description;
    bool required = false;
    std::optional<json::value> default_value;
    std::optional<double> min;  // numbers: value; strings and lists: length
    std::optional<double> max;
    std::vector<std::string> one_of;  // allowed string values (enum)
    std::string pattern;              // ECMAScript regex a string must match fully
    FileCheck file = FileCheck::none;
    bool secret = false;              // value never appears in logs or `plugins` output
    std::vector<Field> fields;        // object members
    std::shared_ptr<Field> item;      // list / map element schema

    // Fluent setters, so schemas read as declarations.
    Field&& describe(std::string d) && { description = std::move(d); return std::move(*this); }
    Field&& mandatory() && { required = true; return std::move(*this); }
    Field&& fallback(json::value v) && { default_value = std::move(v); return std::move(*this); }
    Field&& range(double lo, double hi) && { min = lo; max = hi; return std::move(*this); }
    Field&& at_least(double lo) && { min = lo; return std::move(*this); }
    Field&& choices(std::vector<std::string> c) && { one_of = std::move(c); return std::move(*this); }
    Field&& matches(std::string re) && { pattern = std::move(re); return std::move(*this); }
    Field&& check_file(FileCheck c) && { file = c; return std::move(*this); }
    Field&& is_secret() && { secret = true; return std::move(*this); }
};

using Schema = std::vector<Field>;

inline Field field(std::string key, FieldType type) {
    Field f;
    f.key = std::move(key);
    f.type = type;
    return f;
}
inline Field string_field(std::string key) { return field(std::move(key), FieldType::string); }
inline Field integer_field(std::string key) { return field(std::move(key), FieldType::integer); }
inline Field number_field(std::string key) { return field(std::move(key), FieldType::number); }
inline Field bool_field(std::string key) { return field(std::move(key), FieldType::boolean); }
inline Field object_field(std::string key, Schema members) {
    Field f = field(std::move(key), FieldType::object);
    f.fields = std::move(members);
    return f;
}
inline Field list_field(std::string key, Field item) {
    Field f = field(std::move(key), FieldType::list);
    f.item = std::make_shared<Field>(std::move(item));
    return f;
}
inline Field map_field(std::string key, Field item) {
    Field f = field(std::move(key), FieldType::map);
    f.item = std::make_shared<Field>(std::move(item));
    return f;
}

// One validation error: `path` like "plugins.queue_memory.config.max_depth".
struct ConfigError {
    std::string path;
    std::string message;
};
using ConfigErrors = std::vector<ConfigError>;

// Cross-field validation a plugin runs after the schema passed. `path` is the YAML
// path of the plugin's config section; append errors with full paths.
using ConfigValidator =
    std::function<void(const json::object& config, const std::string& path, ConfigErrors& errors)>;

const char* field_type_name(FieldType t) noexcept;

inline const char* field_type_name(FieldType t) noexcept {
    switch (t) {
        case FieldType::string: return "string";
        case FieldType::integer: return "integer";
        case FieldType::number: return "number";
        case FieldType::boolean: return "boolean";
        case FieldType::list: return "list";
        case FieldType::object: return "object";
        case FieldType::map: return "map";
    }
    return "unknown";
}

}  // namespace agenthost::sdk
