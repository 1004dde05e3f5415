//! Arenas: address ranges cut into 32 MiB blocks that hold shardalloc's segments. Ids start at 1
//! (0: none). The functions returning `c_int` give 0 or an errno value (`ENOMEM`, `EINVAL`).

use core::ffi::{c_double, c_int, c_void};

/// Identifies an arena (1 and up; 0 means none).
pub type mi_arena_id_t = c_int;

c_functions! {
extern "C" {
    /// Reserves `size` bytes (rounded up to 32 MiB, at most 32 GiB) as a new arena.
    pub fn mi_reserve_os_memory(size: usize, commit: bool, allow_large: bool) -> c_int;
    /// [`mi_reserve_os_memory`]; `exclusive` arenas serve only heaps made for them; the new id is
    /// stored in `*arena_id` (if not null).
    pub fn mi_reserve_os_memory_ex(
        size: usize,
        commit: bool,
        allow_large: bool,
        exclusive: bool,
        arena_id: *mut mi_arena_id_t,
    ) -> c_int;
    /// Hands the program's own memory to shardalloc: the 32 MiB-aligned blocks inside
    /// `[start, start + size)` become an arena, never unmapped or purged.
    pub fn mi_manage_os_memory(
        start: *mut c_void,
        size: usize,
        is_committed: bool,
        is_large: bool,
        is_zero: bool,
        numa_node: c_int,
    ) -> bool;
    /// [`mi_manage_os_memory`], optionally exclusive, reporting the arena id.
    pub fn mi_manage_os_memory_ex(
        start: *mut c_void,
        size: usize,
        is_committed: bool,
        is_large: bool,
        is_zero: bool,
        numa_node: c_int,
        exclusive: bool,
        arena_id: *mut mi_arena_id_t,
    ) -> bool;
    /// Start and size of an arena; null (and `*size` 0) for an unknown id.
    pub fn mi_arena_area(arena_id: mi_arena_id_t, size: *mut usize) -> *mut c_void;
    /// Reserves 1 GiB huge OS pages (hugetlbfs); `ENOMEM` when the system grants none.
    pub fn mi_reserve_huge_os_pages_interleave(
        pages: usize,
        numa_nodes: usize,
        timeout_msecs: usize,
    ) -> c_int;
    /// Reserves 1 GiB huge OS pages (the NUMA node is accepted and not needed).
    pub fn mi_reserve_huge_os_pages_at(pages: usize, numa_node: c_int, timeout_msecs: usize)
        -> c_int;
    /// [`mi_reserve_huge_os_pages_at`], optionally exclusive, reporting the arena id.
    pub fn mi_reserve_huge_os_pages_at_ex(
        pages: usize,
        numa_node: c_int,
        timeout_msecs: usize,
        exclusive: bool,
        arena_id: *mut mi_arena_id_t,
    ) -> c_int;
    /// Deprecated form: reserves up to `pages` huge pages, reporting how many in
    /// `*pages_reserved`.
    pub fn mi_reserve_huge_os_pages(
        pages: usize,
        max_secs: c_double,
        pages_reserved: *mut usize,
    ) -> c_int;
    /// One line per arena through the output function.
    pub fn mi_debug_show_arenas();
    /// One line per arena through the output function.
    pub fn mi_arenas_print();
}
}
