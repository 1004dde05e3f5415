/* Options (mimalloc's names, numbers and defaults, read once from MIMALLOC_<NAME> in the
 * environment, case-insensitively), output and error reporting, and the deferred-free hook.
 * Options are process-wide and any thread may read or set one at any time: each is kept in
 * atomics (relaxed: an option is one word, ordered by nothing else), and the first reading of
 * the environment is claimed by one thread, so that it cannot overwrite a concurrent set.
 * Nothing here allocates: messages are formatted into stack buffers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal/internal.h"

typedef enum mi_init_e {
  MI_UNINIT,       // not yet read from the environment
  MI_DEFAULTED,    // not in the environment: default_value applies
  MI_INITIALIZED,  // value applies: from the environment or set explicitly
  MI_READING       // one thread is storing what it read from the environment
} mi_init_t;

typedef struct mi_option_desc_s {
  _Atomic(long) value;          // [shared] the environment's or mi_option_set's value
  _Atomic(long) default_value;  // [shared] in effect while init is MI_DEFAULTED
  _Atomic(int)  init;           // [shared] a mi_init_t; release-stored after value
  const char* name;         // MIMALLOC_<name>
  const char* legacy_name;  // older name still accepted, or NULL
  bool        is_size;      // value in KiB, environment accepts K/M/G/T suffixes
  bool        applies;      // false: accepted for compatibility, no effect in shardalloc (yet)
} mi_option_desc_t;

// Default of allow_thp; 0 for builds that keep transparent huge pages off unless asked (the Rust
// crate's `no_thp` feature). The environment and mi_option_set still override it.
#ifndef SA_DEFAULT_ALLOW_THP
#define SA_DEFAULT_ALLOW_THP 1
#endif

#define MI_OPT(name, def, legacy, is_size, applies) {def, def, MI_UNINIT, #name, legacy, is_size, applies}

static mi_option_desc_t mi_options[_mi_option_last] = {
    MI_OPT(show_errors, SA_DEBUG > 0 ? 1 : 0, NULL, false, true),
    MI_OPT(show_stats, 0, NULL, false, true),
    MI_OPT(verbose, 0, NULL, false, true),
    MI_OPT(eager_commit, 1, NULL, false, false),
    MI_OPT(arena_eager_commit, 2, "eager_region_commit", false, false),
    MI_OPT(purge_decommits, 1, "reset_decommits", false, true),
    MI_OPT(allow_large_os_pages, 0, "large_os_pages", false, true),
    MI_OPT(reserve_huge_os_pages, 0, NULL, false, true),
    MI_OPT(reserve_huge_os_pages_at, -1, NULL, false, true),
    MI_OPT(reserve_os_memory, 0, NULL, true, true),
    MI_OPT(deprecated_segment_cache, 0, NULL, false, false),
    MI_OPT(deprecated_page_reset, 0, NULL, false, false),
    MI_OPT(abandoned_page_purge, 0, "abandoned_page_reset", false, true),
    MI_OPT(deprecated_segment_reset, 0, NULL, false, false),
    MI_OPT(eager_commit_delay, 1, NULL, false, false),
    MI_OPT(purge_delay, 10, "reset_delay", false, true),
    MI_OPT(use_numa_nodes, 0, NULL, false, false),
    MI_OPT(disallow_os_alloc, 0, "limit_os_alloc", false, true),
    MI_OPT(os_tag, 100, NULL, false, false),
    MI_OPT(max_errors, 32, NULL, false, true),
    MI_OPT(max_warnings, 32, NULL, false, true),
    MI_OPT(max_segment_reclaim, 10, NULL, false, false),
    MI_OPT(destroy_on_exit, 0, NULL, false, true),
    MI_OPT(arena_reserve, 1024L * 1024L, NULL, true, true),
    MI_OPT(arena_purge_mult, 5, NULL, false, true),  // decay time: purge_delay x this (50 ms)
    MI_OPT(purge_extend_delay, 1, "decommit_extend_delay", false, false),
    MI_OPT(abandoned_reclaim_on_free, 0, NULL, false, false),
    MI_OPT(disallow_arena_alloc, 0, NULL, false, true),
    MI_OPT(retry_on_oom, 400, NULL, false, false),
    MI_OPT(visit_abandoned, 0, NULL, false, false),
    MI_OPT(guarded_min, 0, NULL, false, true),
    MI_OPT(guarded_max, 1024L * 1024L * 1024L, NULL, false, true),
    MI_OPT(guarded_precise, 0, NULL, false, true),
    MI_OPT(guarded_sample_rate, 0, NULL, false, true),
    MI_OPT(guarded_sample_seed, 0, NULL, false, true),
    MI_OPT(target_segments_per_thread, 0, NULL, false, false),
    MI_OPT(generic_collect, 10000, NULL, false, true),
    MI_OPT(allow_thp, SA_DEFAULT_ALLOW_THP, NULL, false, true),
    MI_OPT(purge_background, 1, NULL, false, true),
};

/* ---------------------------------------------------------------------------------------------
   Reading the environment
--------------------------------------------------------------------------------------------- */
static bool mi_getenv_option(const char* name, char* buf, size_t size) {
  char var[64];
  snprintf(var, sizeof(var), "mimalloc_%s", name);
  return _mi_prim_getenv(var, buf, size);
}

