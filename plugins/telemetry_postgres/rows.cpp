#include "plugins/telemetry_postgres/rows.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <agenthost/json.hpp>

namespace agenthost::telemetry_postgres {

using sdk::Errc;
using sdk::Status;
namespace json = sdk::json;

namespace {

bool has_nul(std::string_view s) {
    return s.find('\0') != std::string_view::npos;
}

auto row_key(const Row& r) {
    return std::tie(r.metric, r.ts_ms, r.labels_hash);
}

}  // namespace

sdk::Result<std::string> canonical_labels(const sdk::LabelSet& labels) {
    std::vector<const std::pair<std::string, std::string>*> sorted;
    sorted.reserve(labels.size());
    for (const auto& l : labels) {
        sorted.push_back(&l);
    }
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    json::object obj;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        if (i > 0 && sorted[i]->first == sorted[i - 1]->first) {
            return Status(Errc::invalid_argument, "repeated label name: " + sorted[i]->first);
        }
        obj.emplace(sorted[i]->first, sorted[i]->second);  // object keeps insertion order
    }
    return json::serialize(obj);
}

sdk::LabelSet parse_labels(std::string_view canonical) {
    sdk::LabelSet out;
    boost::system::error_code ec;
    json::value v = json::parse(canonical, ec);
    if (ec || !v.is_object()) {
        return out;
    }
    for (const auto& [k, val] : v.get_object()) {
        if (val.is_string()) {
            out.emplace_back(std::string(k), std::string(val.get_string()));
        }
    }
    return out;
}

std::int64_t labels_hash(std::string_view canonical) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v = (v << 8) | digest[i];
    }
    return static_cast<std::int64_t>(v >> 1);  // non-negative: easier to read in psql
}

sdk::Result<PreparedBatch> prepare_batch(const sdk::TelemetryBatch& batch) {
    if (batch.agent_id.empty() || has_nul(batch.agent_id)) {
        return Status(Errc::invalid_argument, "batch without a valid agent_id");
    }
    PreparedBatch out;
    out.agent_id = batch.agent_id;
    out.points = batch.points.size();
    out.rows.reserve(batch.points.size());
    for (const auto& p : batch.points) {
        if (p.metric.empty() || has_nul(p.metric)) {
            return Status(Errc::invalid_argument, "point without a valid metric");
        }
        if (!std::isfinite(p.value)) {
            return Status(Errc::invalid_argument, "non-finite value for " + p.metric);
        }
        for (const auto& [k, v] : p.labels) {
            if (has_nul(k) || has_nul(v)) {
                return Status(Errc::invalid_argument, "NUL byte in a label of " + p.metric);
            }
        }
        auto labels = canonical_labels(p.labels);
        if (!labels) {
            return labels.status();
        }
        Row r;
        r.metric = p.metric;
        r.ts_ms = p.ts_ms;
        r.labels_hash = labels_hash(*labels);
        r.labels = std::move(labels).value();
        r.value = p.value;
        out.rows.push_back(std::move(r));
    }
    // Stable: of equal keys the first copy stays first and is the one kept.
    std::stable_sort(out.rows.begin(), out.rows.end(),
                     [](const Row& a, const Row& b) { return row_key(a) < row_key(b); });
    auto last = std::unique(out.rows.begin(), out.rows.end(),
                            [](const Row& a, const Row& b) { return row_key(a) == row_key(b); });
    out.rows.erase(last, out.rows.end());
    return out;
}

std::vector<GroupRow> merge_group(std::span<const PreparedBatch> batches) {
    std::vector<GroupRow> rows;
    std::size_t total = 0;
    for (const auto& b : batches) {
        total += b.rows.size();
    }
    rows.reserve(total);
    for (std::uint32_t i = 0; i < batches.size(); ++i) {
        for (const auto& r : batches[i].rows) {
            rows.push_back(GroupRow{&batches[i].agent_id, &r, i});
        }
    }
    // Ties broken by owner: the earliest batch owns a key two batches share.
    std::sort(rows.begin(), rows.end(), [](const GroupRow& a, const GroupRow& b) {
        auto ka = a.key();
        auto kb = b.key();
        if (ka != kb) {
            return ka < kb;
        }
        return a.owner < b.owner;
    });
    auto last = std::unique(rows.begin(), rows.end(), [](const GroupRow& a, const GroupRow& b) {
        return a.key() == b.key();
    });
    rows.erase(last, rows.end());
    return rows;
}

std::vector<sdk::IngestOutcome> attribute(std::span<const PreparedBatch> batches,
                                          std::span<const GroupRow> rows,
                                          std::vector<KeyView> inserted) {
    std::vector<sdk::IngestOutcome> out(batches.size());
    std::sort(inserted.begin(), inserted.end());
    // Both sides sorted by key: one merge pass.
    std::size_t j = 0;
    for (const auto& row : rows) {
        const KeyView k = row.key();
        while (j < inserted.size() && inserted[j] < k) {
            ++j;
        }
        if (j < inserted.size() && inserted[j] == k) {
            ++out[row.owner].accepted;
            ++j;
        }
    }
    for (std::size_t i = 0; i < batches.size(); ++i) {
        out[i].duplicates = batches[i].points - out[i].accepted;
    }
    return out;
}

}  // namespace agenthost::telemetry_postgres
