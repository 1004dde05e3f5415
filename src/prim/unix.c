/* Platform layer for Linux (and other Unix-likes where the calls exist): mmap, madvise, mprotect,
 * getrandom, clocks, environment, stderr, the thread-exit hook and process figures. The only file
 * with OS #ifdefs. Nothing here allocates with malloc. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "prim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

extern char** environ;

/* ---------------------------------------------------------------------------------------------
   Memory
--------------------------------------------------------------------------------------------- */
static bool unix_detect_overcommit(void) {
#if defined(__linux__)
  int fd = open("/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  char buf[32] = {0};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return !(n >= 1 && buf[0] == '2');  // mode 2: strict accounting
#else
  return true;
#endif
}

void _mi_prim_mem_init(mi_os_config_t* config) {
  long psize = sysconf(_SC_PAGESIZE);
  config->page_size = (psize > 0 ? (size_t)psize : 4096);
  config->large_page_size = 2 * 1024 * 1024;
  config->has_overcommit = unix_detect_overcommit();
}

void _mi_prim_thp_configure(bool allow_thp) {
#if defined(__linux__) && defined(PR_SET_THP_DISABLE)
  if (!allow_thp) prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
#else
  (void)allow_thp;
#endif
}

void _mi_prim_advise_thp(void* addr, size_t size, bool huge) {
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
  madvise(addr, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#else
  (void)addr;
  (void)size;
  (void)huge;
#endif
}

// The kernel's THP mode, from /sys/kernel/mm/transparent_hugepage/enabled ("always [madvise]
// never": the bracketed word).
mi_thp_mode_t _mi_prim_thp_mode(void) {
#if defined(__linux__)
  const int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MI_THP_NEVER;
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return MI_THP_NEVER;
  buf[n] = 0;
  if (strstr(buf, "[always]") != NULL) return MI_THP_ALWAYS;
  if (strstr(buf, "[madvise]") != NULL) return MI_THP_MADVISE;
#endif
  return MI_THP_NEVER;
}

int _mi_prim_alloc(void* hint, size_t size, void** addr) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#if defined(MAP_NORESERVE)
  flags |= MAP_NORESERVE;  // commit charge is taken on touch, as the OS overcommits anyway
#endif
  void* p = mmap(hint, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) {
    *addr = NULL;
    return errno;
  }
#if defined(__linux__) && defined(PR_SET_VMA) && defined(PR_SET_VMA_ANON_NAME)
  prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, size, "shardalloc");  // visible in /proc/PID/maps
#endif
  *addr = p;
  return 0;
}

int _mi_prim_alloc_huge_os_pages(size_t size, void** addr) {
  *addr = NULL;
#if defined(MAP_HUGETLB) && defined(MAP_HUGE_SHIFT)
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT);
  void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) return errno;
  *addr = p;
  return 0;
#else
  (void)size;
  return ENOMEM;
#endif
}

int _mi_prim_free(void* addr, size_t size) {
  return (munmap(addr, size) == 0 ? 0 : errno);
}

int _mi_prim_remap(void* addr, size_t old_size, size_t new_size, void* target) {
#if defined(MREMAP_MAYMOVE) && defined(MREMAP_FIXED)
  void* p = (target == NULL ? mremap(addr, old_size, new_size, 0)
                            : mremap(addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target));
  if (p == MAP_FAILED) return errno;
  return (p == (target == NULL ? addr : target) ? 0 : EFAULT);
#else
  (void)addr; (void)old_size; (void)new_size; (void)target;
  return ENOSYS;
#endif
}

int _mi_prim_decommit(void* addr, size_t size) {
  return (madvise(addr, size, MADV_DONTNEED) == 0 ? 0 : errno);
}

int _mi_prim_reset(void* addr, size_t size) {
#if defined(MADV_FREE)
  static _Atomic(int) madv_free_works = 1;
  if (atomic_load_explicit(&madv_free_works, memory_order_relaxed)) {
    if (madvise(addr, size, MADV_FREE) == 0) return 0;
    atomic_store_explicit(&madv_free_works, 0, memory_order_relaxed);  // old kernel: fall back
  }
#endif
  return (madvise(addr, size, MADV_DONTNEED) == 0 ? 0 : errno);
}

int _mi_prim_protect(void* addr, size_t size, bool protect) {
  int prot = (protect ? PROT_NONE : (PROT_READ | PROT_WRITE));
  return (mprotect(addr, size, prot) == 0 ? 0 : errno);
}

/* ---------------------------------------------------------------------------------------------
   Faults on guard pages: report, then chain (see prim.h)
--------------------------------------------------------------------------------------------- */
static struct sigaction mi_fault_prev[2];  // SIGSEGV, SIGBUS before ours
static bool (*_Atomic mi_fault_describe)(void* addr, char* buf, size_t size);

