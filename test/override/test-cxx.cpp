/* test-cxx: C++ operator new / delete served by shardalloc, in every way a program can get them:
 *   (default)    linked with libshardalloc.so (its weak operators replace libstdc++'s)
 *   CXX_PRELOAD  not linked; run with LD_PRELOAD=libshardalloc.so
 *   CXX_HEADER   linked with libshardalloc.a, operators from mimalloc-new-delete.h
 *   CXX_STATIC   a fully static program (-static) with shardalloc.o linked first
 * Checks: every new/new[] form (plain, nothrow, aligned, aligned+nothrow) returns shardalloc
 * memory with the right alignment and every delete form (plain, sized, nothrow, aligned,
 * aligned+sized) takes it back; std containers across threads; std::bad_alloc without a handler;
 * the new-handler loop (called until it uninstalls itself, its own exception passes through);
 * nothrow forms return nullptr; mi_new_n overflow throws without calling the handler;
 * allocation from a global constructor (before main) and from thread_local destructors. */
#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <mimalloc.h>
#if defined(CXX_HEADER)
#include <mimalloc-new-delete.h>
#endif

#if defined(CXX_PRELOAD)
#define CXX_VARIANT "preload"
#elif defined(CXX_HEADER)
#define CXX_VARIANT "header"
#elif defined(CXX_STATIC)
#define CXX_VARIANT "static"
#else
#define CXX_VARIANT "linked"
#endif

#include "testutil-cxx.h"

/* Ownership test. Preloaded, the program is not linked with the library: look the function up. */
static bool ours(const void* p) {
#if defined(CXX_PRELOAD)
  using fn_t = bool (*)(const void*);
  static fn_t fn = reinterpret_cast<fn_t>(dlsym(RTLD_DEFAULT, "mi_is_in_heap_region"));
  if (fn == nullptr) {
    std::fprintf(stderr, "test-cxx: mi_is_in_heap_region not found: is LD_PRELOAD set?\n");
    std::exit(1);
  }
  return fn(p);
#else
  return mi_is_in_heap_region(p);
#endif
}

// Opaque to the optimiser: a new/delete pair must not be elided.
template <class T>
static T* keep(T* p) {
  __asm__ volatile("" : "+r"(p) : : "memory");
  return p;
}

static bool aligned(const void* p, std::size_t al) { return (reinterpret_cast<std::uintptr_t>(p) % al) == 0; }

/* --- before main: a global object that allocates in its constructor --- */
struct early_s {
  std::vector<std::string> names;
  early_s() {
    for (int i = 0; i < 100; i++) names.push_back("constructed before main, entry " + std::to_string(i));
  }
};
static early_s early;

/* --- forms --- */
struct alignas(64) line_t {
  char bytes[64];
};
struct alignas(4096) page_t {
  char bytes[100];
};

static void test_forms() {
  std::puts("operator new/delete forms");
  int* a = keep(new int(42));
  CHECK(ours(a) && *a == 42, "new int: %p", static_cast<void*>(a));
  delete a;

  int* b = keep(new int[1000]);
  CHECK(ours(b), "new int[1000]: %p", static_cast<void*>(b));
  b[999] = 1;
  delete[] b;

  int* c = keep(new (std::nothrow) int(7));
  CHECK(ours(c), "new (nothrow) int: %p", static_cast<void*>(c));
  delete c;
  int* d = keep(new (std::nothrow) int[10]);
  CHECK(ours(d), "new (nothrow) int[10]: %p", static_cast<void*>(d));
  delete[] d;

  line_t* l = keep(new line_t);
  CHECK(ours(l) && aligned(l, 64), "new alignas(64): %p", static_cast<void*>(l));
  delete l;
  page_t* pg = keep(new page_t[3]);
  CHECK(ours(pg) && aligned(pg, 4096), "new alignas(4096)[3]: %p", static_cast<void*>(pg));
  delete[] pg;
  line_t* ln = keep(new (std::nothrow) line_t);
  CHECK(ours(ln) && aligned(ln, 64), "new (nothrow) alignas(64): %p", static_cast<void*>(ln));
  delete ln;

  // The operators called by name, with every delete form.
  void* p = keep(::operator new(100));
  CHECK(ours(p), "operator new(100)");
  ::operator delete(p, 100);  // sized
  p = keep(::operator new[](300));
  CHECK(ours(p), "operator new[](300)");
  ::operator delete[](p, 300);
  p = keep(::operator new(50, std::nothrow));
  CHECK(ours(p), "operator new(50, nothrow)");
  ::operator delete(p, std::nothrow);
  p = keep(::operator new[](50, std::nothrow));
  CHECK(ours(p), "operator new[](50, nothrow)");
  ::operator delete[](p, std::nothrow);
  for (std::size_t al = 16; al <= (std::size_t(1) << 22); al <<= 3) {
    const std::align_val_t av{al};
    p = keep(::operator new(1000, av));
    CHECK(ours(p) && aligned(p, al), "operator new(1000, align %zu): %p", al, p);
    ::operator delete(p, av);
    p = keep(::operator new[](al + 1, av));
    CHECK(ours(p) && aligned(p, al), "operator new[](%zu, align %zu): %p", al + 1, al, p);
    ::operator delete[](p, al + 1, av);  // sized + aligned
    p = keep(::operator new(10, av, std::nothrow));
    CHECK(ours(p) && aligned(p, al), "operator new(10, align %zu, nothrow): %p", al, p);
    ::operator delete(p, av, std::nothrow);
    p = keep(::operator new[](10, av, std::nothrow));
    CHECK(ours(p) && aligned(p, al), "operator new[](10, align %zu, nothrow): %p", al, p);
    ::operator delete[](p, av, std::nothrow);
    p = keep(::operator new(64, av));
    ::operator delete(p, 64, av);  // sized + aligned, non-array
  }
  // Memory crosses between malloc/free and new/delete's allocator: both are shardalloc.
  p = keep(std::malloc(64));
  CHECK(ours(p), "malloc(64): %p", p);
  std::free(p);
}

