/* POSIX, BSD, glibc and Windows-style allocation names on top of the mi_* API: posix_memalign,
 * memalign, valloc, pvalloc, aligned_alloc, reallocarray, reallocarr, malloc_size and friends,
 * checked free, string and environment duplication. No state of its own. */
#include <stdlib.h>
#include <wchar.h>

#include "internal/internal.h"

size_t mi_malloc_size(const void* p) mi_attr_noexcept { return mi_usable_size(p); }

size_t mi_malloc_usable_size(const void* p) mi_attr_noexcept { return mi_usable_size(p); }

size_t mi_malloc_good_size(size_t size) mi_attr_noexcept { return mi_good_size(size); }

// The block size malloc(size) would give: the size class, or the page-rounded size when huge.
size_t mi_good_size(size_t size) mi_attr_noexcept {
  if (size > MI_MAX_ALLOC_SIZE) return size;
  size += MI_PADDING;  // secure builds: the canary's room is not usable
  if (size <= MI_LARGE_OBJ_SIZE_MAX) return _mi_bin_size(_mi_bin(size)) - MI_PADDING;
  return _mi_align_up(size, _mi_os_page_size()) - MI_PADDING;
}

// Frees only what shardalloc allocated; anything else is left alone.
void mi_cfree(void* p) mi_attr_noexcept {
  if (mi_is_in_heap_region(p)) mi_free(p);
}

int mi_posix_memalign(void** p, size_t alignment, size_t size) mi_attr_noexcept {
  if (p == NULL) return EINVAL;
  if (alignment % sizeof(void*) != 0 || !_mi_is_power_of_two(alignment)) return EINVAL;
  void* q = mi_malloc_aligned(size, alignment);
  if (q == NULL) return ENOMEM;
  *p = q;
  return 0;
}

void* mi_memalign(size_t alignment, size_t size) mi_attr_noexcept {
  return mi_malloc_aligned(size, alignment);
}

void* mi_valloc(size_t size) mi_attr_noexcept {
  return mi_malloc_aligned(size, _mi_os_page_size());
}

void* mi_pvalloc(size_t size) mi_attr_noexcept {
  const size_t psize = _mi_os_page_size();
  if (size > SIZE_MAX - psize) return mi_enomem();
  const size_t asize = (size == 0 ? psize : _mi_align_up(size, psize));
  return mi_malloc_aligned(asize, psize);
}

// C11 asks for size to be a multiple of the alignment; like C17 we do not insist.
void* mi_aligned_alloc(size_t alignment, size_t size) mi_attr_noexcept {
  return mi_malloc_aligned(size, alignment);
}

void* mi_reallocarray(void* p, size_t count, size_t size) mi_attr_noexcept {
  return mi_reallocn(p, count, size);
}

// NetBSD: *(void**)p is reallocated in place of the pointer; returns 0 or an errno value and
// leaves the pointer unchanged on failure.
int mi_reallocarr(void* p, size_t count, size_t size) mi_attr_noexcept {
  if (p == NULL) return EINVAL;
  void** op = (void**)p;
  const int saved = errno;
  void* newp = mi_reallocn(*op, count, size);
  if (newp == NULL) {
    const int err = errno;
    errno = saved;
    return err;
  }
  *op = newp;
  errno = saved;
  return 0;
}

void* mi__expand(void* p, size_t newsize) mi_attr_noexcept {
  void* res = mi_expand(p, newsize);
  if (res == NULL) errno = ENOMEM;
  return res;
}

void* mi_aligned_recalloc(void* p, size_t newcount, size_t size, size_t alignment) mi_attr_noexcept {
  return mi_recalloc_aligned(p, newcount, size, alignment);
}

void* mi_aligned_offset_recalloc(void* p, size_t newcount, size_t size, size_t alignment,
                                 size_t offset) mi_attr_noexcept {
  return mi_recalloc_aligned_at(p, newcount, size, alignment, offset);
}

wchar_t* mi_wcsdup(const wchar_t* s) mi_attr_noexcept {
  if (s == NULL) return NULL;
  const size_t len = wcslen(s);
  wchar_t* t = (wchar_t*)mi_mallocn(len + 1, sizeof(wchar_t));
  if (t != NULL) memcpy(t, s, (len + 1) * sizeof(wchar_t));
  return t;
}

unsigned char* mi_mbsdup(const unsigned char* s) mi_attr_noexcept {
  return (unsigned char*)mi_strdup((const char*)s);
}

int mi_dupenv_s(char** buf, size_t* size, const char* name) mi_attr_noexcept {
  if (buf == NULL || name == NULL) return EINVAL;
  if (size != NULL) *size = 0;
  const char* value = getenv(name);
  if (value == NULL) {
    *buf = NULL;
    return 0;
  }
  *buf = mi_strdup(value);
  if (*buf == NULL) return ENOMEM;
  if (size != NULL) *size = strlen(value) + 1;
  return 0;
}

// The environment is narrow on Unix: convert the name and the value with the current locale.
int mi_wdupenv_s(wchar_t** buf, size_t* size, const wchar_t* name) mi_attr_noexcept {
  if (buf == NULL || name == NULL) return EINVAL;
  if (size != NULL) *size = 0;
  *buf = NULL;
  char cname[256];
  const size_t n = wcstombs(cname, name, sizeof(cname));
  if (n == (size_t)-1 || n >= sizeof(cname)) return EINVAL;
  const char* value = getenv(cname);
  if (value == NULL) return 0;
  const size_t wlen = mbstowcs(NULL, value, 0);
  if (wlen == (size_t)-1) return EINVAL;
  wchar_t* w = (wchar_t*)mi_mallocn(wlen + 1, sizeof(wchar_t));
  if (w == NULL) return ENOMEM;
  mbstowcs(w, value, wlen + 1);
  *buf = w;
  if (size != NULL) *size = wlen + 1;
  return 0;
}
