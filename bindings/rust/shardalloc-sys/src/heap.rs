//! First-class heaps. A heap is allocated from only by the thread that made it; its blocks may be
//! freed by any thread with `mi_free`. Every thread has a backing heap and a default heap
//! (initially the same) that `mi_malloc` and friends use.

use core::ffi::{c_char, c_int, c_void};

use crate::arena::mi_arena_id_t;

/// A heap (opaque: only pointers to it are used).
#[repr(C)]
pub struct mi_heap_t {
    _opaque: [u8; 0],
    // Not Send, Sync or Unpin: the C library owns it and ties it to one thread.
    _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// One area of a heap (a page) as `mi_heap_visit_blocks` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mi_heap_area_t {
    /// Start of the area.
    pub blocks: *mut c_void,
    /// Bytes reserved for blocks.
    pub reserved: usize,
    /// Bytes in blocks handed out at least once.
    pub committed: usize,
    /// Live blocks.
    pub used: usize,
    /// Usable size of each block.
    pub block_size: usize,
    /// Size of each block including any metadata.
    pub full_block_size: usize,
    /// Tag of the owning heap (`mi_heap_new_ex`).
    pub heap_tag: c_int,
}

/// The visitor of `mi_heap_visit_blocks`: called once per area with `block` null, then once per
/// live block if asked; returning false stops the walk.
pub type mi_block_visit_fun = unsafe extern "C" fn(
    heap: *const mi_heap_t,
    area: *const mi_heap_area_t,
    block: *mut c_void,
    block_size: usize,
    arg: *mut c_void,
) -> bool;

/// A sub-process (`mi_subproc_main`, `mi_subproc_new`): a group of threads whose abandoned
/// memory only its own threads adopt.
pub type mi_subproc_id_t = *mut c_void;

/// mimalloc 2.4's name of a thread's heap.
pub type mi_theap_t = mi_heap_t;

