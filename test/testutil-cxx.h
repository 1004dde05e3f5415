/* testutil-cxx.h: the check macro of the C++ test programs (testutil.h is C11 with <stdatomic.h>).
   CHECK(cond, fmt, ...) counts a pass or prints the failure with its location; the counters are
   atomic, so threads may check too. The program prints its summary from t_cxx_passed/failed. */
#ifndef SA_TESTUTIL_CXX_H
#define SA_TESTUTIL_CXX_H

#include <atomic>
#include <cstdio>

static std::atomic<int> t_cxx_passed{0}, t_cxx_failed{0};

#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (cond) {                                                              \
      t_cxx_passed++;                                                        \
    } else {                                                                 \
      t_cxx_failed++;                                                        \
      std::fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
    }                                                                        \
  } while (0)

#endif
