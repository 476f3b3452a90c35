#pragma once
// Internal to kernel/net (fd_tls_stream.hpp only): "wait until the socket is readable"
// without the epoll_ctl system call that socket.async_wait(wait_read) costs each time.
//
// Asio's epoll reactor registers a socket once, edge-triggered. A wait operation
// cannot be tried speculatively (it would always succeed), so Asio re-arms the
// descriptor with EPOLL_CTL_MOD for every wait, lest an edge that arrived while no
// operation was queued be lost: one extra system call per message on the agent path
// (docs/PERFORMANCE.md, session 5). This operation takes part in the reactor's own
// bookkeeping instead:
// - run by the reactor after an EPOLLIN/ERR/HUP edge, it completes as "done and
//   exhausted", which tells the reactor to stop trying operations speculatively, so
//   the next wait is queued with no system call at all;
// - started while the reactor has seen an edge that no operation was waiting for
//   (data arrived between our last read and this wait), it looks with one
//   recv(MSG_PEEK) and completes at once if anything is there.
// FdTlsStream only waits after a read found the socket empty, so every later byte
// raises a new edge that one of the two paths sees.
//
// It relies on Asio's reactor internals, so it is compiled for the Boost release it
// was written against (1.81, Debian 12) with the epoll reactor only; anywhere else
// FdTlsStream falls back to socket.async_wait.

#include <boost/asio/detail/config.hpp>
#include <boost/version.hpp>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(BOOST_ASIO_DISABLE_EPOLL)
#define AGENTHOST_HAS_READABLE_OP 1

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <utility>

#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>

namespace agenthost::net::detail {

namespace adetail = boost::asio::detail;

// True while this thread is inside the reactor's start_op for a ReadableOp: tells the
// operation's perform step a speculative attempt from a reactor-driven one.
inline thread_local bool t_starting_readable_wait = false;

template <class Handler, class IoExecutor>
class ReadableOp : public adetail::reactor_op {
public:
    BOOST_ASIO_DEFINE_HANDLER_PTR(ReadableOp);

    ReadableOp(int fd, Handler& handler, const IoExecutor& io_ex)
        : adetail::reactor_op(boost::system::error_code(), &ReadableOp::do_perform,
                              &ReadableOp::do_complete),
          fd_(fd),
          handler_(std::move(handler)),
          work_(handler_, io_ex) {}

    static status do_perform(adetail::reactor_op* base) {
        if (!t_starting_readable_wait) {
            return done_and_exhausted;  // the reactor saw the edge
        }
        auto* o = static_cast<ReadableOp*>(base);
        char byte = 0;
        const ssize_t n = ::recv(o->fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return not_done;
        }
        return done;  // data, end of stream or an error: the read that follows tells
    }

    static void do_complete(void* owner, adetail::operation* base,
                            const boost::system::error_code&, std::size_t) {
        auto* o = static_cast<ReadableOp*>(base);
        ptr p = {adetail::addressof(o->handler_), o, o};
        adetail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
        // The handler is moved out before the operation's memory is released: it may
        // own that memory (Asio's rule for every operation).
        adetail::binder1<Handler, boost::system::error_code> handler(o->handler_, o->ec_);
        p.h = adetail::addressof(handler.handler_);
        p.reset();
        if (owner != nullptr) {
            adetail::fenced_block b(adetail::fenced_block::half);
            w.complete(handler, handler.handler_);
        }
    }

private:
    int fd_;
    Handler handler_;
    adetail::handler_work<Handler, IoExecutor> work_;
};

// Reaches the socket's reactor registration (basic_socket keeps it protected).
struct SocketInternals : boost::asio::ip::tcp::socket {
    static auto& implementation(boost::asio::ip::tcp::socket& s) {
        return (s.*(&SocketInternals::impl_)).get_implementation();
    }
};

inline adetail::reactor& reactor_of(boost::asio::ip::tcp::socket& s) {
    return boost::asio::use_service<adetail::reactor>(
        boost::asio::query(s.get_executor(), boost::asio::execution::context));
}

// Completes `handler` (void(error_code)) once `s` is readable; operation_aborted if
// the socket is closed or cancelled first. `s` must be open and non-blocking.
template <class Handler>
void async_readable(boost::asio::ip::tcp::socket& s, adetail::reactor& reactor,
                    Handler&& handler) {
    using Executor = boost::asio::ip::tcp::socket::executor_type;
    using Op = ReadableOp<std::decay_t<Handler>, Executor>;
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    typename Op::ptr p = {adetail::addressof(handler), Op::ptr::allocate(handler), nullptr};
    auto& impl = SocketInternals::implementation(s);
    p.p = new (p.v) Op(impl.socket_, handler, s.get_executor());
    t_starting_readable_wait = true;
    reactor.start_op(adetail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                     is_continuation, true);
    t_starting_readable_wait = false;
    p.v = p.p = nullptr;
}

}  // namespace agenthost::net::detail

#endif