c_functions! {
extern "C" {
    /// The calling thread's default heap (what `mi_malloc` uses).
    pub fn mi_heap_get_default() -> *mut mi_heap_t;
    /// The calling thread's backing heap.
    pub fn mi_heap_get_backing() -> *mut mi_heap_t;
    /// Makes `heap` the calling thread's default heap; returns the previous one.
    pub fn mi_heap_set_default(heap: *mut mi_heap_t) -> *mut mi_heap_t;
    /// Frees what `heap` caches; `force` also what is merely retained.
    pub fn mi_heap_collect(heap: *mut mi_heap_t, force: bool);

    /// A new heap of the calling thread (null when out of memory).
    pub fn mi_heap_new() -> *mut mi_heap_t;
    /// Deletes `heap`: its live blocks move to the backing heap and stay valid.
    pub fn mi_heap_delete(heap: *mut mi_heap_t);
    /// Destroys `heap`: every block in it is released at once.
    pub fn mi_heap_destroy(heap: *mut mi_heap_t);
    /// A heap that allocates only in arena `arena_id` (`ENOMEM` when it is full).
    pub fn mi_heap_new_in_arena(arena_id: mi_arena_id_t) -> *mut mi_heap_t;
    /// A heap with tag `heap_tag` (0..255), in `arena_id` (0: any), that may be destroyed if
    /// `allow_destroy` (it then never adopts abandoned memory).
    pub fn mi_heap_new_ex(
        heap_tag: c_int,
        allow_destroy: bool,
        arena_id: mi_arena_id_t,
    ) -> *mut mi_heap_t;

    /// `mi_malloc` in `heap`.
    pub fn mi_heap_malloc(heap: *mut mi_heap_t, size: usize) -> *mut c_void;
    /// `mi_zalloc` in `heap`.
    pub fn mi_heap_zalloc(heap: *mut mi_heap_t, size: usize) -> *mut c_void;
    /// `mi_calloc` in `heap`.
    pub fn mi_heap_calloc(heap: *mut mi_heap_t, count: usize, size: usize) -> *mut c_void;
    /// `mi_mallocn` in `heap`.
    pub fn mi_heap_mallocn(heap: *mut mi_heap_t, count: usize, size: usize) -> *mut c_void;
    /// `mi_malloc_small` in `heap`.
    pub fn mi_heap_malloc_small(heap: *mut mi_heap_t, size: usize) -> *mut c_void;
    /// `mi_zalloc_small` in `heap`.
    pub fn mi_heap_zalloc_small(heap: *mut mi_heap_t, size: usize) -> *mut c_void;
    /// `mi_realloc` in `heap`.
    pub fn mi_heap_realloc(heap: *mut mi_heap_t, p: *mut c_void, newsize: usize) -> *mut c_void;
    /// `mi_reallocn` in `heap`.
    pub fn mi_heap_reallocn(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        count: usize,
        size: usize,
    ) -> *mut c_void;
    /// `mi_reallocf` in `heap`.
    pub fn mi_heap_reallocf(heap: *mut mi_heap_t, p: *mut c_void, newsize: usize) -> *mut c_void;
    /// `mi_strdup` in `heap`.
    pub fn mi_heap_strdup(heap: *mut mi_heap_t, s: *const c_char) -> *mut c_char;
    /// `mi_strndup` in `heap`.
    pub fn mi_heap_strndup(heap: *mut mi_heap_t, s: *const c_char, n: usize) -> *mut c_char;
    /// `mi_realpath` in `heap`.
    pub fn mi_heap_realpath(
        heap: *mut mi_heap_t,
        fname: *const c_char,
        resolved_name: *mut c_char,
    ) -> *mut c_char;

    /// `mi_malloc_aligned` in `heap`.
    pub fn mi_heap_malloc_aligned(heap: *mut mi_heap_t, size: usize, alignment: usize)
        -> *mut c_void;
    /// `mi_malloc_aligned_at` in `heap`.
    pub fn mi_heap_malloc_aligned_at(
        heap: *mut mi_heap_t,
        size: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;
    /// `mi_zalloc_aligned` in `heap`.
    pub fn mi_heap_zalloc_aligned(heap: *mut mi_heap_t, size: usize, alignment: usize)
        -> *mut c_void;
    /// `mi_zalloc_aligned_at` in `heap`.
    pub fn mi_heap_zalloc_aligned_at(
        heap: *mut mi_heap_t,
        size: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;
    /// `mi_calloc_aligned` in `heap`.
    pub fn mi_heap_calloc_aligned(
        heap: *mut mi_heap_t,
        count: usize,
        size: usize,
        alignment: usize,
    ) -> *mut c_void;
    /// `mi_calloc_aligned_at` in `heap`.
    pub fn mi_heap_calloc_aligned_at(
        heap: *mut mi_heap_t,
        count: usize,
        size: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;
    /// `mi_realloc_aligned` in `heap`.
    pub fn mi_heap_realloc_aligned(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        newsize: usize,
        alignment: usize,
    ) -> *mut c_void;
    /// `mi_realloc_aligned_at` in `heap`.
    pub fn mi_heap_realloc_aligned_at(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        newsize: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;

    /// `mi_rezalloc` in `heap`.
    pub fn mi_heap_rezalloc(heap: *mut mi_heap_t, p: *mut c_void, newsize: usize) -> *mut c_void;
    /// `mi_recalloc` in `heap`.
    pub fn mi_heap_recalloc(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        newcount: usize,
        size: usize,
    ) -> *mut c_void;
    /// `mi_rezalloc_aligned` in `heap`.
    pub fn mi_heap_rezalloc_aligned(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        newsize: usize,
        alignment: usize,
    ) -> *mut c_void;
    /// `mi_rezalloc_aligned_at` in `heap`.
    pub fn mi_heap_rezalloc_aligned_at(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        newsize: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;
    /// `mi_recalloc_aligned` in `heap`.
    pub fn mi_heap_recalloc_aligned(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        newcount: usize,
        size: usize,
        alignment: usize,
    ) -> *mut c_void;
    /// `mi_recalloc_aligned_at` in `heap`.
    pub fn mi_heap_recalloc_aligned_at(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        newcount: usize,
        size: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;

    /// `p` is a block allocated in `heap`.
    pub fn mi_heap_contains_block(heap: *mut mi_heap_t, p: *const c_void) -> bool;
    /// `p` points anywhere into the pages of `heap` (may be slow).
    pub fn mi_heap_check_owned(heap: *mut mi_heap_t, p: *const c_void) -> bool;
    /// [`mi_heap_check_owned`] for the default heap.
    pub fn mi_check_owned(p: *const c_void) -> bool;
    /// `p` lies in memory shardalloc manages, for any heap.
    pub fn mi_is_in_heap_region(p: *const c_void) -> bool;
    /// The page of the live block `p` of `heap` has fewer than `perc_threshold` percent of its
    /// handed-out blocks in use.
    pub fn mi_unsafe_heap_page_is_under_utilized(
        heap: *mut mi_heap_t,
        p: *mut c_void,
        perc_threshold: usize,
    ) -> bool;

    /// Walks `heap` (owning thread only; the visitor must not allocate from or free into it):
    /// each area once with a null block, then each live block if `visit_blocks`. Returns false
    /// if the visitor stopped the walk.
    pub fn mi_heap_visit_blocks(
        heap: *const mi_heap_t,
        visit_blocks: bool,
        visitor: Option<mi_block_visit_fun>,
        arg: *mut c_void,
    ) -> bool;

    /// The main sub-process (every thread starts in it).
    pub fn mi_subproc_main() -> mi_subproc_id_t;
    /// A new sub-process (null when out of memory).
    pub fn mi_subproc_new() -> mi_subproc_id_t;
    /// Gives up `subproc`: released once no thread of it runs and its abandoned memory is freed.
    pub fn mi_subproc_delete(subproc: mi_subproc_id_t);
    /// Moves the calling thread (that has not allocated yet) into `subproc`.
    pub fn mi_subproc_add_current_thread(subproc: mi_subproc_id_t);
    /// Walks the abandoned memory of `subproc_id` (heap tag `heap_tag`, -1: all) as
    /// `mi_heap_visit_blocks` walks a heap, with a null heap; safe while other threads run.
    pub fn mi_abandoned_visit_blocks(
        subproc_id: mi_subproc_id_t,
        heap_tag: c_int,
        visit_blocks: bool,
        visitor: Option<mi_block_visit_fun>,
        arg: *mut c_void,
    ) -> bool;
    /// Guards about one allocation in `sample_rate` of `heap` (0: none) with an inaccessible page
    /// after it; `seed` 0: a random start.
    pub fn mi_heap_guarded_set_sample_rate(heap: *mut mi_heap_t, sample_rate: usize, seed: usize);
    /// Only sizes in `[min, max]` are guarded.
    pub fn mi_heap_guarded_set_size_bound(heap: *mut mi_heap_t, min: usize, max: usize);
}
}
