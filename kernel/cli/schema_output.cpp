// `agenthost plugins`: a plugin's config schema as a readable table.
#include <cmath>
#include <cstdio>
#include <string>

#include <boost/json/serialize.hpp>

#include "kernel/cli/commands.hpp"

namespace agenthost::cli {

namespace {

// Integral bounds and defaults print as integers (3600000, not 3.6e+06).
std::string number(double v) {
    char buf[64];
    if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 1e15) {
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    } else {
        std::snprintf(buf, sizeof buf, "%g", v);
    }
    return buf;
}

std::string json_text(const sdk::json::value& v) {
    return v.is_double() ? number(v.as_double()) : boost::json::serialize(v);
}

const char* file_check_name(sdk::FileCheck c) {
    switch (c) {
        case sdk::FileCheck::none:
            return "";
        case sdk::FileCheck::readable_file:
            return "readable file";
        case sdk::FileCheck::private_file:
            return "private file (mode 0600)";
        case sdk::FileCheck::directory:
            return "directory";
        case sdk::FileCheck::writable_directory:
            return "writable directory";
    }
    return "";
}

}  // namespace

std::string field_type(const sdk::Field& f) {
    std::string t = sdk::field_type_name(f.type);
    if ((f.type == sdk::FieldType::list || f.type == sdk::FieldType::map) && f.item) {
        t += " of " + field_type(*f.item);
    }
    return t;
}

std::string field_constraints(const sdk::Field& f) {
    std::string out;
    auto add = [&](const std::string& s) { out += out.empty() ? s : ", " + s; };
    if (f.required) {
        add("required");
    }
    if (f.default_value) {
        add(f.secret ? std::string("default (hidden)") : "default " + json_text(*f.default_value));
    }
    if (f.min || f.max) {
        const bool sized = f.type != sdk::FieldType::integer && f.type != sdk::FieldType::number;
        add(std::string(sized ? "length " : "range ") + (f.min ? number(*f.min) : "") + ".." +
            (f.max ? number(*f.max) : ""));
    }
    if (!f.one_of.empty()) {
        std::string choices;
        for (const auto& c : f.one_of) {
            choices += choices.empty() ? c : "|" + c;
        }
        add("one of: " + choices);
    }
    if (!f.pattern.empty()) {
        add("pattern " + f.pattern);
    }
    if (f.file != sdk::FileCheck::none) {
        add(file_check_name(f.file));
    }
    if (f.secret) {
        add("secret");
    }
    return out;
}

namespace {

void print_field(const sdk::Field& f, const std::string& indent) {
    const std::string c = field_constraints(f);
    std::printf("%s%-20s %-16s %s\n", indent.c_str(), f.key.c_str(), field_type(f).c_str(),
                c.empty() ? "" : ("[" + c + "]").c_str());
    if (!f.description.empty()) {
        std::printf("%s%-20s %s\n", indent.c_str(), "", f.description.c_str());
    }
    if (f.type == sdk::FieldType::object) {
        print_schema(f.fields, indent + "  ");
    } else if (f.item && f.item->type == sdk::FieldType::object) {
        print_schema(f.item->fields, indent + "  ");
    }
}

}  // namespace

void print_schema(const sdk::Schema& schema, const std::string& indent) {
    for (const auto& f : schema) {
        print_field(f, indent);
    }
}

}  // namespace agenthost::cli
