#pragma once
// The Redis connection settings every Redis plugin takes the same way: `url` (a secret
// redis:// URL) or `url_file` (a private file whose first line is the URL), exactly one.

#include <string>

#include <agenthost/config_schema.hpp>
#include <agenthost/status.hpp>

namespace agenthost::redis {

// The `url` and `url_file` fields of a plugin's schema (append them first, so every
// Redis plugin documents them alike).
sdk::Schema url_fields();
// Cross-field checks: exactly one of the two set, and a parsable `url` (`url_file` is
// read at start, by resolve_url).
void validate_url_choice(const std::string& url, const std::string& url_file,
                         const std::string& path, sdk::ConfigErrors& errors);
// The URL to connect to: `url`, or the first line of `url_file` (trailing blanks and
// CR dropped); invalid_argument when the file cannot be read or the URL does not parse.
sdk::Result<std::string> resolve_url(const std::string& url, const std::string& url_file);

}  // namespace agenthost::redis