/* --- containers across threads --- */
static void test_containers() {
  std::puts("std containers in 4 threads, objects freed by other threads");
  constexpr int kThreads = 4;
  std::vector<std::unique_ptr<std::vector<std::string>>> handoff(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t, &handoff, &bad] {
      std::map<int, std::string> m;
      std::unordered_map<std::string, std::vector<int>> u;
      for (int i = 0; i < 20000; i++) {
        m[i] = std::string(static_cast<std::size_t>(i % 200), char('a' + i % 26));
        u[std::to_string(i * t)].push_back(i);
        if (i % 3 == 0) m.erase(i / 2);
      }
      for (auto& kv : m) {
        if (kv.second.size() != static_cast<std::size_t>(kv.first % 200)) bad++;
        if (!kv.second.empty() && !ours(kv.second.data()) && kv.second.size() > 15) bad++;
      }
      auto v = std::make_unique<std::vector<std::string>>();
      for (int i = 0; i < 5000; i++) v->push_back("handed to another thread " + std::to_string(i));
      handoff[static_cast<std::size_t>(t)] = std::move(v);
    });
  }
  for (auto& th : threads) th.join();
  threads.clear();
  // Each thread frees the vector another thread built (remote frees of every string).
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t, &handoff, &bad] {
      auto& v = handoff[static_cast<std::size_t>((t + 1) % kThreads)];
      if (!ours(v.get()) || v->size() != 5000) bad++;
      v.reset();
    });
  }
  for (auto& th : threads) th.join();
  CHECK(bad == 0, "%d container checks failed", bad.load());
}

/* --- out of memory --- */
static const std::size_t kHuge = SIZE_MAX / 4;  // never satisfiable
static int handler_calls = 0;
static void counting_handler() {
  if (++handler_calls == 3) std::set_new_handler(nullptr);  // give up: the next failure throws
}
struct handler_error : std::runtime_error {
  handler_error() : std::runtime_error("from the new_handler") {}
};
static void throwing_handler() {
  handler_calls++;
  throw handler_error();
}

