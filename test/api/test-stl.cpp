/* test-stl: the C++ allocators of mimalloc.h inside the standard containers.
 *   mi_stl_allocator: std::vector grown element by element to a million entries, std::map and
 *     std::unordered_map with 100k entries, std::basic_string of megabytes, containers copied,
 *     moved and swapped; storage is shardalloc's; an impossible request throws std::bad_alloc.
 *   mi_heap_stl_allocator: a vector and a map built from one explicit heap keep every block in
 *     it; default-constructed allocators own distinct heaps, copies (also rebound) share one; a
 *     moved-from allocator still works; the owned heap is deleted with the last copy, so a block
 *     still live then belongs to the backing heap.
 *   mi_heap_destroy_stl_allocator: deallocate frees nothing (the heap's live-block count does not
 *     drop when 100k-entry containers are cleared and destroyed); when the last copy goes, the
 *     heap is destroyed: the process-wide count of pages in use (mi_stats "pages", current) drops
 *     by at least the pages the heap held. */
#include <mimalloc.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "testutil-cxx.h"

static bool quick() {
  const char* s = std::getenv("SHARDALLOC_TEST_QUICK");
  return s != nullptr && s[0] != 0 && std::strcmp(s, "0") != 0;
}

static void section(const char* what) {
  std::printf("  - %s\n", what);
  std::fflush(stdout);
}

static const void* vp(const void* p) { return p; }

// A key sequence that is neither sorted nor reverse-sorted, so the trees rebalance.
static int key_of(int i) { return static_cast<int>((static_cast<unsigned>(i) * 2654435761u) >> 1); }

template <class T>
using std_vector = std::vector<T, mi_stl_allocator<T>>;
template <class K, class V>
using std_map = std::map<K, V, std::less<K>, mi_stl_allocator<std::pair<const K, V>>>;
template <class K, class V>
using std_umap = std::unordered_map<K, V, std::hash<K>, std::equal_to<K>,
                                    mi_stl_allocator<std::pair<const K, V>>>;
using mi_string = std::basic_string<char, std::char_traits<char>, mi_stl_allocator<char>>;

/* ---- mi_stl_allocator ---- */

static void test_stl_allocator_basics() {
  section("mi_stl_allocator: equality, rebind, max_size, allocate/deallocate, bad_alloc");
  mi_stl_allocator<int> a;
  mi_stl_allocator<double> b(a);
  mi_stl_allocator<int>::rebind<long>::other c;
  CHECK(a == b && !(a != b) && a == c, "stateless allocators must all compare equal");
  CHECK(std::allocator_traits<mi_stl_allocator<int>>::is_always_equal::value,
        "is_always_equal must be true");
  CHECK(a.max_size() == PTRDIFF_MAX / sizeof(int), "max_size %zu", a.max_size());
  int* p = a.allocate(1000);
  CHECK(mi_heap_contains_block(mi_heap_get_default(), p), "allocate(1000) not in the default heap");
  CHECK(mi_usable_size(p) >= 1000 * sizeof(int), "usable %zu", mi_usable_size(p));
  for (int i = 0; i < 1000; i++) p[i] = i;
  a.deallocate(p, 1000);
  bool threw = false;
  try {
    volatile std::size_t count = SIZE_MAX / sizeof(int) + 2;  // count * size overflows
    int* q = a.allocate(count);
    a.deallocate(q, 1);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw, "allocate(SIZE_MAX / sizeof(int) + 2) did not throw std::bad_alloc");
}

