# Project-wide warning and sanitizer flags, applied to every target defined after this.
add_compile_options(-Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(AGENTHOST_WERROR)
  add_compile_options(-Werror)
  # GCC 12 at -O3 (Release: the benchmark tree) reports std::string SSO copies as
  # "maybe uninitialized" (GCC bug 105562, false positives); -O2 trees are unaffected.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    add_compile_options($<$<CONFIG:Release>:-Wno-error=maybe-uninitialized>)
  endif()
endif()
if(AGENTHOST_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
# Asio: use the std:: error/memory facilities and keep Beast/Asio in few TUs.
add_compile_definitions(BOOST_ASIO_NO_DEPRECATED BOOST_DLL_USE_STD_FS
                        BOOST_BEAST_USE_STD_STRING_VIEW)
