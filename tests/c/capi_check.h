/* Small assertion macros for the C tests (doctest is C++).
 *
 * A failed check prints file, line, test, the expression, the codes (for
 * status checks) and the error message, then exits with status 1. The
 * checks of status codes use a variable `err` (char*, NULL at first) in the
 * enclosing scope as the errptr of the call.
 */
#ifndef TXJ_TESTS_C_CAPI_CHECK_H_
#define TXJ_TESTS_C_CAPI_CHECK_H_

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txjournal/c.h"

/* The test now running, for failure messages. */
extern const char* capi_current_test;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: FAILED in test %s: CHECK(%s)\n", __FILE__, __LINE__,                 \
              capi_current_test, #cond);                                                           \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* Checks that `call` returns `code`; `err` holds the call's message. */
#define CHECK_RC(code, call)                                                                       \
  do {                                                                                             \
    int capi_rc_ = (call);                                                                         \
    if (capi_rc_ != (code)) {                                                                      \
      fprintf(stderr, "%s:%d: FAILED in test %s: %s\n  returned %d (%s), expected %d (%s)\n  message: %s\n", \
              __FILE__, __LINE__, capi_current_test, #call, capi_rc_, txj_code_name(capi_rc_),     \
              (int)(code), txj_code_name(code), err != NULL ? err : "(none)");                     \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

#define CHECK_OK(call) CHECK_RC(TXJ_OK, call)

/* Checks that the last call left a message containing `needle` in `err`. */
#define CHECK_ERR_HAS(needle)                                                                      \
  do {                                                                                             \
    if (err == NULL || strstr(err, (needle)) == NULL) {                                            \
      fprintf(stderr, "%s:%d: FAILED in test %s: message %s%s%s does not contain \"%s\"\n", __FILE__, \
              __LINE__, capi_current_test, err ? "\"" : "", err ? err : "(none)", err ? "\"" : "",  \
              (needle));                                                                           \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* Compares a (pointer, length) view with a C string. */
#define CHECK_VIEW(ptr, len, str) CHECK((len) == strlen(str) && memcmp((ptr), (str), (len)) == 0)

#endif /* TXJ_TESTS_C_CAPI_CHECK_H_ */