static void test_vector(std::size_t n) {
  section("std::vector<int, mi_stl_allocator<int>> grown to n elements by push_back");
  std_vector<int> v;
  std::size_t reallocations = 0;
  const int* last = nullptr;
  for (std::size_t i = 0; i < n; i++) {
    v.push_back(static_cast<int>(i * 7));
    if (v.data() != last) {
      reallocations++;
      last = v.data();
      if (!mi_heap_contains_block(mi_heap_get_default(), last)) {
        CHECK(false, "vector storage %p (capacity %zu) not in the default heap", vp(last),
              v.capacity());
      }
    }
  }
  CHECK(v.size() == n, "size %zu, expected %zu", v.size(), n);
  CHECK(reallocations >= 10, "only %zu reallocations growing to %zu", reallocations, n);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; i++) bad += (v[i] != static_cast<int>(i * 7));
  CHECK(bad == 0, "%zu of %zu elements wrong after growth", bad, n);
  CHECK(mi_usable_size(v.data()) >= v.capacity() * sizeof(int), "usable %zu < capacity %zu",
        mi_usable_size(v.data()), v.capacity());
  v.resize(n / 2);
  v.shrink_to_fit();
  bad = 0;
  for (std::size_t i = 0; i < v.size(); i++) bad += (v[i] != static_cast<int>(i * 7));
  CHECK(bad == 0 && v.size() == n / 2, "%zu elements wrong after shrink_to_fit", bad);
}

static void test_map(int n) {
  section("std::map and std::unordered_map with mi_stl_allocator, n entries");
  std_map<int, int> m;
  std_umap<int, int> u;
  for (int i = 0; i < n; i++) {
    m[key_of(i)] = i;
    u.emplace(key_of(i), i);
  }
  CHECK(m.size() == static_cast<std::size_t>(n), "map size %zu, expected %d", m.size(), n);
  CHECK(u.size() == static_cast<std::size_t>(n), "unordered_map size %zu, expected %d", u.size(),
        n);
  int bad = 0;
  for (int i = 0; i < n; i++) {
    auto it = m.find(key_of(i));
    auto jt = u.find(key_of(i));
    bad += (it == m.end() || it->second != i || jt == u.end() || jt->second != i);
  }
  CHECK(bad == 0, "%d of %d lookups wrong", bad, n);
  const void* node = &*m.begin();
  CHECK(mi_is_in_heap_region(node) && mi_heap_contains_block(mi_heap_get_default(), node),
        "map node %p not in the default heap", node);
  int prev = -1;
  bool sorted = true;
  for (const auto& kv : m) {
    if (kv.first <= prev) sorted = false;
    prev = kv.first;
  }
  CHECK(sorted, "map iteration is not in key order");
  for (int i = 0; i < n; i += 2) {
    m.erase(key_of(i));
    u.erase(key_of(i));
  }
  bad = 0;
  for (int i = 0; i < n; i++) {
    const bool kept = (i % 2) != 0;
    bad += (m.count(key_of(i)) != (kept ? 1u : 0u)) + (u.count(key_of(i)) != (kept ? 1u : 0u));
  }
  CHECK(bad == 0 && m.size() == static_cast<std::size_t>(n / 2), "%d wrong after erasing half",
        bad);
}

static void test_string() {
  section("std::basic_string with mi_stl_allocator: short, 1 MiB, 8 MiB by appending");
  mi_string s("short");
  CHECK(s == "short", "short string '%s'", s.c_str());
  mi_string big(1 << 20, 'x');
  CHECK(big.size() == (1u << 20) && big[0] == 'x' && big[(1 << 20) - 1] == 'x',
        "1 MiB string wrong");
  CHECK(mi_heap_contains_block(mi_heap_get_default(), big.data()), "1 MiB string not ours");
  mi_string grown;
  for (int i = 0; grown.size() < (8u << 20); i++) {
    const std::string piece = "block " + std::to_string(i) + ";";
    grown.append(piece.data(), piece.size());
  }
  CHECK(grown.compare(0, 8, "block 0;") == 0, "prefix '%.8s'", grown.c_str());
  CHECK(grown.find("block 100000;") != mi_string::npos, "appended text lost");
  CHECK(mi_heap_contains_block(mi_heap_get_default(), grown.data()), "8 MiB string not ours");
  mi_string copy = grown;
  CHECK(copy == grown && copy.data() != grown.data(), "string copy differs or shares storage");
  copy[copy.size() / 2] = '#';
  CHECK(copy != grown, "a changed copy still compares equal");
}

