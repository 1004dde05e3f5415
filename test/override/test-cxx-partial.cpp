/* test-cxx-partial: a program that replaces only operator new(size_t) and operator delete(void*)
   (a common way to count or pool allocations). The standard has the other forms call those two:
   new[] and nothrow new call operator new, sized delete, delete[] and nothrow delete call
   operator delete. shardalloc's own definitions of the other forms must forward to the
   program's, not serve the blocks themselves. Linked with libshardalloc.so (default),
   preloaded (PARTIAL_PRELOAD) or linked with libshardalloc.a (PARTIAL_STATIC). */
#include <cstdio>
#include <cstdlib>
#include <new>

static int news, deletes;

// (the sized delete is deliberately not replaced: g++ warns, -Wsized-deallocation; the
// standard has it call this operator delete)

void* operator new(std::size_t n) {
  news++;
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept {
  if (p != nullptr) deletes++;
  std::free(p);
}

struct item_t {
  long value[6];
};

template <class T>
static T* keep(T* p) {
  __asm__ volatile("" : "+r"(p) : : "memory");
  return p;
}

static int failed;
static void expect(const char* what, int got_news, int got_deletes, int want_news, int want_deletes) {
  const bool ok = (got_news == want_news && got_deletes == want_deletes);
  if (!ok) failed++;
  std::printf("  %s: %s (operator new called %d times, want %d; operator delete %d, want %d)\n",
              ok ? "ok" : "FAIL", what, got_news, want_news, got_deletes, want_deletes);
}

int main() {
  std::printf("test-cxx-partial: the program replaces only operator new(size_t) and delete(void*)\n");
  news = deletes = 0;
  item_t* a = keep(new item_t);
  delete a;  // C++14: the sized delete, which must reach the program's delete
  expect("new / sized delete", news, deletes, 1, 1);

  news = deletes = 0;
  item_t* b = keep(new item_t[10]);
  delete[] b;
  expect("new[] / delete[]", news, deletes, 1, 1);

  news = deletes = 0;
  item_t* c = keep(new (std::nothrow) item_t);
  ::operator delete(c, std::nothrow);
  void* d = keep(::operator new[](100, std::nothrow));
  ::operator delete[](d, std::nothrow);
  expect("nothrow new, new[] / nothrow delete, delete[]", news, deletes, 2, 2);

  news = deletes = 0;
  void* e = keep(::operator new[](64));
  ::operator delete[](e, 64);  // sized delete[]
  expect("new[] / sized delete[]", news, deletes, 1, 1);
  std::printf("test-cxx-partial: %d failed\n", failed);
  return failed == 0 ? 0 : 1;
}
