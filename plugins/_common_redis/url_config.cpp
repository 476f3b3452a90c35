#include "plugins/_common_redis/url_config.hpp"

#include <fstream>

#include "plugins/_common_redis/reply.hpp"

namespace agenthost::redis {

sdk::Schema url_fields() {
    return {
        sdk::string_field("url")
            .describe("Redis URL redis://[user:password@]host[:port][/db]; or use url_file")
            .matches("redis://.+")
            .is_secret(),
        sdk::string_field("url_file")
            .describe("File holding the Redis URL (keeps the password out of the config)")
            .check_file(sdk::FileCheck::private_file),
    };
}

void validate_url_choice(const std::string& url, const std::string& url_file,
                         const std::string& path, sdk::ConfigErrors& errors) {
    if (url.empty() == url_file.empty()) {
        errors.push_back({path + ".url", "set exactly one of url and url_file"});
    }
    if (!url.empty()) {
        if (auto ep = parse_url(url); !ep.ok()) {
            errors.push_back({path + ".url", ep.status().message()});
        }
    }
}

sdk::Result<std::string> resolve_url(const std::string& url, const std::string& url_file) {
    std::string resolved = url;
    if (resolved.empty()) {
        std::ifstream in(url_file);
        if (!in || !std::getline(in, resolved)) {
            return sdk::error(sdk::Errc::invalid_argument, "cannot read url_file " + url_file);
        }
        while (!resolved.empty() && (resolved.back() == '\r' || resolved.back() == ' ')) {
            resolved.pop_back();
        }
    }
    if (auto ep = parse_url(resolved); !ep.ok()) {
        return ep.status();
    }
    return resolved;
}

}  // namespace agenthost::redis
