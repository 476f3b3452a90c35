#pragma once
// Allocation-free canonical base64url (unpadded) decoding for the frame path. Same
// acceptance as util::base64url_decode (the tests check both agree), but it decodes
// a quad at a time into a caller-owned buffer: the generic decoder was a third of
// the cost of verifying a 512-byte frame. Internal to kernel/proto.

#include <cstddef>
#include <string>
#include <string_view>

namespace agenthost::proto::detail {

// Decodes into `out` (replacing its contents); false on a non-alphabet character,
// padding, an impossible length or non-zero trailing bits.
bool b64url_decode_into(std::string_view in, std::string& out);

// Whether `in` is canonical unpadded base64url; `decoded_len` gets the byte count.
bool b64url_valid(std::string_view in, std::size_t& decoded_len) noexcept;

// Appends the unpadded base64url encoding of `in` to `out` (one resize, no temporary):
// the send path builds a whole frame in one string.
void b64url_encode_append(std::string_view in, std::string& out);

}  // namespace agenthost::proto::detail
