/* header-use: compiled, never run (ctest api-header-*, -fsyntax-only -Wall -Wextra -pedantic
   -Werror for each C++ standard from C++98 on, with g++ and clang++): mimalloc.h alone, with
   every member of its allocators instantiated and the allocators used by the standard
   containers, must compile without a warning. Written in C++98 where it is not C++11 only. */
#include <mimalloc.h>

#include <deque>
#include <list>
#include <map>
#include <set>
#include <string>
#include <vector>
#if (__cplusplus >= 201103L)
#include <unordered_map>
#include <utility>
#endif

#if !defined(MI_MALLOC_VERSION)
#error "mimalloc.h did not define MI_MALLOC_VERSION"
#endif

// Explicit instantiation compiles every (non-template) member.
template struct mi_stl_allocator<int>;
template struct mi_stl_allocator<std::string>;

// Allocator typedefs keep `>>` (not C++98) out of the nested template arguments below.
typedef mi_stl_allocator<char> char_alloc;
typedef std::basic_string<char, std::char_traits<char>, char_alloc> mi_string;
typedef mi_stl_allocator<int> int_alloc;
typedef mi_stl_allocator<mi_string> string_alloc;
typedef std::pair<const int, double> pair_t;
typedef mi_stl_allocator<pair_t> pair_alloc;
typedef mi_stl_allocator<long> long_alloc;

int use_stl_allocator();
int use_stl_allocator() {
  std::vector<int, int_alloc> v(10, 1);
  v.push_back(2);
  std::list<mi_string, string_alloc> l;
  l.push_back(mi_string("text"));
  std::map<int, double, std::less<int>, pair_alloc> m;
  m[1] = 2.0;
  std::set<long, std::less<long>, long_alloc> s;
  s.insert(3L);
  std::deque<char, char_alloc> d;
  d.push_front('x');

  mi_stl_allocator<int> a;
  mi_stl_allocator<int>::rebind<double>::other b(a);
  int* p = a.allocate(4);
  a.construct(p, 5);
  int* q = a.address(*p);
  a.destroy(q);
  a.deallocate(p, 4);
  return static_cast<int>(v.size() + l.size() + m.size() + s.size() + d.size() + (a == b ? 1 : 0) +
                          (a != b ? 1 : 0) + a.max_size() % 2);
}

#if (__cplusplus >= 201103L)
#if !defined(MI_HAS_HEAP_STL_ALLOCATOR) || (MI_HAS_HEAP_STL_ALLOCATOR != 1)
#error "MI_HAS_HEAP_STL_ALLOCATOR must be 1 from C++11 on"
#endif
template struct mi_heap_stl_allocator<int>;
template struct mi_heap_destroy_stl_allocator<int>;

template <class A>
static int use_heap_allocator(const A& a) {
  typedef typename std::allocator_traits<A>::template rebind_alloc<std::pair<const int, int>> pa;
  std::vector<int, A> v(a);
  v.emplace_back(1);
  std::map<int, int, std::less<int>, pa> m{pa(a)};
  m.emplace(1, 2);
  std::unordered_map<int, int, std::hash<int>, std::equal_to<int>, pa> u{pa(a)};
  u.emplace(3, 4);
  A copy(a), moved(std::move(copy));
  moved.collect(false);
  return static_cast<int>(v.size() + m.size() + u.size()) + (moved == a) + (moved != a) +
         (moved.heap() != nullptr);
}

int use_heap_allocators();
int use_heap_allocators() {
  return use_heap_allocator(mi_heap_stl_allocator<int>()) +
         use_heap_allocator(mi_heap_stl_allocator<int>(mi_heap_get_default())) +
         use_heap_allocator(mi_heap_destroy_stl_allocator<int>());
}
#endif
