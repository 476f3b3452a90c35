#include "kernel/proto/body_reader.hpp"

#include "kernel/util/ids.hpp"

namespace agenthost::proto::detail {

void BodyReader::fail(std::string_view field, std::string_view problem) {
    if (!error_.empty()) {
        return;
    }
    error_.reserve(what_.size() + field.size() + problem.size() + 2);
    error_.append(what_);
    if (index_ != static_cast<std::size_t>(-1)) {
        error_.append("[").append(std::to_string(index_)).append("]");
    }
    error_.append(".").append(field).append(" ").append(problem);
}

const json::value* BodyReader::get(std::string_view field, bool required) {
    auto it = obj_.find(field);
    if (it == obj_.end()) {
        if (required) {
            fail(field, "is required");
        }
        return nullptr;
    }
    return &it->value();
}

void BodyReader::string(std::string_view field, std::string& out, bool required, bool non_empty,
                        std::size_t max_bytes) {
    const json::value* v = get(field, required);
    if (v == nullptr) {
        return;
    }
    if (!v->is_string()) {
        fail(field, "must be a string");
        return;
    }
    const json::string& s = v->get_string();
    if (non_empty && s.empty()) {
        fail(field, "must not be empty");
        return;
    }
    if (s.size() > max_bytes) {
        fail(field, "is too long");
        return;
    }
    out.assign(s.data(), s.size());
}

void BodyReader::uuid(std::string_view field, std::string& out) {
    const json::value* v = get(field, true);
    if (v == nullptr) {
        return;
    }
    if (!v->is_string() ||
        !util::is_uuid(std::string_view(v->get_string().data(), v->get_string().size()))) {
        fail(field, "must be a UUID string");
        return;
    }
    out.assign(v->get_string().data(), v->get_string().size());
}

void BodyReader::integer(std::string_view field, std::int64_t& out, std::int64_t min,
                         bool required) {
    const json::value* v = get(field, required);
    if (v == nullptr) {
        return;
    }
    if (!is_json_integer(*v)) {
        fail(field, "must be an integer");
        return;
    }
    std::int64_t i = json_integer(*v);
    if (i < min) {
        fail(field, min == 0 ? "must not be negative" : "is below its minimum");
        return;
    }
    out = i;
}

void BodyReader::boolean(std::string_view field, bool& out, bool required) {
    const json::value* v = get(field, required);
    if (v == nullptr) {
        return;
    }
    if (!v->is_bool()) {
        fail(field, "must be a boolean");
        return;
    }
    out = v->get_bool();
}

const json::object* BodyReader::object(std::string_view field, bool required) {
    const json::value* v = get(field, required);
    if (v == nullptr) {
        return nullptr;
    }
    if (!v->is_object()) {
        fail(field, "must be an object");
        return nullptr;
    }
    return &v->get_object();
}

const json::array* BodyReader::array(std::string_view field, bool required) {
    const json::value* v = get(field, required);
    if (v == nullptr) {
        return nullptr;
    }
    if (!v->is_array()) {
        fail(field, "must be an array");
        return nullptr;
    }
    return &v->get_array();
}

}  // namespace agenthost::proto::detail