static bool mi_streq_nocase(const char* a, const char* b) {
  for (; *a != 0 && *b != 0; a++, b++) {
    char ca = (*a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a);
    char cb = (*b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b);
    if (ca != cb) return false;
  }
  return *a == *b;
}

// Parse an option value; false if it is not valid.
static bool mi_option_parse(const mi_option_desc_t* desc, const char* s, long* result) {
  if (*s == 0 || mi_streq_nocase(s, "1") || mi_streq_nocase(s, "true") ||
      mi_streq_nocase(s, "yes") || mi_streq_nocase(s, "on")) {
    *result = 1;
    return true;
  }
  if (mi_streq_nocase(s, "0") || mi_streq_nocase(s, "false") || mi_streq_nocase(s, "no") ||
      mi_streq_nocase(s, "off")) {
    *result = 0;
    return true;
  }
  char* end = NULL;
  long value = strtol(s, &end, 10);
  if (end == s) return false;
  if (desc->is_size) {
    // sizes are kept in KiB: a bare number is bytes (rounded up), else K/M/G/T[iB|B]
    long long kib;
    const char c = (char)(*end >= 'a' && *end <= 'z' ? *end - 32 : *end);
    if (c == 0) kib = ((long long)value + 1023) / 1024;
    else if (c == 'K') kib = value;
    else if (c == 'M') kib = (long long)value * 1024;
    else if (c == 'G') kib = (long long)value * 1024 * 1024;
    else if (c == 'T') kib = (long long)value * 1024 * 1024 * 1024;
    else return false;
    if (c != 0) {
      end++;
      if (mi_streq_nocase(end, "ib") || mi_streq_nocase(end, "b")) end += strlen(end);
    }
    if (*end != 0 || kib < 0) return false;
    *result = (long)kib;
    return true;
  }
  if (*end != 0) return false;
  *result = value;
  return true;
}

// Reads the environment and returns the option's value. The first thread to claim the option
// (MI_UNINIT -> MI_READING) stores the value, then settles the state before any warning: printing
// one reads the warning options, and an invalid value of one of those must not recurse. A thread
// that loses the claim returns what it read itself (the same environment, the same value).
static long mi_option_init(mi_option_desc_t* desc) {
  char buf[64];
  bool found = mi_getenv_option(desc->name, buf, sizeof(buf));
  bool legacy = false;
  if (!found && desc->legacy_name != NULL) {
    found = legacy = mi_getenv_option(desc->legacy_name, buf, sizeof(buf));
  }
  long value = 0;
  const bool valid = (found && mi_option_parse(desc, buf, &value));
  int expected = MI_UNINIT;
  if (mi_atomic_cas_strong_acq_rel(&desc->init, &expected, MI_READING)) {
    if (valid) mi_atomic_store_relaxed(&desc->value, value);
    mi_atomic_store_release(&desc->init, valid ? MI_INITIALIZED : MI_DEFAULTED);
    if (legacy) {
      _mi_warning_message("environment option \"mimalloc_%s\" is deprecated; use \"mimalloc_%s\"",
                          desc->legacy_name, desc->name);
    }
    if (found && !valid) {
      _mi_warning_message("environment option mimalloc_%s has an invalid value \"%s\"; using %ld",
                          desc->name, buf, mi_atomic_load_relaxed(&desc->default_value));
    }
  }
  return (valid ? value : mi_atomic_load_relaxed(&desc->default_value));
}

