/* Sub-processes: groups of threads whose abandoned memory stays apart (segment.c adopts only a
 * segment its thread's group abandoned). A record lives while its handle, a thread in it or one
 * of its segments on the abandoned list refers to it (an atomic count; any thread may drop the
 * last reference). The main sub-process is static and is NULL inside the library. */
#include "internal/internal.h"

static mi_subproc_t mi_subproc_main_record;  // only its address is used: the main one's id

mi_subproc_id_t mi_subproc_main(void) mi_attr_noexcept { return &mi_subproc_main_record; }

mi_subproc_t* _mi_subproc_of_id(mi_subproc_id_t id) {
  return (id == (mi_subproc_id_t)&mi_subproc_main_record ? NULL : (mi_subproc_t*)id);
}

mi_subproc_id_t mi_subproc_new(void) mi_attr_noexcept {
  mi_process_init();
  mi_memid_t memid;
  mi_subproc_t* subproc = (mi_subproc_t*)_mi_os_alloc(sizeof(mi_subproc_t), &memid);
  if (subproc == NULL) return mi_enomem();
  subproc->memid = memid;
  mi_atomic_store_release(&subproc->refs, 1);  // the handle
  return subproc;
}

void _mi_subproc_acquire(mi_subproc_t* subproc) {
  if (subproc != NULL) mi_atomic_add_relaxed(&subproc->refs, 1);
}

void _mi_subproc_release(mi_subproc_t* subproc) {
  if (subproc == NULL) return;
  if (atomic_fetch_sub_explicit(&subproc->refs, 1, memory_order_acq_rel) == 1) {
    _mi_os_free(subproc, sizeof(mi_subproc_t), subproc->memid);
  }
}

void mi_subproc_delete(mi_subproc_id_t id) mi_attr_noexcept {
  mi_subproc_t* subproc = (id == NULL ? NULL : _mi_subproc_of_id(id));
  if (subproc == NULL) return;  // NULL or the main one: nothing to give up
  _mi_segments_abandoned_collect(subproc);  // what emptied goes now: maybe the last reference
  _mi_subproc_release(subproc);
}

void mi_subproc_add_current_thread(mi_subproc_id_t id) mi_attr_noexcept {
  if (id == NULL) return;
  mi_heap_t* heap = mi_heap_get_default();
  if (!mi_heap_is_initialized(heap)) return;
  mi_segments_tld_t* tld = &heap->tld->segments;
  mi_subproc_t* subproc = _mi_subproc_of_id(id);
  if (tld->subproc == subproc) return;
  if (tld->count > 0) {
    _mi_warning_message("mi_subproc_add_current_thread: the thread already holds memory; it stays "
                        "in its sub-process");
    return;
  }
  _mi_subproc_acquire(subproc);
  mi_subproc_t* old = tld->subproc;
  tld->subproc = subproc;
  _mi_subproc_release(old);
}

// Thread exit (after its segments were abandoned or freed): the thread leaves its sub-process.
void _mi_subproc_thread_done(mi_segments_tld_t* tld) {
  mi_subproc_t* subproc = tld->subproc;
  tld->subproc = NULL;
  _mi_subproc_release(subproc);
}
