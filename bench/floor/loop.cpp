#include "bench/floor/loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace echo_floor {

Loop::Loop(const Options& o, std::string payload, int stop_fd)
    : o_(o), payload_(std::move(payload)), ep_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (ep_ < 0 || wake_ < 0) {
        throw std::runtime_error(errno_text("epoll/eventfd"));
    }
    // Level-triggered: the stop event (never read) wakes every loop sharing it.
    watch(stop_fd, EPOLLIN, nullptr);
    watch(wake_, EPOLLIN | EPOLLET, this);
}

Loop::~Loop() {
    ::close(wake_);
    ::close(ep_);
}

void Loop::adopt(std::unique_ptr<Conn> c) {
    {
        std::lock_guard lock(mu_);
        incoming_.push_back(std::move(c));
    }
    std::uint64_t one = 1;
    if (::write(wake_, &one, sizeof one) != sizeof one) {
        std::perror("echo_floor: eventfd write");
    }
}

void Loop::run() {
    for (;;) {
        epoll_event events[256];
        int n = ::epoll_wait(ep_, events, 256, -1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fail(errno_text("epoll_wait"));
            return;
        }
        for (int i = 0; i < n; ++i) {
            void* tag = events[i].data.ptr;
            if (tag == nullptr) {
                return;
            }
            if (tag == this) {
                take_incoming();
            } else if (!on_ready(*static_cast<Conn*>(tag))) {
                conns_.erase(static_cast<Conn*>(tag));
                if (!o_.server) {
                    fail("a connection failed: closed by the server, a socket or TLS error, or a "
                         "wrong echo");
                    return;
                }
            }
        }
    }
}

void Loop::watch(int fd, std::uint32_t events, void* tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = tag;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        throw std::runtime_error(errno_text("epoll_ctl"));
    }
}

void Loop::fail(std::string why) {
    failure_ = std::move(why);
    failed_.store(true, std::memory_order_release);
}

void Loop::take_incoming() {
    std::uint64_t count;
    while (::read(wake_, &count, sizeof count) > 0) {
    }
    std::vector<std::unique_ptr<Conn>> batch;
    {
        std::lock_guard lock(mu_);
        batch.swap(incoming_);
    }
    for (auto& owned : batch) {
        Conn* c = owned.get();
        conns_.emplace(c, std::move(owned));
        // EPOLLOUT is ready at once, so the first event sends the client's first
        // message and reads what the handshake may have left in rbio.
        watch(c->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c);
        if (!o_.server) {
            queue(*c, payload_.data(), payload_.size());
        }
    }
}

// Reads until the socket is drained, handles the bytes, sends what they produced.
bool Loop::on_ready(Conn& c) {
    for (;;) {
        ssize_t n = ::read(c.fd, in_, sizeof in_);
        if (n > 0) {
            if (!on_bytes(c, in_, static_cast<std::size_t>(n))) {
                return false;
            }
            if (static_cast<std::size_t>(n) < sizeof in_) {
                break;
            }
        } else if (n == 0) {
            return false;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            return false;
        }
    }
    if (c.ssl != nullptr) {  // the handshake may have left records in rbio
        if (!drain_tls(c)) {
            return false;
        }
    }
    return flush(c);
}

bool Loop::on_bytes(Conn& c, const char* p, std::size_t n) {
    if (c.ssl == nullptr) {
        return on_plain(c, p, n);
    }
    return BIO_write(c.rbio, p, static_cast<int>(n)) == static_cast<int>(n);
}

bool Loop::drain_tls(Conn& c) {
    for (;;) {
        std::size_t got = 0;
        if (SSL_read_ex(c.ssl, plain_, sizeof plain_, &got) == 1) {
            if (!on_plain(c, plain_, got)) {
                return false;
            }
            // Skips the call that would only say WANT_READ when nothing is left.
            if (BIO_ctrl_pending(c.rbio) == 0 && SSL_has_pending(c.ssl) == 0) {
                return true;
            }
            continue;
        }
        return SSL_get_error(c.ssl, 0) == SSL_ERROR_WANT_READ;
    }
}

bool Loop::on_plain(Conn& c, const char* p, std::size_t n) {
    if (o_.server) {
        return queue(c, p, n);
    }
    // One message in flight: everything received belongs to the current echo.
    if (c.reply_got + n > payload_.size() ||
        std::memcmp(payload_.data() + c.reply_got, p, n) != 0) {
        return false;
    }
    c.reply_got += n;
    if (c.reply_got < payload_.size()) {
        return true;
    }
    c.reply_got = 0;
    round_trips_.store(round_trips_.load(std::memory_order_relaxed) + 1,
                       std::memory_order_relaxed);
    return queue(c, payload_.data(), payload_.size());
}

// Output is bounded: the client has one message in flight, the server echoes it.
bool Loop::queue(Conn& c, const char* p, std::size_t n) {
    if (c.ssl == nullptr) {
        c.out.append(p, n);
        return true;
    }
    std::size_t written = 0;
    return SSL_write_ex(c.ssl, p, n, &written) == 1 && written == n;
}

bool Loop::flush(Conn& c) {
    if (c.ssl != nullptr) {
        if (std::size_t pending = BIO_ctrl_pending(c.wbio); pending > 0) {
            std::size_t at = c.out.size();
            c.out.resize(at + pending);
            BIO_read(c.wbio, c.out.data() + at, static_cast<int>(pending));
        }
    }
    while (c.out_sent < c.out.size()) {
        ssize_t w = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                           MSG_NOSIGNAL);
        if (w >= 0) {
            c.out_sent += static_cast<std::size_t>(w);
        } else if (errno == EAGAIN) {
            return true;  // the EPOLLOUT edge resumes it
        } else if (errno != EINTR) {
            return false;
        }
    }
    c.out.clear();
    c.out_sent = 0;
    return true;
}

}  // namespace echo_floor
