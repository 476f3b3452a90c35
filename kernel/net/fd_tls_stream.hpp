#pragma once
// Internal to kernel/net: a TLS stream on the socket itself. Only net/ .cpp files include
// this header (it pulls in Asio, Beast and OpenSSL).
//
// OpenSSL reads and writes the connection's file descriptor directly (no BIO pair, no
// buffers of ours); when it would block, the operation waits for readiness (readable:
// fd_readable_op.hpp, no system call per wait; writable: socket.async_wait()) and
// tries again. Compared with Asio's ssl::stream this drops, per
// connection, the BIO pair's two rings and Asio's two I/O buffers (and Beast's
// tcp_stream timer state), a copy per record, and the speculative EAGAIN read per
// message (docs/PERFORMANCE.md, session 4). With SSL_MODE_RELEASE_BUFFERS (tls.cpp) an
// idle connection holds no record buffer at all.
//
// Satisfies Beast's AsyncStream (websocket::stream<FdTlsStream>, http::async_read/write)
// and provides the websocket teardown overloads below. All operations of one stream run
// on its socket's executor (one loop thread); closing the socket completes pending
// operations with operation_aborted and no later step touches the descriptor again (its
// number may belong to another connection by then).

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

#include <openssl/ssl.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include "kernel/net/fd_readable_op.hpp"

namespace agenthost::net::detail {

class FdTlsStream {
public:
    using socket_type = boost::asio::ip::tcp::socket;
    using executor_type = socket_type::executor_type;
    using next_layer_type = socket_type;
    using error_code = boost::system::error_code;
    using handshake_type = boost::asio::ssl::stream_base::handshake_type;

    // Largest write handed to SSL_write at once: one TLS record.
    static constexpr std::size_t kMaxRecord = 16 * 1024;

    // Server side: an accepted socket.
    FdTlsStream(socket_type socket, boost::asio::ssl::context& ctx);
    // Client side: the socket is connected later (next_layer()), before the handshake.
    FdTlsStream(const executor_type& executor, boost::asio::ssl::context& ctx);
    ~FdTlsStream();
    FdTlsStream(const FdTlsStream&) = delete;
    FdTlsStream& operator=(const FdTlsStream&) = delete;

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    socket_type& next_layer() noexcept { return socket_; }
    socket_type& socket() noexcept { return socket_; }
    SSL* native_handle() const noexcept { return ssl_; }

    // One non-blocking step of an operation. `want`: wait for that readiness, then
    // call again with the same arguments.
    enum class Want : unsigned char { nothing, read, write };
    struct Step {
        Want want = Want::nothing;
        error_code ec;
        std::size_t bytes = 0;
    };
    Step read_step(void* data, std::size_t size);
    Step write_step(const void* data, std::size_t size);
    Step handshake_step(handshake_type type);
    // Sends our close_notify, then reads (and discards) up to the peer's.
    Step shutdown_step();
    // True when the next read should wait for readiness first: the last read left
    // nothing buffered and did not fill the caller's buffer, so the socket was empty
    // (a read now would be the EAGAIN system call Asio's speculative read costs).
    bool wait_before_read() const noexcept;
    // The bytes to write now: the first buffer as is when it is alone or large,
    // otherwise the sequence's first kMaxRecord bytes gathered into a per-thread
    // scratch block, so a frame header and its payload go out as one record and one
    // system call. Deterministic: a retry gathers the same bytes.
    template <class ConstBufferSequence>
    static std::pair<const void*, std::size_t> gather(const ConstBufferSequence& buffers);

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token);
    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token);
    template <class Token>
    auto async_handshake(handshake_type type, Token&& token);
    template <class Token>
    auto async_shutdown(Token&& token);

