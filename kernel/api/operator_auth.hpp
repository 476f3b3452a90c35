#pragma once
// Bearer-token authentication of the operator API. The config holds only SHA-256
// hashes of the tokens; a presented token is hashed and compared against every
// configured hash in constant time. Failures are audited ("auth.failed") without the
// token. Thread-safe (immutable after construction).

#include <optional>
#include <string>
#include <vector>

#include <agenthost/audit.hpp>
#include <agenthost/http.hpp>
#include <agenthost/logger.hpp>

#include "kernel/config/kernel_config.hpp"

namespace agenthost::api {

class OperatorAuth {
public:
    OperatorAuth(std::vector<config::OperatorToken> operators, sdk::AuditSink& audit,
                 sdk::Logger* logger = nullptr);

    // The operator's name for a valid `Authorization: Bearer <token>`, else nullopt
    // (after auditing the failure).
    std::optional<std::string> authenticate(const sdk::HttpRequest& request) const;

    // The 401 answered for a failed authentication.
    static sdk::HttpResponse unauthorized();

private:
    struct Entry {
        std::string name;
        std::string hash_hex;  // lower-case
    };
    std::vector<Entry> operators_;
    sdk::AuditSink& audit_;
    sdk::Logger* logger_;
};

}  // namespace agenthost::api
