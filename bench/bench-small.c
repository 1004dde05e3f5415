/* bench-small: the `small-loop` workload (WORKLOADS.md; the loop itself is
   workloads/small-loop.c, which bench-suite runs too). Calls only plain malloc/free, so any
   allocator can be swapped in with LD_PRELOAD; --compare re-executes this binary once per
   allocator found on the machine, interleaving the runs, and checks that each child really ran on
   the allocator it was meant to (dlsym + dladdr on malloc and free). Threads share only the
   read-only size table. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workloads/small-loop.h"

#ifndef SHARDALLOC_LIB
#define SHARDALLOC_LIB "libshardalloc.so"
#endif

#define MAX_RUNS       101
#define MAX_ALLOCATORS 8

typedef struct options_s {
  uint64_t pairs;   /* malloc/free pairs per thread */
  unsigned threads; /* independent threads running the same loop */
  unsigned window;  /* live blocks per thread: free the oldest, allocate a new one */
  unsigned runs;    /* rounds in --compare mode */
  uint64_t seed;
  bool compare;
  bool child;             /* machine-readable output for the --compare parent */
  const char* only;       /* --compare: comma-separated allocator names to run, or NULL */
  const char* shardalloc; /* path of libshardalloc.so to preload */
  const char* csv;        /* --compare: per-run results file, or NULL */
} options_t;

/* The shared object that provides `name` in this process, as dladdr reports it. */
static const char* provider_of(const char* name) {
  void* sym = dlsym(RTLD_DEFAULT, name);
  Dl_info info;
  if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) return "?";
  return info.dli_fname;
}

