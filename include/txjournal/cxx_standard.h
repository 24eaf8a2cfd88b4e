// txjournal: the C++ API needs C++20 (std::stop_token, std::span, ...).
// Every public C++ header includes this one first, so that an older
// standard fails with this message instead of errors deep in a header.
// Not included by export.h, which the C API shares: a C program, or a C++
// program of any standard using only the C API, is not affected.
#ifndef TXJOURNAL_CXX_STANDARD_H_
#define TXJOURNAL_CXX_STANDARD_H_

#if defined(__cplusplus)
#if defined(_MSVC_LANG)
#define TXJOURNAL_CPLUSPLUS_ _MSVC_LANG
#else
#define TXJOURNAL_CPLUSPLUS_ __cplusplus
#endif
#if TXJOURNAL_CPLUSPLUS_ < 202002L
#error "txjournal's C++ API needs C++20 or later: compile with -std=c++20 (or -std=gnu++20)"
// A missing header is fatal: the compilation stops here, after the message
// above, instead of going on into errors deep inside the headers.
#include <txjournal-needs-cxx20>
#endif
#undef TXJOURNAL_CPLUSPLUS_
#endif  // __cplusplus

#endif  // TXJOURNAL_CXX_STANDARD_H_
