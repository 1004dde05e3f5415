/* mimalloc-standin: a second copy of a few functions of the mimalloc API under their plain names,
   as libmimalloc-sys (or a C library built with mimalloc) brings them into a program that also
   links shardalloc-sys. Blocks come from libc's malloc behind a 16-byte header that marks them
   as the stand-in's; the options are an array of its own. _mi_error_message is an internal name
   that mimalloc and shardalloc's sources both use: internal names must not clash either. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define STANDIN_MAGIC 0x7374616e64696e31ULL /* "standin1" */

typedef struct standin_header_s {
  uint64_t magic;
  uint64_t size;
} standin_header_t;

static unsigned long standin_calls;
static long standin_options[64];
static int standin_last_error;

void* mi_malloc(size_t size) {
  standin_calls++;
  standin_header_t* h = malloc(sizeof(standin_header_t) + size);
  if (h == NULL) return NULL;
  h->magic = STANDIN_MAGIC;
  h->size = size;
  return h + 1;
}

void mi_free(void* p) {
  if (p == NULL) return;
  standin_calls++;
  standin_header_t* h = (standin_header_t*)p - 1;
  if (h->magic != STANDIN_MAGIC) abort();  // a block of another allocator: a wrong link
  h->magic = 0;
  free(h);
}

size_t mi_usable_size(const void* p) {
  return (p == NULL ? 0 : ((const standin_header_t*)p - 1)->size);
}

int mi_version(void) { return 20109; }

long mi_option_get(int option) {
  return (option >= 0 && option < 64 ? standin_options[option] : 0);
}

void mi_option_set(int option, long value) {
  if (option >= 0 && option < 64) standin_options[option] = value;
}

void _mi_error_message(int err, const char* fmt, ...) {
  (void)fmt;
  standin_last_error = err;
}

/* Not mimalloc API: what the test asks the stand-in. */
unsigned long standin_call_count(void) { return standin_calls; }
int standin_last_error_code(void) { return standin_last_error; }