static int run_single(const options_t* opt) {
  const char* malloc_from = provider_of("malloc");
  const char* free_from = provider_of("free");
  uint64_t checksum;
  small_loop_cfg_t cfg = {
      .pairs = opt->pairs, .threads = opt->threads, .window = opt->window, .seed = opt->seed};
  double ns = small_loop_run(&cfg, &checksum);
  if (ns < 0) {
    fprintf(stderr, "bench-small: allocation failed\n");
    return 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  if (opt->child) {
    printf("malloc-from %s\nfree-from %s\n", malloc_from, free_from);
    printf("result wall_ns=%.0f checksum=%llu\n", ns, (unsigned long long)checksum);
    return 0;
  }
  double total = (double)opt->pairs * opt->threads;
  printf("malloc from: %s\nfree from:   %s\n", malloc_from, free_from);
  printf("small-loop: %llu pairs x %u thread(s), sizes %d..%d B, window %u\n",
         (unsigned long long)opt->pairs, opt->threads, SMALL_LOOP_MIN_B, SMALL_LOOP_MAX_B,
         opt->window);
  printf(
      "  time %.3f s, %.2f ns per pair (per thread), %.1f M pairs/s (all threads), "
      "peak RSS %.1f MiB (checksum %llu)\n",
      ns / 1e9, ns / (double)opt->pairs, total / ns * 1e3, ru.ru_maxrss / 1024.0,
      (unsigned long long)checksum);
  return 0;
}

/* ---------------------------------------------------------------------------------------------
   --compare: one child per allocator and round, interleaved
------------------------------------------------------------------------------------------------ */

typedef struct allocator_s {
  const char* name;
  const char* preload; /* NULL: no preload (glibc) */
  bool present;
  bool failed; /* a child crashed, failed, or ran on the wrong allocator */
  double wall_ns[MAX_RUNS];
  long rss_kib[MAX_RUNS];
  unsigned nruns;
} allocator_t;

static bool selected(const options_t* opt, const char* name) {
  if (opt->only == NULL) return true;
  size_t n = strlen(name);
  for (const char* s = opt->only; *s != 0;) {
    size_t len = strcspn(s, ",");
    if (len == n && strncmp(s, name, n) == 0) return true;
    s += len;
    if (*s == ',') s++;
  }
  return false;
}

static const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Did the child's malloc come from the library we meant it to use? */
static bool served_by(const allocator_t* a, const char* reported) {
  if (a->preload == NULL) return strcmp(base_name(reported), "libc.so.6") == 0;
  char want[PATH_MAX], got[PATH_MAX];
  if (realpath(a->preload, want) == NULL || realpath(reported, got) == NULL) return false;
  return strcmp(want, got) == 0;
}

/* Runs one child on allocator `a`; records its time and peak RSS, or marks `a` failed. */
static void run_child(const options_t* opt, allocator_t* a) {
  char pairs[32], threads[16], window[16], seed[32];
  snprintf(pairs, sizeof pairs, "%llu", (unsigned long long)opt->pairs);
  snprintf(threads, sizeof threads, "%u", opt->threads);
  snprintf(window, sizeof window, "%u", opt->window);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)opt->seed);
  char* argv[] = {"bench-small", "--child", "--pairs", pairs, "--threads", threads,
                  "--window",    window,    "--seed",  seed,  NULL};

  int fds[2];
  if (pipe(fds) != 0) {
    perror("bench-small: pipe");
    exit(1);
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    perror("bench-small: fork");
    exit(1);
  }
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDOUT_FILENO);
    close(fds[1]);
    if (a->preload != NULL) {
      setenv("LD_PRELOAD", a->preload, 1);
    } else {
      unsetenv("LD_PRELOAD");
    }
    execv("/proc/self/exe", argv);
    perror("bench-small: execv /proc/self/exe");
    _exit(127);
  }
  close(fds[1]);
  char out[4096];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fds[0], out + len, sizeof(out) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof(out) - 1) break;
  }
  out[len] = 0;
  close(fds[0]);
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("bench-small: wait4");
      exit(1);
    }
  }

  if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0) {
    if (WIFSIGNALED(status)) {
      printf("  %s: child killed by signal %d (%s)\n", a->name, WTERMSIG(status),
             strsignal(WTERMSIG(status)));
    } else {
      printf("  %s: child exited with status %d\n", a->name, WEXITSTATUS(status));
    }
    a->failed = true;
    return;
  }
  char malloc_from[PATH_MAX] = "?", free_from[PATH_MAX] = "?";
  double wall_ns = -1;
  for (char* line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    if (strncmp(line, "malloc-from ", 12) == 0) {
      snprintf(malloc_from, sizeof malloc_from, "%s", line + 12);
    } else if (strncmp(line, "free-from ", 10) == 0) {
      snprintf(free_from, sizeof free_from, "%s", line + 10);
    } else {
      sscanf(line, "result wall_ns=%lf", &wall_ns);
    }
  }
  if (wall_ns < 0) {
    printf("  %s: child printed no result\n", a->name);
    a->failed = true;
    return;
  }
  if (!served_by(a, malloc_from) || !served_by(a, free_from)) {
    printf("  %s: NOT USED: malloc came from %s, free from %s\n", a->name, malloc_from, free_from);
    a->failed = true;
    return;
  }
  if (a->nruns == 0) printf("  %-10s malloc from %s\n", a->name, malloc_from);
  a->wall_ns[a->nruns] = wall_ns;
  a->rss_kib[a->nruns] = ru.ru_maxrss;
  a->nruns++;
}

static int cmp_double(const void* x, const void* y) {
  double a = *(const double*)x, b = *(const double*)y;
  return (a > b) - (a < b);
}

static int cmp_long(const void* x, const void* y) {
  long a = *(const long*)x, b = *(const long*)y;
  return (a > b) - (a < b);
}

static double median_ns(const allocator_t* a) {
  double v[MAX_RUNS];
  memcpy(v, a->wall_ns, a->nruns * sizeof(double));
  qsort(v, a->nruns, sizeof(double), cmp_double);
  return (a->nruns % 2) ? v[a->nruns / 2] : (v[a->nruns / 2 - 1] + v[a->nruns / 2]) / 2;
}

static double median_rss_kib(const allocator_t* a) {
  long v[MAX_RUNS];
  memcpy(v, a->rss_kib, a->nruns * sizeof(long));
  qsort(v, a->nruns, sizeof(long), cmp_long);
  return (a->nruns % 2) ? (double)v[a->nruns / 2] : (v[a->nruns / 2 - 1] + v[a->nruns / 2]) / 2.0;
}

