#pragma once
// The ABI tag: a signature of the build conditions that decide binary layout, in
// the spirit of nginx's module signature. Every plugin exports it as a plain data
// symbol (`agenthost_abi_tag`); the kernel reads and compares it *before* calling
// any function of the plugin, and refuses the library on any difference.
//
// Fields: SDK major, compiler family and major version, standard-library ABI,
// Boost version, and a SHA-256 prefix over the SDK headers (computed at build
// time into agenthost/sdk_hash.hpp). See sdk/ABI.md for the compatibility policy.

#include <boost/version.hpp>

#include <agenthost/sdk_hash.hpp>
#include <agenthost/version.hpp>

#define AGENTHOST_ABI_STR2(x) #x
#define AGENTHOST_ABI_STR(x) AGENTHOST_ABI_STR2(x)

#if defined(__clang__)
#define AGENTHOST_ABI_COMPILER "clang-" AGENTHOST_ABI_STR(__clang_major__)
#elif defined(__GNUC__)
#define AGENTHOST_ABI_COMPILER "gcc-" AGENTHOST_ABI_STR(__GNUC__)
#else
#define AGENTHOST_ABI_COMPILER "unknown"
#endif

// Include a standard header so the library's configuration macros are visible.
#include <cstddef>
#if defined(_LIBCPP_VERSION)
#define AGENTHOST_ABI_STDLIB "libc++-" AGENTHOST_ABI_STR(_LIBCPP_ABI_VERSION)
#elif defined(__GLIBCXX__)
#if _GLIBCXX_USE_CXX11_ABI
#define AGENTHOST_ABI_STDLIB "libstdc++-cxx11"
#else
#define AGENTHOST_ABI_STDLIB "libstdc++-cow"
#endif
#else
#define AGENTHOST_ABI_STDLIB "unknown"
#endif

#define AGENTHOST_ABI_TAG                                                               \
    "agenthost-sdk/" AGENTHOST_ABI_STR(AGENTHOST_SDK_VERSION_MAJOR) ";cxx=" AGENTHOST_ABI_COMPILER \
    ";stdlib=" AGENTHOST_ABI_STDLIB ";boost=" AGENTHOST_ABI_STR(BOOST_VERSION) ";hdr=" \
    AGENTHOST_SDK_HEADERS_HASH

namespace agenthost::sdk {
// The tag this translation unit was compiled with.
inline constexpr const char* abi_tag = AGENTHOST_ABI_TAG;
// Name of the exported data symbol holding a plugin's tag, and of its entry function.
inline constexpr const char* abi_tag_symbol = "agenthost_abi_tag";
inline constexpr const char* entry_symbol = "agenthost_plugin_entry_v1";
}  // namespace agenthost::sdk
