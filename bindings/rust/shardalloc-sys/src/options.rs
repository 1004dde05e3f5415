//! Options: `mi_option_t` with mimalloc 2.4.1's names and numbers plus shardalloc's own (38).
//! Each is read once from the environment as `MIMALLOC_<NAME>` and may be changed with
//! `mi_option_set`. The build script checks every constant here against the C enum of
//! `mimalloc.h` and fails the build on a difference.

use core::ffi::{c_int, c_long};

/// An option (a value of the C enum `mi_option_t`).
pub type mi_option_t = c_int;

/// Print error and warning messages.
pub const mi_option_show_errors: mi_option_t = 0;
/// Print statistics at process exit.
pub const mi_option_show_stats: mi_option_t = 1;
/// Print options and events; 2 and up also trace.
pub const mi_option_verbose: mi_option_t = 2;
/// Commit segments when they are reserved (no effect in shardalloc).
pub const mi_option_eager_commit: mi_option_t = 3;
/// Commit arenas up front (no effect in shardalloc).
pub const mi_option_arena_eager_commit: mi_option_t = 4;
/// Purge by decommitting (`MADV_DONTNEED`), else by `MADV_FREE`.
pub const mi_option_purge_decommits: mi_option_t = 5;
/// Advise transparent huge pages on arenas.
pub const mi_option_allow_large_os_pages: mi_option_t = 6;
/// Reserve this many 1 GiB pages at start.
pub const mi_option_reserve_huge_os_pages: mi_option_t = 7;
/// NUMA node of those pages (-1: any).
pub const mi_option_reserve_huge_os_pages_at: mi_option_t = 8;
/// Reserve an arena of this many KiB at start.
pub const mi_option_reserve_os_memory: mi_option_t = 9;
/// No effect; keeps the numbering.
pub const mi_option_deprecated_segment_cache: mi_option_t = 10;
/// No effect; keeps the numbering.
pub const mi_option_deprecated_page_reset: mi_option_t = 11;
/// Purge an exited thread's free memory when its segment is abandoned.
pub const mi_option_abandoned_page_purge: mi_option_t = 12;
/// No effect; keeps the numbering.
pub const mi_option_deprecated_segment_reset: mi_option_t = 13;
/// Commit a thread's first N segments lazily (no effect in shardalloc).
pub const mi_option_eager_commit_delay: mi_option_t = 14;
/// Milliseconds before freed memory is purged (-1: never).
pub const mi_option_purge_delay: mi_option_t = 15;
/// NUMA nodes to use (no effect in shardalloc).
pub const mi_option_use_numa_nodes: mi_option_t = 16;
/// Allocate only from arenas reserved up front.
pub const mi_option_disallow_os_alloc: mi_option_t = 17;
/// VM tag for mmap (no effect on Linux).
pub const mi_option_os_tag: mi_option_t = 18;
/// Stop printing errors after this many.
pub const mi_option_max_errors: mi_option_t = 19;
/// Stop printing warnings after this many.
pub const mi_option_max_warnings: mi_option_t = 20;
/// Percentage of abandoned segments tried per reclaim (no effect in shardalloc).
pub const mi_option_max_segment_reclaim: mi_option_t = 21;
/// Release all memory at exit (unsafe while other threads run).
pub const mi_option_destroy_on_exit: mi_option_t = 22;
/// KiB reserved per new arena.
pub const mi_option_arena_reserve: mi_option_t = 23;
/// Arena purge delay = purge_delay * this.
pub const mi_option_arena_purge_mult: mi_option_t = 24;
/// Milliseconds a pending purge is pushed back per free (no effect in shardalloc).
pub const mi_option_purge_extend_delay: mi_option_t = 25;
/// A free into abandoned memory may reclaim it (no effect in shardalloc).
pub const mi_option_abandoned_reclaim_on_free: mi_option_t = 26;
/// Never allocate from shared arenas.
pub const mi_option_disallow_arena_alloc: mi_option_t = 27;
/// Milliseconds to retry on out-of-memory (Windows only).
pub const mi_option_retry_on_oom: mi_option_t = 28;
/// Allow visiting abandoned blocks (no effect in shardalloc).
pub const mi_option_visit_abandoned: mi_option_t = 29;
/// Guarded allocation: smallest size guarded (no guarded build).
pub const mi_option_guarded_min: mi_option_t = 30;
/// Guarded allocation: largest size guarded (no guarded build).
pub const mi_option_guarded_max: mi_option_t = 31;
/// Place guarded objects right against the guard (no guarded build).
pub const mi_option_guarded_precise: mi_option_t = 32;
/// Guard one in N eligible allocations (no guarded build).
pub const mi_option_guarded_sample_rate: mi_option_t = 33;
/// Seed for that sampling (no guarded build).
pub const mi_option_guarded_sample_seed: mi_option_t = 34;
/// Abandon segments above this count (no effect in shardalloc).
pub const mi_option_target_segments_per_thread: mi_option_t = 35;
/// Collect the heap every N slow-path calls.
pub const mi_option_generic_collect: mi_option_t = 36;
/// 0: no transparent huge pages in the process (default 1; 0 with the `no_thp` feature).
pub const mi_option_allow_thp: mi_option_t = 37;
/// 1: a helper thread purges what is due, also in idle processes (shardalloc's own).
pub const mi_option_purge_background: mi_option_t = 38;
/// One past the last option.
pub const _mi_option_last: mi_option_t = 39;

