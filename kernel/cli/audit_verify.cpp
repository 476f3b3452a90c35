// The audit chain verifier behind `agenthost audit verify` (see audit_verify.hpp).
#include "kernel/cli/audit_verify.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>

#include <boost/json/parse.hpp>

#include "kernel/crypto/audit_chain.hpp"
#include "kernel/crypto/keyring.hpp"

namespace agenthost::cli {

namespace chain = crypto::audit_chain;

namespace {

struct FileText {
    std::string path;
    std::string text;
    std::uint64_t first_seq = 0;  // 0: unknown (sorted last)
    std::size_t order = 0;
};

std::optional<std::string> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The line's JSON body (mac member removed) as an object, if it parses.
std::optional<boost::json::object> body_object(const std::string& body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) {
        return std::nullopt;
    }
    return v.get_object();
}

std::uint64_t u64(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) {
        return 0;
    }
    if (v->is_uint64()) {
        return v->get_uint64();
    }
    return v->is_int64() && v->get_int64() > 0 ? static_cast<std::uint64_t>(v->get_int64()) : 0;
}

std::string str(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::vector<std::string_view> split_lines(const std::string& text) {
    std::vector<std::string_view> out;
    std::string_view rest(text);
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        if (nl == std::string_view::npos) {
            out.push_back(rest);  // no final newline: a torn line, verified (and failed) as such
            break;
        }
        out.push_back(rest.substr(0, nl));
        rest.remove_prefix(nl + 1);
    }
    return out;
}

std::uint64_t first_seq_of(const std::string& text) {
    const auto nl = text.find('\n');
    auto o = chain::open(std::string_view(text).substr(0, nl));
    if (!o) {
        return 0;
    }
    auto body = body_object(o->body);
    return body ? u64(*body, "seq") : 0;
}

class Verifier {
public:
    Verifier(const AuditVerifyOptions& opts, AuditVerifyReport& r) : opts_(opts), r_(r) {}

    bool load_checkpoints() {
        if (opts_.checkpoints.empty()) {
            return true;
        }
        auto text = slurp(opts_.checkpoints);
        if (!text) {
            return fail(0, "cannot read checkpoint file " + opts_.checkpoints);
        }
        std::size_t n = 0;
        for (std::string_view line : split_lines(*text)) {
            ++n;
            const std::string where = opts_.checkpoints + ":" + std::to_string(n);
            auto o = chain::open(line);
            auto body = o ? body_object(o->body) : std::nullopt;
            const std::uint64_t seq = body ? u64(*body, "seq") : 0;
            if (!o || !body || seq == 0 ||
                !chain::verify_line(opts_.key, chain::LineKind::checkpoint, line)) {
                return fail(seq, "checkpoint " + where +
                                     (seq ? " (seq " + std::to_string(seq) + ")" : "") +
                                     ": MAC mismatch or damaged (edited, or another key)");
            }
            checkpoints_[seq] = str(*body, "head");
            ++r_.checkpoints;
        }
        return true;
    }

    bool verify_file(const FileText& f) {
        std::size_t n = 0;
        for (std::string_view line : split_lines(f.text)) {
            ++n;
            if (!verify_line(line, f.path + ":" + std::to_string(n))) {
                return false;
            }
        }
        return true;
    }

    bool finish() {
        for (const auto& [seq, head] : checkpoints_) {
            if (seq > r_.last_seq) {
                return fail(r_.last_seq + 1, "missing: the log ends at seq " +
                                                 std::to_string(r_.last_seq) +
                                                 " but checkpoint seq " + std::to_string(seq) +
                                                 " vouches for more (tail truncated)");
            }
        }
        r_.ok = true;
        return true;
    }

private:
    bool fail(std::uint64_t seq, std::string message) {
        r_.ok = false;
        r_.bad_seq = seq;
        r_.error = seq != 0 ? "seq " + std::to_string(seq) + ": " + message : std::move(message);
        return false;
    }

    bool verify_line(std::string_view line, const std::string& where) {
        const std::uint64_t expected = started_ ? r_.last_seq + 1 : 0;
        auto o = chain::open(line);
        auto body = o ? body_object(o->body) : std::nullopt;
        const std::uint64_t seq = body ? u64(*body, "seq") : 0;
        const std::uint64_t name = expected != 0 ? expected : (seq != 0 ? seq : 1);
        if (!o || !body || seq == 0) {
            return fail(name, "damaged line, not a sealed record (" + where + ")");
        }
        if (!crypto::equal_ct(chain::mac_of(opts_.key, chain::LineKind::record, o->body), o->mac)) {
            return fail(name,
                        "MAC mismatch: record edited, forged, or written under another "
                        "key (" +
                            where + ")");
        }
        const std::string prev = str(*body, "prev");
        if (!started_) {
            // The chain starts at seq 1 from genesis; anything else means older records
            // (or rotated files) are missing.
            if (seq != 1 || prev != chain::genesis) {
                return fail(seq > 1 ? 1 : seq, "missing: the first record given is seq " +
                                                   std::to_string(seq) + " (" + where +
                                                   "); earlier records or files are missing");
            }
            started_ = true;
            r_.first_seq = seq;
        } else if (seq != expected) {
            return fail(expected, "expected here, found seq " + std::to_string(seq) + " (" + where +
                                      "): " +
                                      (seq > expected ? "records deleted or reordered"
                                                      : "record inserted, duplicated or "
                                                        "reordered"));
        } else if (prev != head_) {
            return fail(seq, "prev does not link to seq " + std::to_string(seq - 1) + " (" + where +
                                 "): record spliced in from another chain");
        }
        if (auto it = checkpoints_.find(seq); it != checkpoints_.end()) {
            if (it->second != o->mac) {
                return fail(seq, "differs from the checkpoint for this seq (" + where + ")");
            }
            ++r_.checkpoints_matched;
        }
        const std::string action = str(*body, "action");
        if (action == "audit.chain_break" || action == "audit.sink_recovered") {
            r_.notes.push_back("seq " + std::to_string(seq) + ": " + action + " (" + where + ")");
        }
        head_ = o->mac;
        r_.last_seq = seq;
        ++r_.records;
        return true;
    }

    const AuditVerifyOptions& opts_;
    AuditVerifyReport& r_;
    std::map<std::uint64_t, std::string> checkpoints_;
    bool started_ = false;
    std::string head_;
};

}  // namespace

AuditVerifyReport verify_audit(const AuditVerifyOptions& options) {
    AuditVerifyReport report;
    std::vector<FileText> files;
    for (std::size_t i = 0; i < options.files.size(); ++i) {
        auto text = slurp(options.files[i]);
        if (!text) {
            report.error = "cannot read " + options.files[i];
            return report;
        }
        if (text->empty()) {
            continue;  // e.g. the live file right after a rotation: nothing to check
        }
        FileText f{options.files[i], std::move(*text), 0, i};
        f.first_seq = first_seq_of(f.text);
        files.push_back(std::move(f));
    }
    // Chain order, whatever order the shell gave. If a file's first line is damaged
    // the given order stays (and that line is reported).
    const bool sortable =
        std::all_of(files.begin(), files.end(), [](const FileText& f) { return f.first_seq != 0; });
    if (sortable) {
        std::stable_sort(files.begin(), files.end(), [](const FileText& a, const FileText& b) {
            return a.first_seq < b.first_seq;
        });
    }
    Verifier v(options, report);
    if (!v.load_checkpoints()) {
        return report;
    }
    for (const auto& f : files) {
        if (!v.verify_file(f)) {
            return report;
        }
    }
    v.finish();
    return report;
}

}  // namespace agenthost::cli