/* ---------------------------------------------------------------------------------------------
   The option API
--------------------------------------------------------------------------------------------- */
static mi_option_desc_t* mi_option_desc(mi_option_t option) {
  if ((int)option < 0 || option >= _mi_option_last) return NULL;
  return &mi_options[option];
}

static long mi_option_value(mi_option_desc_t* desc) {
  const int init = mi_atomic_load_acquire(&desc->init);
  if (init == MI_UNINIT || init == MI_READING) return mi_option_init(desc);
  return mi_atomic_load_relaxed(init == MI_INITIALIZED ? &desc->value : &desc->default_value);
}

long mi_option_get(mi_option_t option) {
  mi_option_desc_t* desc = mi_option_desc(option);
  return (desc == NULL ? 0 : mi_option_value(desc));
}

long mi_option_get_clamp(mi_option_t option, long lo, long hi) {
  const long x = mi_option_get(option);
  return (x < lo ? lo : (x > hi ? hi : x));
}

size_t mi_option_get_size(mi_option_t option) {
  mi_option_desc_t* desc = mi_option_desc(option);
  if (desc == NULL) return 0;
  const long value = mi_option_value(desc);
  if (value < 0) return 0;
  return (size_t)value * (desc->is_size ? 1024 : 1);
}

// An explicit set waits until the environment's value is stored: storing after it is what makes
// the set win (the reading thread stores one word between its claim and settling).
void mi_option_set(mi_option_t option, long value) {
  mi_option_desc_t* desc = mi_option_desc(option);
  if (desc == NULL) return;
  if (mi_atomic_load_acquire(&desc->init) == MI_UNINIT) (void)mi_option_init(desc);
  while (mi_atomic_load_acquire(&desc->init) == MI_READING) mi_atomic_yield();
  mi_atomic_store_relaxed(&desc->value, value);
  mi_atomic_store_release(&desc->init, MI_INITIALIZED);
}

// The default is kept apart from the value, so it needs no ordering with the setters.
void mi_option_set_default(mi_option_t option, long value) {
  mi_option_desc_t* desc = mi_option_desc(option);
  if (desc == NULL) return;
  mi_atomic_store_relaxed(&desc->default_value, value);
}

bool mi_option_is_enabled(mi_option_t option) { return mi_option_get(option) != 0; }

void mi_option_set_enabled(mi_option_t option, bool enable) { mi_option_set(option, enable ? 1 : 0); }

void mi_option_set_enabled_default(mi_option_t option, bool enable) {
  mi_option_set_default(option, enable ? 1 : 0);
}

void mi_option_enable(mi_option_t option) { mi_option_set_enabled(option, true); }

void mi_option_disable(mi_option_t option) { mi_option_set_enabled(option, false); }

void mi_options_print(void) mi_attr_noexcept {
  _mi_message("shardalloc %d.%d.%d (mimalloc 2.x API), debug level %d",
              SHARDALLOC_VERSION_MAJOR, SHARDALLOC_VERSION_MINOR, SHARDALLOC_VERSION_PATCH,
              SA_DEBUG);
  for (int i = 0; i < _mi_option_last; i++) {
    mi_option_desc_t* desc = mi_option_desc((mi_option_t)i);
    _mi_message("option '%s': %ld%s%s", desc->name, mi_option_value(desc), desc->is_size ? " KiB" : "",
                desc->applies ? "" : " (no effect in shardalloc)");
  }
}