/// Older name of [`mi_option_allow_large_os_pages`].
pub const mi_option_large_os_pages: mi_option_t = mi_option_allow_large_os_pages;
/// Older name of [`mi_option_arena_eager_commit`].
pub const mi_option_eager_region_commit: mi_option_t = mi_option_arena_eager_commit;
/// Older name of [`mi_option_purge_decommits`].
pub const mi_option_reset_decommits: mi_option_t = mi_option_purge_decommits;
/// Older name of [`mi_option_purge_delay`].
pub const mi_option_reset_delay: mi_option_t = mi_option_purge_delay;
/// Older name of [`mi_option_abandoned_page_purge`].
pub const mi_option_abandoned_page_reset: mi_option_t = mi_option_abandoned_page_purge;
/// Older name of [`mi_option_disallow_os_alloc`].
pub const mi_option_limit_os_alloc: mi_option_t = mi_option_disallow_os_alloc;

c_functions! {
extern "C" {
    /// The option's value is not 0.
    pub fn mi_option_is_enabled(option: mi_option_t) -> bool;
    /// Sets the option to 1.
    pub fn mi_option_enable(option: mi_option_t);
    /// Sets the option to 0.
    pub fn mi_option_disable(option: mi_option_t);
    /// Sets the option to 1 or 0.
    pub fn mi_option_set_enabled(option: mi_option_t, enable: bool);
    /// Sets the option to 1 or 0 unless the environment or `mi_option_set` has set it.
    pub fn mi_option_set_enabled_default(option: mi_option_t, enable: bool);
    /// The option's value.
    pub fn mi_option_get(option: mi_option_t) -> c_long;
    /// The option's value clamped to `lo..=hi`.
    pub fn mi_option_get_clamp(option: mi_option_t, lo: c_long, hi: c_long) -> c_long;
    /// For the options measured in KiB (`reserve_os_memory`, `arena_reserve`): bytes.
    pub fn mi_option_get_size(option: mi_option_t) -> usize;
    /// Sets the option's value.
    pub fn mi_option_set(option: mi_option_t, value: c_long);
    /// Sets the option's value unless the environment or `mi_option_set` has set it.
    pub fn mi_option_set_default(option: mi_option_t, value: c_long);
    /// Prints every option and its value through the output function.
    pub fn mi_options_print();
}
}