static void mi_fault_handler(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  bool (*describe)(void*, char*, size_t) = atomic_load(&mi_fault_describe);
  char buf[256];
  if (describe != NULL && describe(info->si_addr, buf, sizeof(buf))) _mi_prim_out_stderr(buf);
  const struct sigaction* prev = &mi_fault_prev[sig == SIGBUS ? 1 : 0];
  errno = saved_errno;
  if ((prev->sa_flags & SA_SIGINFO) != 0 && prev->sa_sigaction != NULL) {
    prev->sa_sigaction(sig, info, context);
  } else if ((prev->sa_flags & SA_SIGINFO) == 0 && prev->sa_handler != SIG_DFL &&
             prev->sa_handler != SIG_IGN) {
    prev->sa_handler(sig);
  } else {
    // The default action: back to it, and the faulting instruction faults again on return (an
    // ignored SIGSEGV from a fault would loop forever; the kernel would not ignore it either).
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (info->si_code <= 0) raise(sig);  // sent by kill/raise, not a fault: send it again
  }
}

void _mi_prim_fault_handler(bool install, bool (*describe)(void* addr, char* buf, size_t size)) {
  static const int sigs[2] = {SIGSEGV, SIGBUS};
  if (install) {
    atomic_store(&mi_fault_describe, describe);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = &mi_fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 2; i++) sigaction(sigs[i], &sa, &mi_fault_prev[i]);
    return;
  }
  for (int i = 0; i < 2; i++) {
    struct sigaction cur;
    if (sigaction(sigs[i], NULL, &cur) != 0) continue;
    const bool ours = (cur.sa_flags & SA_SIGINFO) != 0 && cur.sa_sigaction == &mi_fault_handler;
    if (ours) sigaction(sigs[i], &mi_fault_prev[i], NULL);  // (a program's own handler stays)
  }
}

/* ---------------------------------------------------------------------------------------------
   Time and randomness
--------------------------------------------------------------------------------------------- */
long long _mi_prim_clock_now(void) {
  struct timespec t;
#if defined(CLOCK_MONOTONIC_COARSE)  // a read of the vDSO page: cheap enough for the slow path
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
#else
  clock_gettime(CLOCK_MONOTONIC, &t);
#endif
  return (long long)t.tv_sec * 1000 + (long long)t.tv_nsec / 1000000;
}

bool _mi_prim_random_buf(void* buf, size_t size) {
#if defined(SYS_getrandom)
  // The raw syscall: glibc's getrandom wrapper is fine too, but this works before libc is ready.
  size_t done = 0;
  while (done < size) {
    long n = syscall(SYS_getrandom, (char*)buf + done, size - done, 0x0001 /* GRND_NONBLOCK */);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    done += (size_t)n;
  }
  if (done == size) return true;
#endif
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t count = 0;
  while (count < size) {
    ssize_t n = read(fd, (char*)buf + count, size - count);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    count += (size_t)n;
  }
  close(fd);
  return (count == size);
}

/* ---------------------------------------------------------------------------------------------
   Output and environment
--------------------------------------------------------------------------------------------- */
void _mi_prim_out_stderr(const char* msg) {
  size_t len = strlen(msg);
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, msg, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    msg += n;
    len -= (size_t)n;
  }
}

static int ascii_tolower(int c) { return (c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); }

// Read `environ` directly: getenv may not be usable while the C runtime starts.
bool _mi_prim_getenv(const char* name, char* result, size_t result_size) {
  if (environ == NULL || name == NULL || result_size == 0) return false;
  size_t len = strlen(name);
  for (char** env = environ; *env != NULL; env++) {
    const char* s = *env;
    size_t i = 0;
    while (i < len && s[i] != 0 && ascii_tolower((unsigned char)s[i]) == ascii_tolower((unsigned char)name[i])) i++;
    if (i == len && s[len] == '=') {
      const char* value = s + len + 1;
      size_t vlen = strlen(value);
      if (vlen >= result_size) vlen = result_size - 1;
      memcpy(result, value, vlen);
      result[vlen] = 0;
      return true;
    }
  }
  return false;
}

/* ---------------------------------------------------------------------------------------------
   Thread exit: a pthread key whose destructor receives the thread's default heap.
--------------------------------------------------------------------------------------------- */
static pthread_key_t mi_heap_key;
static _Atomic(int) mi_heap_key_created;

void _mi_prim_thread_init_auto_done(void (*done)(void*)) {
  if (atomic_load(&mi_heap_key_created)) return;
  if (pthread_key_create(&mi_heap_key, done) == 0) atomic_store(&mi_heap_key_created, 1);
}

void _mi_prim_thread_done_auto_done(void) {
  if (atomic_exchange(&mi_heap_key_created, 0)) pthread_key_delete(mi_heap_key);
}

void _mi_prim_thread_associate_default_heap(void* heap) {
  if (atomic_load_explicit(&mi_heap_key_created, memory_order_relaxed)) {
    pthread_setspecific(mi_heap_key, heap);
  }
}

bool _mi_prim_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void)) {
  return (pthread_atfork(prepare, parent, child) == 0);
}

void _mi_prim_thread_yield(void) { sched_yield(); }