static void test_copy_move_swap() {
  section("containers with mi_stl_allocator copied, moved, swapped");
  std_vector<int> a;
  for (int i = 0; i < 100000; i++) a.push_back(i);
  std_vector<int> b(a);
  CHECK(b == a && b.data() != a.data(), "copy differs or shares storage");
  const int* storage = a.data();
  std_vector<int> c(std::move(a));
  CHECK(c.data() == storage && c.size() == 100000, "move did not take the storage");
  CHECK(a.empty(), "moved-from vector not empty (%zu)", a.size());
  a.push_back(5);  // a moved-from container must stay usable
  CHECK(a.size() == 1 && a[0] == 5, "moved-from vector unusable");
  const int* bs = b.data();
  const int* cs = c.data();
  a.swap(b);
  CHECK(a.data() == bs && b.size() == 1 && b[0] == 5, "swap did not exchange storage");
  b = c;  // copy assignment propagates the (equal) allocator
  CHECK(b == c && b.data() != cs, "copy assignment wrong");
  c = std::move(b);
  CHECK(c.size() == 100000 && c[99999] == 99999, "move assignment wrong");

  std_map<int, mi_string> m1;
  for (int i = 0; i < 1000; i++) m1.emplace(i, mi_string(100, static_cast<char>('a' + i % 26)));
  std_map<int, mi_string> m2 = m1;
  CHECK(m2 == m1, "map copy differs");
  std_map<int, mi_string> m3;
  m3.emplace(-1, "only");
  std::swap(m1, m3);
  CHECK(m1.size() == 1 && m3.size() == 1000 && m3.at(999) == m2.at(999), "map swap wrong");
  m1 = std::move(m2);
  CHECK(m1.size() == 1000 && m1.at(25)[0] == 'z', "map move assignment wrong");
}

/* ---- heap allocators ---- */

struct visit_count {
  std::size_t areas = 0;
  std::size_t blocks = 0;
};

static bool count_visitor(const mi_heap_t*, const mi_heap_area_t*, void* block, std::size_t,
                          void* arg) {
  visit_count* c = static_cast<visit_count*>(arg);
  if (block == nullptr) {
    c->areas++;
  } else {
    c->blocks++;
  }
  return true;
}

static visit_count count_heap(mi_heap_t* heap) {
  visit_count c;
  mi_heap_visit_blocks(heap, true, &count_visitor, &c);
  return c;
}

template <class T>
using heap_vector = std::vector<T, mi_heap_stl_allocator<T>>;
template <class K, class V>
using heap_map = std::map<K, V, std::less<K>, mi_heap_stl_allocator<std::pair<const K, V>>>;

