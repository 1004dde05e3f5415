/* testutil.h: the check macros, counters and memory-pattern helpers shared by every shardalloc test
   program. Header-only (each test is one program that includes it once); plain C11 + POSIX, safe to
   use from several threads. No allocation happens inside a failure report, so a broken allocator
   still gets its failures printed. */
#ifndef SA_TESTUTIL_H
#define SA_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Only the first failures are printed in full: a broken size-class table would otherwise print a
   million lines and hide the first, most telling one. */
#ifndef T_MAX_PRINTED_FAILURES
#define T_MAX_PRINTED_FAILURES 40
#endif

static atomic_ullong t_passed;
static atomic_ullong t_failed;
static const char* t_program = "test";
static double t_start_time;

static inline double t_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Hides a pointer's provenance from the optimiser. The allocation functions carry `malloc`,
   `alloc_size` and `alloc_align` attributes, so without this the compiler may fold an alignment
   check to true, two results to "never equal", or (with _FORTIFY_SOURCE) trap a legal write into
   the usable-but-not-requested tail of a block. */
static inline void* t_launder(const void* p) {
  void* q = (void*)(uintptr_t)p;
#if defined(__GNUC__)
  __asm__ volatile("" : "+r"(q) : : "memory");
#endif
  return q;
}
static inline uintptr_t t_addr(const void* p) { return (uintptr_t)t_launder(p); }
static inline bool t_is_aligned(const void* p, size_t alignment) {
  return alignment == 0 || (t_addr(p) % alignment) == 0;
}

/* T_UNDER_TSAN: built with -fsanitize=thread. Its shadow memory (several bytes per byte of
   application memory ever touched) stays resident, so RSS bounds cannot be checked there. */
#if defined(__SANITIZE_THREAD__)
#define T_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_UNDER_TSAN 1
#endif
#endif
#ifndef T_UNDER_TSAN
#define T_UNDER_TSAN 0
#endif
/* T_UNDER_ASAN: built with -fsanitize=address. Poisoning free blocks writes shadow memory that
   stays resident after the blocks' memory is given back, so RSS bounds cannot be checked there. */
#if defined(__SANITIZE_ADDRESS__)
#define T_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_UNDER_ASAN 1
#endif
#endif
#ifndef T_UNDER_ASAN
#define T_UNDER_ASAN 0
#endif

/* Quick mode (SHARDALLOC_TEST_QUICK=1, set by CMake for the SHARDALLOC_DEBUG>0 build, where every
   operation runs the full invariant checks) shrinks iteration counts, never the set of cases. */
static inline bool t_quick(void) {
  const char* s = getenv("SHARDALLOC_TEST_QUICK");
  return s != NULL && s[0] != 0 && strcmp(s, "0") != 0;
}
static inline size_t t_scaled(size_t full, size_t quick) { return t_quick() ? quick : full; }

/* What a loop is currently testing ("mi_malloc size=%ju"), kept unformatted per thread and
   printed only with a failure, so setting it costs nothing in the hot loops. */
static _Thread_local const char* t_ctx_fmt;
static _Thread_local uintmax_t t_ctx_arg[3];
static inline void t_ctx(const char* fmt, uintmax_t a, uintmax_t b, uintmax_t c) {
  t_ctx_fmt = fmt;
  t_ctx_arg[0] = a;
  t_ctx_arg[1] = b;
  t_ctx_arg[2] = c;
}

/* An errno value no library call sets: stored first, it shows whether a call touched errno. */
#define T_ERRNO_SENTINEL 12345

static bool t_fail_at(const char* file, int line, const char* expr, const char* fmt, ...) {
  unsigned long long n = atomic_fetch_add(&t_failed, 1) + 1;
  if (n > T_MAX_PRINTED_FAILURES) {
    if (n == T_MAX_PRINTED_FAILURES + 1)
      fputs("... further failures are counted, not printed\n", stderr);
    return false;
  }
  char buf[1024];
  int len = snprintf(buf, sizeof buf, "%s:%d: FAIL: %s -- ", file, line, expr);
  if (len < 0 || (size_t)len >= sizeof buf) len = 0;
  if (t_ctx_fmt != NULL) {
    size_t used = (size_t)len;
    int more = snprintf(buf + used, sizeof buf - used, "[");
    if (more > 0) used += (size_t)more;
    more = snprintf(buf + used, sizeof buf - used, t_ctx_fmt, t_ctx_arg[0], t_ctx_arg[1],
                    t_ctx_arg[2]);
    if (more > 0 && used + (size_t)more < sizeof buf) used += (size_t)more;
    more = snprintf(buf + used, sizeof buf - used, "] ");
    if (more > 0 && used + (size_t)more < sizeof buf) used += (size_t)more;
    len = (int)used;
  }
  va_list args;
  va_start(args, fmt);
  vsnprintf(buf + len, sizeof buf - (size_t)len, fmt, args);
  va_end(args);
  fprintf(stderr, "%s\n", buf);  // one call, so lines from different threads do not interleave
  fflush(stderr);
  return false;
}