void _mi_options_init(void) {
  for (int i = 0; i < _mi_option_last; i++) (void)mi_option_value(&mi_options[i]);
  if (mi_option_is_enabled(mi_option_verbose)) mi_options_print();
}

/* ---------------------------------------------------------------------------------------------
   Output
--------------------------------------------------------------------------------------------- */
static _Atomic(mi_output_fun*) mi_out_fun;
static _Atomic(void*) mi_out_arg;

void mi_register_output(mi_output_fun* out, void* arg) mi_attr_noexcept {
  mi_atomic_store_release(&mi_out_arg, arg);
  mi_atomic_store_release(&mi_out_fun, out);
}

// To the registered output function, else stderr.
static void mi_out(const char* text) {
  mi_output_fun* out = mi_atomic_load_acquire(&mi_out_fun);
  void* arg = mi_atomic_load_acquire(&mi_out_arg);
  if (out != NULL) out(text, arg);
  else _mi_prim_out_stderr(text);
}

/* Messages of a thread that holds an allocator lock wait in one process-wide buffer (messages
   are rare; the buffer's own lock is only ever tried, never waited on, so it cannot deadlock, also
   in a fork child) until that thread lets go of its last lock; whoever then finds the buffer
   non-empty prints it. A message that finds the buffer busy or full is dropped (and counted). */
__thread unsigned _mi_locks_held mi_decl_tls;
_Atomic(bool) _mi_messages_held;
#define MI_HELD_SIZE 4096
static char mi_held[MI_HELD_SIZE];
static size_t mi_held_len;
static _Atomic(bool) mi_held_busy;
static _Atomic(size_t) mi_held_dropped;

static bool mi_held_try_lock(void) {
  for (int i = 0; i < 1000; i++) {
    if (!atomic_exchange_explicit(&mi_held_busy, true, memory_order_acquire)) return true;
    mi_atomic_yield();
  }
  return false;
}
static void mi_held_unlock(void) { atomic_store_explicit(&mi_held_busy, false, memory_order_release); }

static void mi_message_hold(const char* text) {
  const size_t len = strlen(text);
  if (!mi_held_try_lock()) {
    mi_atomic_add_relaxed(&mi_held_dropped, 1);
    return;
  }
  if (mi_held_len + len < MI_HELD_SIZE) {
    memcpy(mi_held + mi_held_len, text, len + 1);
    mi_held_len += len;
    mi_atomic_store_relaxed(&_mi_messages_held, true);
  } else {
    mi_atomic_add_relaxed(&mi_held_dropped, 1);
  }
  mi_held_unlock();
}

void _mi_messages_release(void) {
  char text[MI_HELD_SIZE];
  if (!mi_held_try_lock()) return;  // the holder prints it when it is done
  memcpy(text, mi_held, mi_held_len + 1);
  mi_held_len = 0;
  mi_held[0] = 0;
  mi_atomic_store_relaxed(&_mi_messages_held, false);
  mi_held_unlock();
  if (text[0] != 0) mi_out(text);
  const size_t dropped = atomic_exchange(&mi_held_dropped, 0);
  if (dropped > 0) _mi_message("%zu message(s) dropped while the allocator held a lock", dropped);
}

void _mi_fputs(mi_output_fun* out, void* arg, const char* prefix, const char* message) {
  char buf[600];
  snprintf(buf, sizeof(buf), "%s%s", (prefix != NULL ? prefix : ""), message);
  if (out != NULL) out(buf, arg);
  else if (_mi_locks_held > 0) mi_message_hold(buf);  // printed once this thread holds no lock
  else mi_out(buf);
}

static void mi_vfmessage(const char* prefix, const char* fmt, va_list args) {
  char buf[512];
  int n = vsnprintf(buf, sizeof(buf) - 1, fmt, args);
  if (n < 0) return;
  size_t len = strlen(buf);
  buf[len] = '\n';
  buf[len + 1] = 0;
  _mi_fputs(NULL, NULL, prefix, buf);
}

void _mi_message(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  mi_vfmessage("shardalloc: ", fmt, args);
  va_end(args);
}