static void test_heap_allocator(int n) {
  section("mi_heap_stl_allocator from an explicit heap: a vector and a map share it");
  mi_heap_t* heap = mi_heap_new();
  if (heap == nullptr) {
    CHECK(false, "mi_heap_new() returned NULL");
    return;
  }
  {
    mi_heap_stl_allocator<int> alloc(heap);
    CHECK(alloc.heap() == heap, "allocator heap %p, expected %p", vp(alloc.heap()), vp(heap));
    heap_vector<int> v(alloc);
    heap_map<int, int> m(alloc);  // rebound to the map's node type, same heap
    CHECK(m.get_allocator() == v.get_allocator(), "rebound copy does not compare equal");
    for (int i = 0; i < n; i++) {
      v.push_back(i);
      m.emplace(key_of(i), i);
    }
    CHECK(mi_heap_contains_block(heap, v.data()), "vector storage %p not in the heap",
          vp(v.data()));
    CHECK(!mi_heap_contains_block(mi_heap_get_default(), v.data()),
          "vector storage %p also in the default heap", vp(v.data()));
    int outside = 0, bad = 0;
    for (const auto& kv : m) {
      outside += !mi_heap_contains_block(heap, &kv);
      bad += (kv.second < 0 || kv.second >= n || key_of(kv.second) != kv.first);
    }
    CHECK(outside == 0, "%d of %d map nodes outside the heap", outside, n);
    CHECK(bad == 0 && m.size() == static_cast<std::size_t>(n), "%d map entries wrong", bad);
    const visit_count c = count_heap(heap);
    CHECK(c.blocks >= static_cast<std::size_t>(n) + 1, "heap holds %zu live blocks for %d nodes",
          c.blocks, n);
    alloc.collect(true);
    CHECK(v[n - 1] == n - 1 && m.at(key_of(n - 1)) == n - 1, "contents changed by collect");
  }
  const visit_count after = count_heap(heap);
  CHECK(after.blocks == 0, "%zu blocks left in the heap after the containers went", after.blocks);
  mi_heap_delete(heap);  // the explicit heap stays ours: the allocator must not have deleted it

  section("mi_heap_stl_allocator: equality of default-constructed, copied, rebound, moved");
  mi_heap_stl_allocator<int> a1;
  mi_heap_stl_allocator<int> a2;
  CHECK(a1.heap() != nullptr && a2.heap() != nullptr, "default construction gave no heap");
  CHECK(a1 != a2 && !(a1 == a2), "two default-constructed allocators compare equal");
  mi_heap_stl_allocator<int> a3(a1);
  mi_heap_stl_allocator<double> a4(a1);
  CHECK(a3 == a1 && a4 == a1 && !(a4 != a3), "copies do not compare equal");
  a3 = a2;
  CHECK(a3 == a2 && a3 != a1, "copy assignment did not take the other heap");
  mi_heap_stl_allocator<int> a5(std::move(a1));
  CHECK(a5 == a1 && a1.heap() != nullptr, "a moved-from allocator lost its heap");
  CHECK(!std::allocator_traits<mi_heap_stl_allocator<int>>::is_always_equal::value,
        "is_always_equal must be false");

  section("mi_heap_stl_allocator: containers moved and swapped keep their heaps");
  heap_vector<int> va(a1), vb(a2);
  for (int i = 0; i < 1000; i++) {
    va.push_back(i);
    vb.push_back(-i);
  }
  va.swap(vb);
  CHECK(va.get_allocator() == a2 && mi_heap_contains_block(a2.heap(), va.data()) &&
            mi_heap_contains_block(a1.heap(), vb.data()),
        "swap did not carry the allocators with the storage");
  heap_vector<int> vc(std::move(va));
  va.push_back(1);  // the moved-from container allocates through its (moved-from) allocator
  CHECK(mi_heap_contains_block(a2.heap(), va.data()) && vc.get_allocator() == a2,
        "moved-from container allocates outside its heap");

  section("mi_heap_stl_allocator: the owned heap is deleted (not destroyed) with the last copy");
  int* live = nullptr;
  {
    mi_heap_stl_allocator<int> owner;
    live = owner.allocate(100);
    for (int i = 0; i < 100; i++) live[i] = i;
    CHECK(mi_heap_contains_block(owner.heap(), live), "block not in the allocator's heap");
  }
  CHECK(mi_heap_contains_block(mi_heap_get_backing(), live),
        "a block still live when the heap went is not in the backing heap: heap not deleted");
  CHECK(live[99] == 99, "block content lost when its heap was deleted");
  mi_free(live);
}

/* The "current" figure of the "pages:" row of mi_stats_print_out: pages in use in the process. */
struct capture {
  char text[16384];
  std::size_t len = 0;
};

static void capture_out(const char* msg, void* arg) {
  capture* c = static_cast<capture*>(arg);
  const std::size_t n = std::strlen(msg);
  if (c->len + n < sizeof(c->text)) {
    std::memcpy(c->text + c->len, msg, n + 1);
    c->len += n;
  }
}

static long pages_in_use() {
  static capture c;  // static: reading the figures must not allocate
  c.len = 0;
  c.text[0] = 0;
  mi_stats_print_out(&capture_out, &c);
  for (const char* line = c.text; line != nullptr && *line != 0;) {
    if (std::strncmp(line, "pages:", 6) == 0) {
      long peak = -1, total = -1, current = -1;
      if (std::sscanf(line + 6, "%ld %ld %ld", &peak, &total, &current) == 3) return current;
      return -1;
    }
    line = std::strchr(line, '\n');
    if (line != nullptr) line++;
  }
  return -1;
}