static void write_csv(const options_t* opt, const allocator_t* as, int n) {
  FILE* f = fopen(opt->csv, "w");
  if (f == NULL) {
    fprintf(stderr, "bench-small: cannot write %s: %s\n", opt->csv, strerror(errno));
    return;
  }
  fprintf(f, "workload,allocator,threads,pairs_per_thread,run,wall_s,peak_rss_kib\n");
  for (int i = 0; i < n; i++) {
    for (unsigned r = 0; r < as[i].nruns; r++) {
      fprintf(f, "small-loop,%s,%u,%llu,%u,%.6f,%ld\n", as[i].name, opt->threads,
              (unsigned long long)opt->pairs, r + 1, as[i].wall_ns[r] / 1e9, as[i].rss_kib[r]);
    }
  }
  fclose(f);
  printf("per-run results written to %s\n", opt->csv);
}

static void print_table(const options_t* opt, const allocator_t* as, int n) {
  const allocator_t* base = NULL;
  for (int i = 0; i < n; i++) {
    if (strcmp(as[i].name, "shardalloc") == 0 && as[i].nruns > 0) base = &as[i];
  }
  double total = (double)opt->pairs * opt->threads;
  printf(
      "\nsmall-loop, median of %u run(s); ratio = other / shardalloc "
      "(time ratio > 1: shardalloc is faster)\n",
      opt->runs);
  printf("%-11s %9s %9s %12s %13s %10s %10s\n", "allocator", "time(s)", "ns/pair", "Mpairs/s",
         "peak RSS MiB", "time ratio", "RSS ratio");
  for (int i = 0; i < n; i++) {
    const allocator_t* a = &as[i];
    if (a->nruns == 0) continue;
    double ns = median_ns(a), rss = median_rss_kib(a);
    printf("%-11s %9.3f %9.2f %12.1f %13.1f", a->name, ns / 1e9, ns / (double)opt->pairs,
           total / ns * 1e3, rss / 1024.0);
    if (base != NULL) {
      printf(" %10.2f %10.2f\n", ns / median_ns(base), rss / median_rss_kib(base));
    } else {
      printf(" %10s %10s\n", "n/a", "n/a");
    }
  }
  if (base == NULL) printf("(no shardalloc result: no ratios)\n");
}