void _mi_prim_sleep_ms(long ms) {
  struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

bool _mi_prim_thread_start_background(void* (*fn)(void*)) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits the full mask
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  const int err = pthread_create(&thread, &attr, fn, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err == 0) pthread_setname_np(thread, "shardalloc-purge");
  return (err == 0);
}

/* ---------------------------------------------------------------------------------------------
   Copying from a pointer of unknown origin: process_vm_readv on our own process copies what can
   be read and stops at the first page that cannot (unmapped, PROT_NONE, a file mapping past the
   end of its file) instead of faulting. The source is split at page boundaries, since a partial
   copy ends only between iovec elements. Where the call is refused (seccomp, old kernels), the
   mapping that contains src is looked up in /proc/self/maps and copied up to its end.
--------------------------------------------------------------------------------------------- */
#define MI_COPY_IOV 64

static size_t copy_by_vm_readv(void* dst, const void* src, size_t max, bool* refused) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  size_t done = 0;
  while (done < max) {
    struct iovec local = {.iov_base = (uint8_t*)dst + done, .iov_len = 0};
    struct iovec remote[MI_COPY_IOV];
    size_t count = 0;
    uintptr_t at = (uintptr_t)src + done;
    size_t left = max - done;
    while (count < MI_COPY_IOV && left > 0) {
      const size_t chunk = (size_t)(page - (at & (page - 1)));
      const size_t n = (chunk < left ? chunk : left);
      remote[count++] = (struct iovec){.iov_base = (void*)at, .iov_len = n};
      local.iov_len += n;
      at += n;
      left -= n;
    }
    const ssize_t got = process_vm_readv(getpid(), &local, 1, remote, count, 0);
    if (got < 0) {
      *refused = (errno == ENOSYS || errno == EPERM || errno == EACCES);
      return done;
    }
    done += (size_t)got;
    if ((size_t)got < local.iov_len) break;  // stopped at an unreadable page
  }
  return done;
}

static bool parse_hex(const char** s, uintptr_t* value) {
  uintptr_t v = 0;
  const char* q = *s;
  for (;; q++) {
    const char c = *q;
    if (c >= '0' && c <= '9') v = (v << 4) | (uintptr_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = (v << 4) | (uintptr_t)(c - 'a' + 10);
    else break;
  }
  if (q == *s) return false;
  *s = q;
  *value = v;
  return true;
}

// The end of the readable mapping that contains `at` (0 if none): the start of each line of
// /proc/self/maps ("start-end perms ...") is parsed as soon as it is read, so a line longer than
// the buffer loses only its tail (the path).
static uintptr_t readable_mapping_end(uintptr_t at) {
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[512];
  size_t len = 0;
  bool skipping = false;  // inside the unparsed tail of a long line
  uintptr_t found = 0;
  for (;;) {
    const ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = 0;
    char* line = buf;
    for (;;) {
      char* nl = strchr(line, '\n');
      if (skipping) {
        if (nl == NULL) { line = buf + len; break; }
        skipping = false;
        line = nl + 1;
        continue;
      }
      if (nl == NULL && (size_t)(buf + len - line) < 64) break;  // wait for more of this line
      const char* s = line;
      uintptr_t start, end;
      if (parse_hex(&s, &start) && *s++ == '-' && parse_hex(&s, &end) && *s++ == ' ' &&
          s[0] == 'r' && start <= at && at < end) {
        found = end;
      }
      if (nl == NULL) { skipping = true; line = buf + len; break; }
      line = nl + 1;
    }
    len = (size_t)(buf + len - line);
    memmove(buf, line, len);
  }
  close(fd);
  return found;
}

size_t _mi_prim_copy_readable(void* dst, const void* src, size_t max) {
  if (src == NULL || max == 0) return 0;
  bool refused = false;
  const size_t copied = copy_by_vm_readv(dst, src, max, &refused);
  if (!refused) return copied;
  const uintptr_t end = readable_mapping_end((uintptr_t)src);
  if (end <= (uintptr_t)src) return 0;
  const size_t n = (end - (uintptr_t)src < max ? (size_t)(end - (uintptr_t)src) : max);
  memcpy(dst, src, n);
  return n;
}

/* ---------------------------------------------------------------------------------------------
   Process information
--------------------------------------------------------------------------------------------- */
void _mi_prim_process_info(size_t* current_rss, size_t* peak_rss, size_t* page_faults) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  if (peak_rss != NULL) *peak_rss = (size_t)usage.ru_maxrss * 1024;
  if (page_faults != NULL) *page_faults = (size_t)usage.ru_majflt + (size_t)usage.ru_minflt;
  if (current_rss != NULL) {
    *current_rss = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[128] = {0};
      ssize_t n = read(fd, buf, sizeof(buf) - 1);
      close(fd);
      if (n > 0) {
        // second field: resident pages
        const char* s = buf;
        while (*s && *s != ' ') s++;
        unsigned long long pages = 0;
        while (*s == ' ') s++;
        while (*s >= '0' && *s <= '9') pages = pages * 10 + (unsigned long long)(*s++ - '0');
        *current_rss = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
      }
    }
  }
}
