// Start-up recovery of the chain head from the log's tail, and rotated-file names.
#include "plugins/audit_file/chain_tail.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include <boost/json/parse.hpp>

#include "kernel/crypto/audit_chain.hpp"

namespace agenthost::plugins::audit_file {

namespace chain = crypto::audit_chain;

namespace {

constexpr std::size_t seq_digits = 20;

std::string read_tail(const std::string& file, std::size_t window, bool* from_start) {
    *from_start = true;
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return {};
    }
    std::string tail;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        const auto size = static_cast<std::uint64_t>(st.st_size);
        const std::uint64_t n = std::min<std::uint64_t>(size, window);
        *from_start = n == size;
        tail.resize(n);
        std::size_t got = 0;
        while (got < n) {
            const ssize_t r =
                ::pread(fd, tail.data() + got, n - got, static_cast<off_t>(size - n + got));
            if (r <= 0) {
                break;
            }
            got += static_cast<std::size_t>(r);
        }
        tail.resize(got);
    }
    ::close(fd);
    return tail;
}

std::uint64_t seq_of(std::string_view line) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) {
        return 0;
    }
    const auto* s = v.get_object().if_contains("seq");
    if (s == nullptr) {
        return 0;
    }
    if (s->is_uint64()) {
        return s->get_uint64();
    }
    return s->is_int64() && s->get_int64() > 0 ? static_cast<std::uint64_t>(s->get_int64()) : 0;
}

}  // namespace

ChainTail read_chain_tail(const std::string& file, std::string_view key, std::size_t window) {
    ChainTail t;
    t.head = std::string(chain::genesis);
    bool from_start = true;
    const std::string tail = read_tail(file, window, &from_start);
    if (tail.empty()) {
        return t;
    }
    t.torn = tail.back() != '\n';
    std::vector<std::string_view> lines;
    std::string_view rest(tail);
    bool first = true;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        // A window that starts mid-file starts mid-line: skip that first fragment.
        if (!(first && !from_start)) {
            lines.push_back(line);
        }
        first = false;
        if (nl == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(nl + 1);
    }
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        const std::uint64_t seq = seq_of(*it);
        t.max_seen_seq = std::max(t.max_seen_seq, seq);
        if (seq > 0 && chain::verify_line(key, chain::LineKind::record, *it)) {
            t.seq = seq;
            t.head = chain::open(*it)->mac;
            return t;
        }
        if (!it->empty()) {
            ++t.damaged_lines;
        }
    }
    return t;
}

std::string rotated_name(const std::string& path, std::uint64_t last_seq) {
    char digits[seq_digits + 1];
    std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(last_seq));
    return path + "." + digits;
}

std::string newest_rotated(const std::string& path) {
    namespace fs = std::filesystem;
    const fs::path p(path);
    const std::string prefix = p.filename().string() + ".";
    std::error_code ec;
    std::string best;
    for (const auto& e :
         fs::directory_iterator(p.parent_path().empty() ? "." : p.parent_path(), ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() != prefix.size() + seq_digits || name.rfind(prefix, 0) != 0) {
            continue;
        }
        const std::string_view digits = std::string_view(name).substr(prefix.size());
        if (!std::all_of(digits.begin(), digits.end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
            continue;
        }
        if (best.empty() || name > fs::path(best).filename().string()) {
            best = e.path().string();
        }
    }
    return best;
}

}  // namespace agenthost::plugins::audit_file
