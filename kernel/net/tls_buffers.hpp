#pragma once
// Right-sizes the per-connection buffers of Asio's TLS stream. No longer part of ah_net:
// the agent listener and the gateway dialer run TLS on the socket itself
// (fd_tls_stream.hpp); tools/agentsim still compiles this file for its own Asio-stream
// connections (--tls-buffer-bytes), so the load generator stays the client every
// measurement so far used. It pulls in Asio, Beast and OpenSSL.

#include <cstddef>

#include "kernel/net/detail.hpp"

namespace agenthost::net::detail {

// Asio's ssl::stream gives every connection two 17 KiB I/O buffers (zero-filled, so
// resident) and a BIO pair with two 17 KiB rings, for the stream's whole life: most
// of an idle agent connection's memory (docs/PERFORMANCE.md). This swaps them for
// `bytes`-sized ones; larger TLS records still pass, in more steps. Call it on a
// fresh stream, before the handshake (nothing may be buffered yet).
void shrink_tls_buffers(TlsStream& stream, std::size_t bytes);

inline constexpr std::size_t kAgentTlsBufferBytes = 2048;

}  // namespace agenthost::net::detail