static inline bool t_pass(void) {
  atomic_fetch_add_explicit(&t_passed, 1, memory_order_relaxed);
  return true;
}

/* CHECK(cond, fmt, ...): counts one check; on failure prints file:line, the condition and the
   formatted values. Evaluates to cond, so callers can skip dependent checks. */
#define CHECK(cond, ...) CHECK_AS(cond, #cond, __VA_ARGS__)
#define CHECK_AS(cond, text, ...) \
  ((cond) ? t_pass() : t_fail_at(__FILE__, __LINE__, text, __VA_ARGS__))

/* Typed comparisons that print both sides. */
#define CHECK_EQ(a, b)                                                              \
  CHECK_AS((uintmax_t)(a) == (uintmax_t)(b), #a " == " #b,                          \
           "got %ju (0x%jx), expected %ju (0x%jx)", (uintmax_t)(a), (uintmax_t)(a), \
           (uintmax_t)(b), (uintmax_t)(b))
#define CHECK_GE(a, b)                                                                  \
  CHECK_AS((uintmax_t)(a) >= (uintmax_t)(b), #a " >= " #b, "%ju < %ju", (uintmax_t)(a), \
           (uintmax_t)(b))
#define CHECK_LE(a, b)                                                                  \
  CHECK_AS((uintmax_t)(a) <= (uintmax_t)(b), #a " <= " #b, "%ju > %ju", (uintmax_t)(a), \
           (uintmax_t)(b))
#define CHECK_NULL(p) CHECK_AS((p) == NULL, #p " == NULL", "got %p", t_launder(p))
#define CHECK_NOT_NULL(p, ...) CHECK_AS((p) != NULL, #p " != NULL", __VA_ARGS__)
#define CHECK_ALIGNED(p, al)                                                                \
  CHECK_AS(t_is_aligned((p), (al)), #p " aligned to " #al, "%p %% %zu = %zu", t_launder(p), \
           (size_t)(al), (size_t)(t_addr(p) % (size_t)(al)))
/* errno tests: print the symbolic name, not just the number. */
#define CHECK_ERRNO(got, want)                                                              \
  CHECK_AS((got) == (want), #got " == " #want, "got %d (%s), expected %d (%s)", (int)(got), \
           t_errname(got), (int)(want), t_errname(want))

static inline const char* t_errname(int e) {
  switch (e) {
    case 0: return "0";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EOVERFLOW: return "EOVERFLOW";
    case ENOENT: return "ENOENT";
    case T_ERRNO_SENTINEL: return "sentinel";
    default: return "other";
  }
}

static inline void t_begin(const char* program, const char* what) {
  t_program = program;
  t_start_time = t_now();
  printf("%s: %s%s\n", program, what, t_quick() ? " (quick mode)" : "");
  fflush(stdout);
}

/* Prints what the next group of checks is about. */
static inline void t_section(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  printf("  - ");
  vprintf(fmt, args);
  printf("\n");
  va_end(args);
  fflush(stdout);
}

static inline int t_end(void) {
  unsigned long long ok = atomic_load(&t_passed), bad = atomic_load(&t_failed);
  printf("%s: %llu passed, %llu failed (%.2f s)\n", t_program, ok, bad, t_now() - t_start_time);
  fflush(stdout);
  return bad == 0 && ok > 0 ? 0 : 1;
}

/* ---- Random numbers (splitmix64; each thread keeps its own state) ---- */
static inline uint64_t t_mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
static inline uint64_t t_rand(uint64_t* state) {
  *state += 0x9E3779B97F4A7C15ull;
  return t_mix64(*state);
}
static inline size_t t_rand_range(uint64_t* state, size_t lo, size_t hi) {  // inclusive
  return lo + (size_t)(t_rand(state) % (uint64_t)(hi - lo + 1));
}

/* ---- Memory patterns ----
   Byte i of the pattern for `seed` is byte (i % 8) of the word seed + (i / 8) * K, so a shifted,
   truncated or foreign copy is caught, and a prefix of a pattern is a pattern (for realloc). */
#define T_PATTERN_K 0x9E3779B97F4A7C15ull

static inline void t_fill(void* p, size_t n, uint64_t seed) {
  unsigned char* b = (unsigned char*)t_launder(p);
  size_t words = n / 8;
  for (size_t k = 0; k < words; k++) {
    uint64_t w = seed + (uint64_t)k * T_PATTERN_K;
    memcpy(b + k * 8, &w, 8);
  }
  uint64_t w = seed + (uint64_t)words * T_PATTERN_K;
  for (size_t i = words * 8; i < n; i++) b[i] = (unsigned char)(w >> ((i % 8) * 8));
}