static void test_out_of_memory() {
  std::puts("std::bad_alloc, the new-handler loop, nothrow");
  bool threw = false;
  try {
    keep(::operator new(kHuge));
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw, "operator new(huge) without a handler did not throw std::bad_alloc");
  threw = false;
  try {
    keep(::operator new[](kHuge, std::align_val_t{64}));
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw, "operator new[](huge, align 64) did not throw std::bad_alloc");
  CHECK(keep(::operator new(kHuge, std::nothrow)) == nullptr, "nothrow new(huge) is not nullptr");
  CHECK(keep(::operator new(kHuge, std::align_val_t{256}, std::nothrow)) == nullptr,
        "nothrow aligned new(huge) is not nullptr");

  // The handler is called, and the allocation retried, until it uninstalls itself.
  handler_calls = 0;
  std::set_new_handler(counting_handler);
  threw = false;
  try {
    keep(::operator new(kHuge));
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw && handler_calls == 3, "handler loop: threw %d, %d handler calls (want 3)", threw,
        handler_calls);
  // nothrow: mimalloc-new-delete.h runs the standard loop (the handler is called until it gives
  // up, and what it throws becomes nullptr); the library's own operators, written in C, return
  // nullptr without calling the handler (C cannot catch what it would throw).
#if defined(CXX_HEADER)
  const int want_calls = 3;
#else
  const int want_calls = 0;
#endif
  handler_calls = 0;
  std::set_new_handler(counting_handler);
  void* p = keep(::operator new[](kHuge, std::nothrow));
  CHECK(p == nullptr && handler_calls == want_calls, "nothrow loop: %p, %d handler calls (want %d)",
        p, handler_calls, want_calls);
  handler_calls = 0;
  std::set_new_handler(throwing_handler);
  p = keep(::operator new(kHuge, std::nothrow));
  CHECK(p == nullptr && handler_calls == (want_calls ? 1 : 0),
        "nothrow new with a throwing handler: %p, %d calls", p, handler_calls);
  p = keep(::operator new(kHuge, std::align_val_t{64}, std::nothrow));
  CHECK(p == nullptr, "nothrow aligned new with a throwing handler: %p", p);
  std::set_new_handler(nullptr);
  // A handler's own exception reaches the caller of new.
  handler_calls = 0;
  std::set_new_handler(throwing_handler);
  bool own = false;
  try {
    keep(::operator new(kHuge, std::align_val_t{32}));
  } catch (const handler_error&) {
    own = true;
  }
  CHECK(own && handler_calls == 1, "handler exception: caught %d, %d calls", own, handler_calls);
  std::set_new_handler(nullptr);
#if !defined(CXX_PRELOAD)  // the mi_new family itself (a preloaded program is not linked to it)
  std::set_new_handler(counting_handler);
  // Overflow of count * size: bad_alloc at once, the handler is not asked.
  handler_calls = 0;
  threw = false;
  try {
    volatile std::size_t count = SIZE_MAX / 2;
    keep(mi_new_n(count, 3));
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw && handler_calls == 0, "mi_new_n overflow: threw %d, %d handler calls", threw,
        handler_calls);
  std::set_new_handler(nullptr);

  // mi_new_realloc keeps the block when it throws, and grows it when it can.
  char* q = static_cast<char*>(mi_new(16));
  std::memcpy(q, "0123456789abcde", 16);
  threw = false;
  try {
    keep(mi_new_realloc(q, kHuge));
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw && std::memcmp(q, "0123456789abcde", 16) == 0, "mi_new_realloc(huge) lost p");
  q = static_cast<char*>(mi_new_reallocn(q, 1000, 10));
  CHECK(q != nullptr && std::memcmp(q, "0123456789abcde", 16) == 0, "mi_new_reallocn grow");
  mi_free(q);
  void* n = mi_new_aligned_nothrow(100, 4096);
  CHECK(n != nullptr && aligned(n, 4096), "mi_new_aligned_nothrow");
  mi_free(n);
  mi_heap_t* heap = mi_heap_new();
  void* h = mi_heap_alloc_new_n(heap, 10, 10);
  CHECK(h != nullptr && mi_heap_contains_block(heap, h), "mi_heap_alloc_new_n");
  mi_heap_delete(heap);
  mi_free(h);
#endif
}

/* --- thread_local destructors that allocate --- */
static std::atomic<int> tls_dtor_ok{0};
struct tls_user {
  std::vector<int>* v;
  tls_user() : v(new std::vector<int>(100, 1)) {}
  ~tls_user() {
    // Runs at thread exit, around the allocator's own thread teardown.
    std::string* s = new std::string(1000, 'x');
    std::vector<int>* w = new std::vector<int>(*v);
    if (ours(s) && ours(w) && w->size() == 101) tls_dtor_ok++;  // 100 + the thread's push
    delete s;
    delete w;
    delete v;
  }
};
static thread_local tls_user tls_object;

static void test_tls_destructors() {
  std::puts("allocation in thread_local destructors");
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; i++) threads.emplace_back([] { tls_object.v->push_back(2); });
  for (auto& t : threads) t.join();
  CHECK(tls_dtor_ok == 8, "%d of 8 thread_local destructors allocated from shardalloc",
        tls_dtor_ok.load());
}

int main() {
  std::printf("test-cxx (%s): C++ operators served by shardalloc\n", CXX_VARIANT);
  std::puts("allocation before main");
  CHECK(early.names.size() == 100 && ours(early.names.data()) && ours(early.names[99].data()),
        "global constructor's vector is not shardalloc memory");
  test_forms();
  test_containers();
  test_out_of_memory();
  test_tls_destructors();
  std::printf("test-cxx (%s): %d passed, %d failed\n", CXX_VARIANT, t_cxx_passed.load(), t_cxx_failed.load());
  return t_cxx_failed == 0 ? 0 : 1;
}
