#include "kernel/proto/b64url.hpp"

#include <array>
#include <cstdint>

namespace agenthost::proto::detail {
namespace {

// 0..63 for the alphabet, 0x80 for anything else (OR-ing a quad exposes a bad char).
constexpr std::array<std::uint8_t, 256> make_table() {
    std::array<std::uint8_t, 256> t{};
    for (auto& v : t) {
        v = 0x80;
    }
    constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; ++i) {
        t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    }
    return t;
}

constexpr std::array<std::uint8_t, 256> kTable = make_table();

inline std::uint8_t val(std::string_view in, std::size_t i) {
    return kTable[static_cast<unsigned char>(in[i])];
}

// Decodes `in` into `out` (which holds room for the result) or validates only.
template <bool kWrite>
bool decode(std::string_view in, char* out) noexcept {
    const std::size_t n = in.size();
    const std::size_t full = n / 4 * 4;
    std::size_t o = 0;
    for (std::size_t i = 0; i < full; i += 4) {
        std::uint8_t a = val(in, i), b = val(in, i + 1), c = val(in, i + 2), d = val(in, i + 3);
        if (((a | b | c | d) & 0x80) != 0) {
            return false;
        }
        if constexpr (kWrite) {
            std::uint32_t v =
                (std::uint32_t{a} << 18) | (std::uint32_t{b} << 12) | (std::uint32_t{c} << 6) | d;
            out[o] = static_cast<char>(v >> 16);
            out[o + 1] = static_cast<char>((v >> 8) & 0xff);
            out[o + 2] = static_cast<char>(v & 0xff);
        }
        o += 3;
    }
    switch (n - full) {
        case 0:
            return true;
        case 2: {
            std::uint8_t a = val(in, full), b = val(in, full + 1);
            if (((a | b) & 0x80) != 0 || (b & 0x0f) != 0) {
                return false;
            }
            if constexpr (kWrite) {
                out[o] = static_cast<char>((a << 2) | (b >> 4));
            }
            return true;
        }
        case 3: {
            std::uint8_t a = val(in, full), b = val(in, full + 1), c = val(in, full + 2);
            if (((a | b | c) & 0x80) != 0 || (c & 0x03) != 0) {
                return false;
            }
            if constexpr (kWrite) {
                out[o] = static_cast<char>((a << 2) | (b >> 4));
                out[o + 1] = static_cast<char>(((b & 0x0f) << 4) | (c >> 2));
            }
            return true;
        }
        default:
            return false;  // one leftover character carries no whole byte
    }
}

std::size_t decoded_size(std::size_t n) {
    return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

}  // namespace

bool b64url_decode_into(std::string_view in, std::string& out) {
    if (in.size() % 4 == 1) {
        return false;
    }
    out.resize(decoded_size(in.size()));
    return decode<true>(in, out.data());
}

void b64url_encode_append(std::string_view in, std::string& out) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const std::size_t n = in.size();
    const std::size_t at = out.size();
    out.resize(at + n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1));
    char* o = out.data() + at;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) |
                                std::uint32_t{p[i + 2]};
        *o++ = kAlphabet[v >> 18];
        *o++ = kAlphabet[(v >> 12) & 63];
        *o++ = kAlphabet[(v >> 6) & 63];
        *o++ = kAlphabet[v & 63];
    }
    if (n - i == 1) {
        const std::uint32_t v = std::uint32_t{p[i]} << 16;
        *o++ = kAlphabet[v >> 18];
        *o++ = kAlphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
        *o++ = kAlphabet[v >> 18];
        *o++ = kAlphabet[(v >> 12) & 63];
        *o++ = kAlphabet[(v >> 6) & 63];
    }
}

bool b64url_valid(std::string_view in, std::size_t& decoded_len) noexcept {
    if (in.size() % 4 == 1) {
        return false;
    }
    decoded_len = decoded_size(in.size());
    return decode<false>(in, nullptr);
}

}  // namespace agenthost::proto::detail