/* Index of the first byte that differs from the pattern, or SIZE_MAX if all match. */
static inline size_t t_check_fill(const void* p, size_t n, uint64_t seed) {
  const unsigned char* b = (const unsigned char*)t_launder(p);
  size_t words = n / 8;
  for (size_t k = 0; k < words; k++) {
    uint64_t w = seed + (uint64_t)k * T_PATTERN_K, got;
    memcpy(&got, b + k * 8, 8);
    if (got != w) {
      for (size_t i = 0; i < 8; i++)
        if (b[k * 8 + i] != (unsigned char)(w >> (i * 8))) return k * 8 + i;
    }
  }
  uint64_t w = seed + (uint64_t)words * T_PATTERN_K;
  for (size_t i = words * 8; i < n; i++)
    if (b[i] != (unsigned char)(w >> ((i % 8) * 8))) return i;
  return SIZE_MAX;
}

/* Index of the first byte that is not `value`, or SIZE_MAX. */
static inline size_t t_find_not(const void* p, size_t n, unsigned char value) {
  const unsigned char* b = (const unsigned char*)t_launder(p);
  size_t i = 0;
  uint64_t w = 0x0101010101010101ull * value;
  for (; i < n && (((uintptr_t)(b + i)) & 7) != 0; i++)
    if (b[i] != value) return i;
  for (; i + 8 <= n; i += 8) {
    uint64_t got;
    memcpy(&got, b + i, 8);
    if (got != w) break;
  }
  for (; i < n; i++)
    if (b[i] != value) return i;
  return SIZE_MAX;
}
static inline size_t t_find_nonzero(const void* p, size_t n) { return t_find_not(p, n, 0); }

/* Fills with a pattern / checks it, counting one check and reporting the first bad byte. */
#define CHECK_FILL(p, n, seed)                                                             \
  do {                                                                                     \
    size_t t_bad_ = t_check_fill((p), (n), (seed));                                        \
    CHECK_AS(t_bad_ == SIZE_MAX, "pattern of " #p,                                         \
             "pattern broken in %s (%p, %zu bytes) at byte %zu: 0x%02x", #p, t_launder(p), \
             (size_t)(n), t_bad_,                                                          \
             t_bad_ == SIZE_MAX ? 0u : ((const unsigned char*)t_launder(p))[t_bad_]);      \
  } while (0)
#define CHECK_ZERO(p, n)                                                                       \
  do {                                                                                         \
    size_t t_bad_ = t_find_nonzero((p), (n));                                                  \
    CHECK_AS(t_bad_ == SIZE_MAX, #p " is zeroed",                                              \
             "%s (%p, %zu bytes) not zero at byte %zu: 0x%02x", #p, t_launder(p), (size_t)(n), \
             t_bad_, t_bad_ == SIZE_MAX ? 0u : ((const unsigned char*)t_launder(p))[t_bad_]);  \
  } while (0)

#define T_KiB ((size_t)1024)
#define T_MiB ((size_t)1024 * 1024)
#define T_GiB ((size_t)1024 * 1024 * 1024)

/* Resident set size of this process in bytes (0 if /proc is unavailable). */
static inline size_t t_rss_bytes(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (f == NULL) return 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* The same without allocating (fopen would: that is allocator activity, which tests of idle
   processes must not cause). */
static inline size_t t_rss_bytes_quiet(void) {
  char buf[128];
  const int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return 0;
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* s = strchr(buf, ' ');
  return (s == NULL ? 0 : (size_t)strtoull(s + 1, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE));
}

/* Waits for child process `pid` (the `what` number `n`) at most `seconds`; a child still running
   then is killed (a hang: a deadlock after fork, say). True if it exited with status 0, else one
   failure saying how it ended. */
// The parent's side of a child whose stderr goes to the pipe `fd`: reads all of it into `buf`
// (NUL-terminated), closes `fd`, waits for the child; its wait status.
static inline int t_child_output(pid_t pid, int fd, char* buf, size_t size) {
  size_t len = 0;
  ssize_t n;
  while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0) len += (size_t)n;
  buf[len] = 0;
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

static inline bool t_wait_child(pid_t pid, double seconds, const char* what, int n) {
  const double deadline = t_now() + seconds;
  int status = 0;
  pid_t got;
  while ((got = waitpid(pid, &status, WNOHANG)) == 0 && t_now() < deadline) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return CHECK(false, "%s %d (pid %d) still running after %.0f s: killed", what, n, (int)pid,
                 seconds);
  }
  if (!CHECK(got == pid, "waitpid(%d) failed: %s", (int)pid, strerror(errno))) return false;
  if (WIFSIGNALED(status))
    return CHECK(false, "%s %d died of signal %d (%s)", what, n, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
  return CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %d exited with status %d",
               what, n, WEXITSTATUS(status));
}

/* Runs this program again (`argv` of main) in a child process whose environment also has the
   NAME=VALUE strings of `env` (NULL-terminated): one more process with an allocator started
   afresh. Waits for it as t_wait_child does. */
static inline bool t_run_self(char** argv, const char* const* env, double seconds, int n) {
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    for (size_t i = 0; env[i] != NULL; i++) putenv((char*)(uintptr_t)env[i]);
    execv("/proc/self/exe", argv);
    _exit(127);
  }
  if (!CHECK(pid > 0, "fork failed: %s", strerror(errno))) return false;
  return t_wait_child(pid, seconds, "process", n);
}

#endif
