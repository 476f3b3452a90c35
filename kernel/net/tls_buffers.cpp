// See tls_buffers.hpp. Asio exposes no knob for these sizes, so this reaches the
// private members with the explicit-instantiation access rule ([temp.spec.general]:
// access checking does not apply to the names in an explicit instantiation) — legal
// C++, but tied to Asio's layout: the static_assert makes a Boost upgrade revisit it.
#include "kernel/net/tls_buffers.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <boost/version.hpp>

static_assert(BOOST_VERSION == 108100,
              "shrink_tls_buffers() reaches into Boost 1.81's ssl::stream: check it still "
              "matches this Boost version (stream_core buffers, engine::ext_bio_)");

namespace agenthost::net::detail {

namespace {

using AsioTls = asio::ssl::stream<beast::tcp_stream>;
using FlatTls = beast::flat_stream<AsioTls>;
using Core = asio::ssl::detail::stream_core;
using Engine = asio::ssl::detail::engine;

template <typename Tag, typename Tag::type Member>
struct Expose {
    friend typename Tag::type member(Tag) { return Member; }
};

struct BeastImpl {
    using type = std::unique_ptr<FlatTls> TlsStream::*;
    friend type member(BeastImpl);
};
struct AsioCore {
    using type = Core AsioTls::*;
    friend type member(AsioCore);
};
struct EngineBio {
    using type = BIO* Engine::*;
    friend type member(EngineBio);
};

template struct Expose<BeastImpl, &TlsStream::p_>;
template struct Expose<AsioCore, &AsioTls::core_>;
template struct Expose<EngineBio, &Engine::ext_bio_>;

}  // namespace

void shrink_tls_buffers(TlsStream& stream, std::size_t bytes) {
    FlatTls& flat = *(stream.*member(BeastImpl{}));
    Core& core = flat.next_layer().*member(AsioCore{});
    if (core.input_.size() != 0) {
        return;  // not a fresh stream: leave it alone
    }
    std::vector<unsigned char>(bytes).swap(core.output_buffer_space_);
    core.output_buffer_ = asio::buffer(core.output_buffer_space_);
    std::vector<unsigned char>(bytes).swap(core.input_buffer_space_);
    core.input_buffer_ = asio::buffer(core.input_buffer_space_);
    core.input_ = asio::const_buffer();

    BIO* internal = nullptr;
    BIO* external = nullptr;
    if (BIO_new_bio_pair(&internal, bytes, &external, bytes) != 1) {
        return;  // keep Asio's pair
    }
    SSL* ssl = stream.native_handle();
    BIO*& engine_bio = core.engine_.*member(EngineBio{});
    SSL_set_bio(ssl, internal, internal);  // frees the old internal half
    BIO_free(engine_bio);                  // and this frees the old external half
    engine_bio = external;
}

}  // namespace agenthost::net::detail
