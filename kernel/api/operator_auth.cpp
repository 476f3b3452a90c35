#include "kernel/api/operator_auth.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <string_view>

#include "kernel/api/api_json.hpp"
#include "kernel/crypto/keyring.hpp"
#include "kernel/util/encoding.hpp"

namespace agenthost::api {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

// Case-insensitive "Bearer " scheme (RFC 7235 schemes are case-insensitive).
std::optional<std::string> bearer_token(const std::string& header) {
    static constexpr std::string_view scheme = "bearer ";
    if (header.size() <= scheme.size() || lower(header.substr(0, scheme.size())) != scheme) {
        return std::nullopt;
    }
    std::string token = header.substr(scheme.size());
    while (!token.empty() && token.front() == ' ') {
        token.erase(token.begin());
    }
    while (!token.empty() && token.back() == ' ') {
        token.pop_back();
    }
    if (token.empty()) {
        return std::nullopt;
    }
    return token;
}

// SHA-256 (hex) of a presented token, with the digest fetched once: OpenSSL 3's
// one-shot SHA256() looks the algorithm up in the provider tables (under locks) on
// every call, which was most of the cost of authenticating a request.
std::string token_sha256_hex(const std::string& token) {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);  // process lifetime
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (md == nullptr || EVP_Digest(token.data(), token.size(), out, &n, md, nullptr) != 1) {
        return util::sha256_hex(token);
    }
    return util::hex_encode(std::string_view(reinterpret_cast<const char*>(out), n));
}

}  // namespace

OperatorAuth::OperatorAuth(std::vector<config::OperatorToken> operators, sdk::AuditSink& audit,
                           sdk::Logger* logger)
    : audit_(audit), logger_(logger) {
    for (auto& op : operators) {
        operators_.push_back(Entry{std::move(op.name), lower(std::move(op.token_sha256))});
    }
}

std::optional<std::string> OperatorAuth::authenticate(const sdk::HttpRequest& request) const {
    const char* reason = "missing bearer token";
    std::optional<std::string> who;
    if (const std::string* header = request.header("authorization")) {
        if (auto token = bearer_token(*header)) {
            reason = "unknown token";
            const std::string presented = token_sha256_hex(*token);
            // Every entry is compared, so the time taken does not say which one matched.
            for (const auto& op : operators_) {
                if (crypto::equal_ct(presented, op.hash_hex) && !who) {
                    who = op.name;
                }
            }
        } else {
            reason = "malformed authorization header";
        }
    }
    if (who) {
        return who;
    }
    sdk::AuditEvent ev;
    ev.actor = "anonymous";
    ev.action = "auth.failed";
    ev.target = request.method + " " + request.path;
    ev.outcome = "denied";
    ev.details = sdk::json::object{{"reason", reason}, {"remote_address", request.remote_address}};
    audit_.record(std::move(ev));
    if (logger_) {
        logger_->warn("operator authentication failed", {{"reason", reason},
                                                         {"remote_address", request.remote_address},
                                                         {"path", request.path}});
    }
    return std::nullopt;
}

sdk::HttpResponse OperatorAuth::unauthorized() {
    auto r = error_response(401, "unauthorized", "missing or invalid bearer token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

}  // namespace agenthost::api