static int run_compare(const options_t* opt) {
  allocator_t as[MAX_ALLOCATORS] = {
      {.name = "shardalloc", .preload = opt->shardalloc},
      {.name = "glibc", .preload = NULL},
      {.name = "mimalloc", .preload = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"},
      {.name = "jemalloc", .preload = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
      {.name = "tcmalloc", .preload = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"},
      {.name = "tbbmalloc", .preload = "/usr/lib/x86_64-linux-gnu/libtbbmalloc_proxy.so.2"},
  };
  const int n = 6;
  int present = 0;
  printf(
      "bench-small --compare: small-loop, %llu pairs x %u thread(s), sizes %d..%d B, "
      "window %u, %u round(s)\n",
      (unsigned long long)opt->pairs, opt->threads, SMALL_LOOP_MIN_B, SMALL_LOOP_MAX_B, opt->window,
      opt->runs);
  for (int i = 0; i < n; i++) {
    if (!selected(opt, as[i].name)) continue;
    as[i].present = as[i].preload == NULL || access(as[i].preload, R_OK) == 0;
    if (as[i].present) {
      present++;
    } else {
      printf("  %-10s MISSING: %s not found, skipped\n", as[i].name, as[i].preload);
    }
  }
  if (present == 0) {
    fprintf(stderr, "bench-small: no allocator to run\n");
    return 1;
  }
  for (unsigned r = 0; r < opt->runs; r++) {
    for (int i = 0; i < n; i++) {
      if (as[i].present && !as[i].failed) run_child(opt, &as[i]);
    }
    printf("  round %u/%u:", r + 1, opt->runs);
    for (int i = 0; i < n; i++) {
      if (as[i].present && !as[i].failed && as[i].nruns == r + 1) {
        printf(" %s %.3f s", as[i].name, as[i].wall_ns[r] / 1e9);
      }
    }
    printf("\n");
  }
  print_table(opt, as, n);
  if (opt->csv != NULL) write_csv(opt, as, n);
  int failed = 0;
  for (int i = 0; i < n; i++) {
    if (as[i].failed) {
      printf("FAILED: %s (see above); its results are left out\n", as[i].name);
      failed = 1;
    }
  }
  return failed;
}

/* ---------------------------------------------------------------------------------------------
   Command line
------------------------------------------------------------------------------------------------ */

static void usage(FILE* f) {
  fprintf(f,
          "usage: bench-small [options]\n"
          "  malloc/free pairs of random sizes %d..%d B in a ring of live blocks (free the\n"
          "  oldest, allocate a new one, touch its first byte); prints ns per pair and pairs/s.\n"
          "  --pairs N        pairs per thread (default 1e8; 1e6 style accepted)\n"
          "  --threads T      threads, each running the same loop independently (default 1)\n"
          "  --window W       live blocks per thread (default 32)\n"
          "  --seed S         size table seed (default 42)\n"
          "  --compare        run this binary once per allocator found, with LD_PRELOAD,\n"
          "                   interleaved, and print medians, peak RSS and ratios\n"
          "  --runs N         rounds for --compare (default 3)\n"
          "  --only A,B       --compare only these (shardalloc,glibc,mimalloc,jemalloc,tcmalloc,\n"
          "                   tbbmalloc)\n"
          "  --shardalloc P   library to preload as shardalloc (default %s)\n"
          "  --csv FILE       --compare: write every run to FILE\n",
          SMALL_LOOP_MIN_B, SMALL_LOOP_MAX_B, SHARDALLOC_LIB);
}

static uint64_t parse_count(const char* flag, const char* s, uint64_t min, uint64_t max) {
  char* end;
  errno = 0;
  double v = s ? strtod(s, &end) : 0;
  if (s == NULL || end == s || *end != 0 || errno != 0 || v != (double)(uint64_t)v ||
      v < (double)min || v > (double)max) {
    fprintf(stderr, "bench-small: %s needs a whole number in %llu..%llu (got '%s')\n", flag,
            (unsigned long long)min, (unsigned long long)max, s ? s : "");
    exit(2);
  }
  return (uint64_t)v;
}

int main(int argc, char** argv) {
  options_t opt = {.pairs = 100000000, .threads = 1, .window = 32, .runs = 3, .seed = 42};
  const char* env_lib = getenv("SHARDALLOC_LIB");
  opt.shardalloc = (env_lib != NULL && env_lib[0] != 0) ? env_lib : SHARDALLOC_LIB;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = (i + 1 < argc) ? argv[i + 1] : NULL;
    if (strcmp(a, "--pairs") == 0) {
      opt.pairs = parse_count(a, v, 1, UINT64_C(1) << 50), i++;
    } else if (strcmp(a, "--threads") == 0) {
      opt.threads = (unsigned)parse_count(a, v, 1, 1024), i++;
    } else if (strcmp(a, "--window") == 0) {
      opt.window = (unsigned)parse_count(a, v, 1, 1u << 20), i++;
    } else if (strcmp(a, "--seed") == 0) {
      opt.seed = parse_count(a, v, 0, UINT64_C(1) << 52), i++;
    } else if (strcmp(a, "--runs") == 0) {
      opt.runs = (unsigned)parse_count(a, v, 1, MAX_RUNS), i++;
    } else if (strcmp(a, "--only") == 0 && v != NULL) {
      opt.only = v, i++;
    } else if (strcmp(a, "--shardalloc") == 0 && v != NULL) {
      opt.shardalloc = v, i++;
    } else if (strcmp(a, "--csv") == 0 && v != NULL) {
      opt.csv = v, i++;
    } else if (strcmp(a, "--compare") == 0) {
      opt.compare = true;
    } else if (strcmp(a, "--child") == 0) {
      opt.child = true;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "bench-small: unknown or incomplete option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  return opt.compare ? run_compare(&opt) : run_single(&opt);
}