void _mi_verbose_message(const char* fmt, ...) {
  if (!mi_option_is_enabled(mi_option_verbose)) return;
  va_list args;
  va_start(args, fmt);
  mi_vfmessage("shardalloc: ", fmt, args);
  va_end(args);
}

static _Atomic(long) mi_warning_count;
static _Atomic(long) mi_error_count;

void _mi_warning_message(const char* fmt, ...) {
  const bool verbose = mi_option_is_enabled(mi_option_verbose);
  if (!verbose && !mi_option_is_enabled(mi_option_show_errors)) return;
  if (!verbose && mi_atomic_add_relaxed(&mi_warning_count, 1) >= mi_option_get(mi_option_max_warnings)) return;
  va_list args;
  va_start(args, fmt);
  mi_vfmessage("shardalloc: warning: ", fmt, args);
  va_end(args);
}

/* ---------------------------------------------------------------------------------------------
   Errors. The default handler aborts on corruption (EFAULT) always, and on invalid or double
   frees (EINVAL, EAGAIN) in builds that detect them; other errors are reported and returned.
--------------------------------------------------------------------------------------------- */
static _Atomic(mi_error_fun*) mi_error_handler;
static _Atomic(void*) mi_error_arg;

void mi_register_error(mi_error_fun* fun, void* arg) mi_attr_noexcept {
  mi_atomic_store_release(&mi_error_arg, arg);
  mi_atomic_store_release(&mi_error_handler, fun);
}

// Corruption (EFAULT) always; invalid pointers and double frees where they are checked (debug
// builds, secure level 4 and up).
static bool mi_error_is_fatal(int err) {
  if (err == EFAULT) return true;
  return ((SA_DEBUG >= 1 || SA_SECURE >= 4) && (err == EINVAL || err == EAGAIN));
}

void _mi_error_message(int err, const char* fmt, ...) {
  mi_error_fun* handler = mi_atomic_load_acquire(&mi_error_handler);
  const bool fatal = (handler == NULL && mi_error_is_fatal(err));
  const bool verbose = mi_option_is_enabled(mi_option_verbose);
  bool show = fatal || verbose || mi_option_is_enabled(mi_option_show_errors);
  if (show && !fatal && !verbose &&
      mi_atomic_add_relaxed(&mi_error_count, 1) >= mi_option_get(mi_option_max_errors)) {
    show = false;
  }
  if (show) {
    if (fatal) _mi_locks_held = 0;  // (the message must be out before the abort, lock or not)
    va_list args;
    va_start(args, fmt);
    mi_vfmessage("shardalloc: error: ", fmt, args);
    va_end(args);
  }
  if (handler != NULL) handler(err, mi_atomic_load_acquire(&mi_error_arg));
  else if (fatal) abort();
}

void _mi_assert_fail(const char* assertion, const char* fname, unsigned int line, const char* func) {
  _mi_message("assertion failed at \"%s\":%u, %s: %s", fname, line, (func != NULL ? func : ""),
              assertion);
  abort();
}

/* ---------------------------------------------------------------------------------------------
   Deferred free: a user callback run from the slow path with a heartbeat.
--------------------------------------------------------------------------------------------- */
_Atomic(mi_deferred_free_fun*) _mi_deferred_fun;  // (read by the slow path: internal.h)
static _Atomic(void*) mi_deferred_arg;

void mi_register_deferred_free(mi_deferred_free_fun* fn, void* arg) mi_attr_noexcept {
  mi_atomic_store_release(&mi_deferred_arg, arg);
  mi_atomic_store_release(&_mi_deferred_fun, fn);
}

void _mi_deferred_free(mi_heap_t* heap, bool force) {
  mi_deferred_free_fun* fn = mi_atomic_load_acquire(&_mi_deferred_fun);
  if (fn == NULL || heap->tld->recurse) return;
  heap->tld->recurse = true;
  fn(force, heap->tld->heartbeat, mi_atomic_load_acquire(&mi_deferred_arg));
  heap->tld->recurse = false;
}