template <class T>
using destroy_vector = std::vector<T, mi_heap_destroy_stl_allocator<T>>;
template <class K, class V>
using destroy_map =
    std::map<K, V, std::less<K>, mi_heap_destroy_stl_allocator<std::pair<const K, V>>>;

static void test_heap_destroy_allocator(int n) {
  section("mi_heap_destroy_stl_allocator: deallocate frees nothing; the heap goes as a whole");
  mi_heap_destroy_stl_allocator<int> a1, a2;
  CHECK(a1 != a2, "two default-constructed destroy allocators compare equal");
  mi_heap_destroy_stl_allocator<long> a3(a1);
  CHECK(a3 == a1, "a rebound copy does not compare equal");

  const long pages_start = pages_in_use();
  CHECK(pages_start >= 0, "no \"pages:\" row with three figures in mi_stats_print_out");
  long pages_held = 0, pages_before = -1;
  {
    mi_heap_destroy_stl_allocator<int> alloc;
    mi_heap_t* heap = alloc.heap();
    visit_count full;
    {
      destroy_vector<int> v(alloc);
      destroy_map<int, int> m(alloc);
      for (int i = 0; i < n; i++) {
        v.push_back(i);
        m.emplace(key_of(i), i);
      }
      int bad = 0;
      for (int i = 0; i < n; i++) bad += (v[i] != i || m.at(key_of(i)) != i);
      CHECK(bad == 0, "%d of %d entries wrong", bad, n);
      CHECK(mi_heap_contains_block(heap, v.data()) && mi_heap_contains_block(heap, &*m.begin()),
            "container storage not in the allocator's heap");
      full = count_heap(heap);
      CHECK(full.blocks >= static_cast<std::size_t>(n) + 1,
            "heap holds %zu live blocks for %d nodes", full.blocks, n);
      m.clear();
      v.clear();
      v.shrink_to_fit();
    }
    // Both containers are gone and freed nothing.
    const visit_count left = count_heap(heap);
    CHECK(left.blocks >= full.blocks,
          "blocks in the heap dropped from %zu to %zu: deallocate freed", full.blocks, left.blocks);
    pages_held = static_cast<long>(left.areas);
    pages_before = pages_in_use();
    std::printf("    heap holds %zu blocks in %ld pages; process pages in use: %ld\n", left.blocks,
                pages_held, pages_before);
  }
  // The last copy of `alloc` is gone: its heap must have been destroyed with every page.
  const long pages_after = pages_in_use();
  std::printf("    after the last allocator copy: process pages in use %ld (was %ld)\n",
              pages_after, pages_before);
  CHECK(pages_held > 0, "the heap held no pages");
  CHECK(pages_before >= 0 && pages_after >= 0 && pages_before - pages_after >= pages_held,
        "pages in use went from %ld to %ld, not down by the heap's %ld: heap not destroyed",
        pages_before, pages_after, pages_held);
  CHECK(pages_after <= pages_start + 2, "pages in use %ld, %ld before the containers", pages_after,
        pages_start);
}

int main() {
  std::printf(
      "test-stl: mi_stl_allocator, mi_heap_stl_allocator and "
      "mi_heap_destroy_stl_allocator in the standard containers%s\n",
      quick() ? " (quick mode)" : "");
  const bool q = quick();
  test_stl_allocator_basics();
  test_vector(q ? 100000 : 1000000);
  test_map(q ? 20000 : 100000);
  test_string();
  test_copy_move_swap();
  test_heap_allocator(q ? 20000 : 100000);
  test_heap_destroy_allocator(q ? 20000 : 100000);
  std::printf("test-stl: %d passed, %d failed\n", t_cxx_passed.load(), t_cxx_failed.load());
  return t_cxx_failed == 0 && t_cxx_passed > 0 ? 0 : 1;
}
