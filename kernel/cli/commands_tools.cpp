// version, pin, keys derive, audit verify: commands that need no config file.
#include <cstdio>
#include <regex>
#include <string>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <spdlog/version.h>
#include <sqlite3.h>
#include <boost/version.hpp>

#include <agenthost/abi.hpp>
#include <agenthost/version.hpp>

#include "kernel/cli/audit_verify.hpp"
#include "kernel/cli/commands.hpp"
#include "kernel/config/kernel_schema.hpp"
#include "kernel/config/schema_validator.hpp"
#include "kernel/crypto/keyring.hpp"
#include "kernel/crypto/x509.hpp"
#include "kernel/util/encoding.hpp"

#ifndef AGENTHOST_VERSION
#define AGENTHOST_VERSION "0.0.0"
#endif

namespace agenthost::cli {

namespace {

// yaml-cpp 0.7 has no version macro; newer releases define YAML_CPP_VERSION_*.
std::string yaml_cpp_version() {
#if defined(YAML_CPP_VERSION_MAJOR)
    return std::to_string(YAML_CPP_VERSION_MAJOR) + "." + std::to_string(YAML_CPP_VERSION_MINOR) +
           "." + std::to_string(YAML_CPP_VERSION_PATCH);
#else
    return "0.7";
#endif
}

int exit_for(const sdk::Status& st) {
    return st.code() == sdk::Errc::invalid_argument ? exit_usage : exit_failure;
}

}  // namespace

int cmd_version() {
    std::printf("agenthost %s\n", AGENTHOST_VERSION);
    std::printf("SDK %s (ABI %s)\n", AGENTHOST_SDK_VERSION_STRING, sdk::abi_tag);
    std::printf("Boost %d.%d.%d\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
                BOOST_VERSION % 100);
    std::printf("OpenSSL %s (runtime: %s)\n", OPENSSL_FULL_VERSION_STR,
                OpenSSL_version(OPENSSL_VERSION));
    std::printf("yaml-cpp %s\n", yaml_cpp_version().c_str());
    std::printf("spdlog %d.%d.%d\n", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH);
    std::printf("SQLite %s (runtime: %s)\n", SQLITE_VERSION, sqlite3_libversion());
    return exit_ok;
}

int cmd_pin(const std::string& file) {
    auto pin = crypto::spki_pin_from_file(file);
    if (!pin.ok()) {
        std::fprintf(stderr, "pin: %s\n", pin.status().message().c_str());
        return exit_for(pin.status());
    }
    std::printf("%s\n", pin->c_str());
    return exit_ok;
}

int cmd_keys_derive(const std::string& kid, const std::string& agent, const std::string& master) {
    if (!std::regex_match(kid, std::regex(config::kid_pattern))) {
        std::fprintf(stderr, "keys derive: --kid must match %s\n", config::kid_pattern);
        return exit_usage;
    }
    if (!crypto::valid_agent_id(agent)) {
        std::fprintf(stderr, "keys derive: --agent must match %s\n", config::agent_id_pattern);
        return exit_usage;
    }
    // The same rule as in the config: a master key file readable by others is refused.
    sdk::ConfigErrors errors;
    config::check_file(master, sdk::FileCheck::private_file, "--master", errors);
    if (!errors.empty()) {
        print_errors(errors);
        return exit_usage;
    }
    auto key = crypto::read_key_file(master, 32);
    if (!key.ok()) {
        std::fprintf(stderr, "keys derive: %s\n", key.status().message().c_str());
        return exit_for(key.status());
    }
    // kid names which master key this is; the derivation itself depends on the key and
    // the agent id only (PROTOCOL.md §2), so the kid is validated but not mixed in.
    std::printf("%s\n", util::base64_encode(crypto::derive_agent_key(*key, agent)).c_str());
    return exit_ok;
}

int cmd_audit_verify(const std::vector<std::string>& files, const std::string& key_file,
                     const std::string& checkpoints) {
    AuditVerifyOptions opts;
    opts.files = files;
    opts.checkpoints = checkpoints;
    if (!key_file.empty()) {
        auto key = crypto::read_key_file(key_file, 32);
        if (!key.ok()) {
            std::fprintf(stderr, "audit verify: --key: %s\n", key.status().message().c_str());
            return exit_usage;
        }
        opts.key = std::move(*key);
    } else {
        std::fprintf(stderr,
                     "audit verify: no --key: checking the unkeyed chain (a keyed log "
                     "fails at its first record)\n");
    }
    if (checkpoints.empty()) {
        std::fprintf(stderr,
                     "audit verify: no --checkpoints: a truncated tail cannot be "
                     "detected\n");
    }
    const AuditVerifyReport r = verify_audit(opts);
    for (const auto& note : r.notes) {
        std::printf("note: %s\n", note.c_str());
    }
    if (!r.ok) {
        std::printf("FAILED: %s\n", r.error.c_str());
        if (r.records > 0) {
            std::printf("verified before the failure: %llu records, seq %llu..%llu\n",
                        static_cast<unsigned long long>(r.records),
                        static_cast<unsigned long long>(r.first_seq),
                        static_cast<unsigned long long>(r.last_seq));
        }
        return exit_failure;
    }
    std::printf(
        "OK: %llu records, seq %llu..%llu, %zu file(s), %llu checkpoint(s) "
        "(%llu matched), %s chain\n",
        static_cast<unsigned long long>(r.records), static_cast<unsigned long long>(r.first_seq),
        static_cast<unsigned long long>(r.last_seq), files.size(),
        static_cast<unsigned long long>(r.checkpoints),
        static_cast<unsigned long long>(r.checkpoints_matched),
        opts.key.empty() ? "UNKEYED" : "keyed");
    return exit_ok;
}

}  // namespace agenthost::cli