private:
    template <class Derived>
    struct OpBase;
    template <class Buffers>
    struct ReadOp;
    template <class Buffers>
    struct WriteOp;
    struct HandshakeOp;
    struct ShutdownOp;

    // Binds the SSL object to the (now open) descriptor; idempotent.
    void attach();
    static unsigned char* scratch();
    // Waits for readability (fd_readable_op.hpp), or for writability, then resumes
    // the operation `self`.
    template <class Self>
    void wait_ready(Self& self, Want want);

    socket_type socket_;
    SSL* ssl_ = nullptr;
    bool read_drained_ = false;
#if defined(AGENTHOST_HAS_READABLE_OP)
    boost::asio::detail::reactor* reactor_ = nullptr;  // the socket's, on first wait
#endif
};

// Shared driver: `Derived::step()` returns a Step; a wait re-enters after readiness.
// An operation that completes without waiting is posted, never invoked inline.
template <class Derived>
struct FdTlsStream::OpBase {
    explicit OpBase(FdTlsStream& s) : stream(s) {}

    template <class Self>
    void operator()(Self& self, error_code ec = {}) {
        auto& d = static_cast<Derived&>(*this);
        if (posted) {
            return d.finish(self, result.ec, result.bytes);
        }
        if (waited && ec) {
            return d.finish(self, ec, 0);
        }
        if (!stream.socket_.is_open()) {
            return done(self, boost::asio::error::operation_aborted, 0);
        }
        if (!waited && d.wait_first()) {
            return wait(self, Want::read);
        }
        Step st = d.step();
        if (st.want != Want::nothing) {
            return wait(self, st.want);
        }
        done(self, st.ec, st.bytes);
    }

    template <class Self>
    void wait(Self& self, Want want) {
        waited = true;
        stream.wait_ready(self, want);
    }

    template <class Self>
    void done(Self& self, error_code ec, std::size_t bytes) {
        if (waited) {
            return static_cast<Derived&>(*this).finish(self, ec, bytes);
        }
        posted = true;
        result.ec = ec;
        result.bytes = bytes;
        boost::asio::post(std::move(self));
    }

    bool wait_first() const { return false; }

    FdTlsStream& stream;
    Step result;
    bool waited = false;
    bool posted = false;
};

template <class Buffers>
struct FdTlsStream::ReadOp : OpBase<ReadOp<Buffers>> {
    ReadOp(FdTlsStream& s, const Buffers& b) : OpBase<ReadOp<Buffers>>(s), buffers(b) {}

    bool wait_first() const {
        return boost::asio::buffer_size(buffers) != 0 && this->stream.wait_before_read();
    }
    Step step() {
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers); ++it) {
            boost::asio::mutable_buffer b(*it);
            if (b.size() != 0) {
                return this->stream.read_step(b.data(), b.size());
            }
        }
        return {};  // nothing to read into: completes at once with 0 bytes
    }
    template <class Self>
    void finish(Self& self, error_code ec, std::size_t bytes) {
        self.complete(ec, bytes);
    }

    Buffers buffers;
};

template <class Buffers>
struct FdTlsStream::WriteOp : OpBase<WriteOp<Buffers>> {
    WriteOp(FdTlsStream& s, const Buffers& b) : OpBase<WriteOp<Buffers>>(s), buffers(b) {}

    Step step() {
        auto [data, size] = FdTlsStream::gather(buffers);
        if (size == 0) {
            return {};
        }
        return this->stream.write_step(data, size);
    }
    template <class Self>
    void finish(Self& self, error_code ec, std::size_t bytes) {
        self.complete(ec, bytes);
    }

    Buffers buffers;
};

struct FdTlsStream::HandshakeOp : OpBase<HandshakeOp> {
    HandshakeOp(FdTlsStream& s, handshake_type t) : OpBase<HandshakeOp>(s), type(t) {}

    Step step() { return stream.handshake_step(type); }
    template <class Self>
    void finish(Self& self, error_code ec, std::size_t) {
        self.complete(ec);
    }

    handshake_type type;
};

struct FdTlsStream::ShutdownOp : OpBase<ShutdownOp> {
    explicit ShutdownOp(FdTlsStream& s) : OpBase<ShutdownOp>(s) {}

