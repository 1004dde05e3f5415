// consumer-cxx: a C++ program linked with shardalloc.o, the static override, and nothing else of
// shardalloc (pkg/test/test-install.sh builds it through pkg-config and through find_package).
// Checks that operator new, malloc and the mi_* API are shardalloc's, in this executable, and
// that no libshardalloc is loaded; exits 1 on any mismatch.
#include <link.h>
#include <mimalloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

static int fails = 0;

static void check(bool ok, const char* what) {
  if (!ok) {
    std::printf("consumer-cxx: FAIL: %s\n", what);
    fails++;
  }
}

static int find_shardalloc_library(struct dl_phdr_info* info, size_t, void* found) {
  if (info->dlpi_name != nullptr && std::strstr(info->dlpi_name, "libshardalloc") != nullptr) {
    *static_cast<const char**>(found) = info->dlpi_name;
  }
  return 0;
}

int main() {
  const char* library = nullptr;
  dl_iterate_phdr(find_shardalloc_library, &library);
  std::printf("consumer-cxx: library version %d, loaded shardalloc library: %s\n", mi_version(),
              library != nullptr ? library : "none (the object is in the executable)");
  check(library == nullptr, "no libshardalloc is loaded");
  check(mi_version() == MI_MALLOC_VERSION, "the object's version is the headers'");

  int* one = new int(42);
  check(mi_is_in_heap_region(one), "operator new's block is in shardalloc's heap");
  delete one;
  std::vector<std::string> words;
  std::map<std::string, int> count;
  for (int i = 0; i < 10000; i++) {
    words.push_back("word-" + std::to_string(i % 100) + std::string(i % 50, 'x'));
    count[words.back()]++;
  }
  check(mi_is_in_heap_region(words.data()), "a vector's storage is in shardalloc's heap");
  check(count.size() == 100 && count.begin()->second == 100, "the containers hold their data");
  void* p = std::malloc(1000);
  check(mi_is_in_heap_region(p), "malloc's block is in shardalloc's heap");
  std::free(p);
  return fails == 0 ? 0 : 1;
}