    Step step() { return stream.shutdown_step(); }
    template <class Self>
    void finish(Self& self, error_code ec, std::size_t) {
        self.complete(ec);
    }
};

template <class Self>
void FdTlsStream::wait_ready(Self& self, Want want) {
#if defined(AGENTHOST_HAS_READABLE_OP)
    if (want == Want::read) {
        if (reactor_ == nullptr) {
            reactor_ = &reactor_of(socket_);
        }
        return async_readable(socket_, *reactor_, std::move(self));
    }
#endif
    socket_.async_wait(want == Want::read ? socket_type::wait_read : socket_type::wait_write,
                       std::move(self));
}

template <class ConstBufferSequence>
std::pair<const void*, std::size_t> FdTlsStream::gather(const ConstBufferSequence& buffers) {
    auto it = boost::asio::buffer_sequence_begin(buffers);
    const auto end = boost::asio::buffer_sequence_end(buffers);
    while (it != end && boost::asio::const_buffer(*it).size() == 0) {
        ++it;
    }
    if (it == end) {
        return {nullptr, 0};
    }
    boost::asio::const_buffer first(*it);
    auto next = it;
    ++next;
    while (next != end && boost::asio::const_buffer(*next).size() == 0) {
        ++next;
    }
    if (next == end || first.size() >= kMaxRecord) {
        return {first.data(), std::min(first.size(), kMaxRecord)};
    }
    unsigned char* out = scratch();
    std::size_t n = 0;
    for (; it != end && n < kMaxRecord; ++it) {
        boost::asio::const_buffer b(*it);
        std::size_t take = std::min(b.size(), kMaxRecord - n);
        if (take != 0) {
            std::memcpy(out + n, b.data(), take);
            n += take;
        }
    }
    return {out, n};
}

template <class MutableBufferSequence, class Token>
auto FdTlsStream::async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(
        ReadOp<MutableBufferSequence>(*this, buffers), token, socket_);
}

template <class ConstBufferSequence, class Token>
auto FdTlsStream::async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(
        WriteOp<ConstBufferSequence>(*this, buffers), token, socket_);
}

template <class Token>
auto FdTlsStream::async_handshake(handshake_type type, Token&& token) {
    attach();
    return boost::asio::async_compose<Token, void(error_code)>(HandshakeOp(*this, type), token,
                                                                socket_);
}

template <class Token>
auto FdTlsStream::async_shutdown(Token&& token) {
    return boost::asio::async_compose<Token, void(error_code)>(ShutdownOp(*this), token, socket_);
}

// ---- websocket teardown (found by ADL from websocket::stream<FdTlsStream>) ------------
// As for Asio's ssl::stream (boost/beast/websocket/impl/ssl.hpp): the TLS close_notify
// exchange, then the TCP teardown of the socket underneath.

namespace fd_tls_detail {

struct TeardownOp {
    FdTlsStream& stream;
    boost::beast::role_type role;
    int state = 0;
    boost::system::error_code first;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
        switch (state) {
        case 0:
            state = 1;
            return stream.async_shutdown(std::move(self));
        case 1: {
            state = 2;
            first = ec;
            if (!stream.socket().is_open()) {
                return self.complete(first);
            }
            using boost::beast::websocket::async_teardown;
            return async_teardown(role, stream.socket(), std::move(self));
        }
        default:
            self.complete(first ? first : ec);
        }
    }
};

}  // namespace fd_tls_detail

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, FdTlsStream& stream,
                    TeardownHandler&& handler) {
    boost::asio::async_compose<TeardownHandler, void(boost::system::error_code)>(
        fd_tls_detail::TeardownOp{stream, role}, handler, stream.socket());
}

// Synchronous form (Beast's blocking close/read paths; unused by agenthost): one
// close_notify attempt, then the socket goes.
void teardown(boost::beast::role_type role, FdTlsStream& stream, boost::system::error_code& ec);

}  // namespace agenthost::net::detail
