//! Statistics as data (`include/mimalloc-stats.h`, statistics version 4): `mi_stats_get` fills an
//! [`mi_stats_t`], `mi_stats_get_json` writes the same figures as JSON. Fields shardalloc does
//! not track read 0 (the header lists them).

use core::ffi::c_char;

/// Layout version of [`mi_stats_t`]; the caller passes the one it was compiled with.
pub const MI_STAT_VERSION: usize = 4;
/// Index of the last per-size-class entry of `malloc_bins` and `page_bins`.
pub const MI_STATS_BIN_HUGE: usize = 73;
/// mimalloc's name for [`MI_STATS_BIN_HUGE`].
pub const MI_BIN_HUGE: usize = MI_STATS_BIN_HUGE;

/// An amount that goes up and down: everything ever added, the highest level, the level now.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct mi_stat_count_t {
    pub total: i64,
    pub peak: i64,
    pub current: i64,
}

/// An amount that only goes up, since start or the last `mi_stats_reset`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct mi_stat_counter_t {
    pub total: i64,
}

/// The process-wide figures (bytes unless the name says calls or count). Make one with
/// [`mi_stats_t::new`], which sets `size` and `version` as `mi_stats_get` requires.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mi_stats_t {
    /// In: `size_of::<mi_stats_t>()` as the caller was compiled.
    pub size: usize,
    /// In: [`MI_STAT_VERSION`] as the caller was compiled.
    pub version: usize,

    pub pages: mi_stat_count_t,
    pub reserved: mi_stat_count_t,
    pub committed: mi_stat_count_t,
    pub page_committed: mi_stat_count_t,
    pub pages_abandoned: mi_stat_count_t,
    pub threads: mi_stat_count_t,
    pub malloc_normal: mi_stat_count_t,
    pub malloc_huge: mi_stat_count_t,
    pub malloc_requested: mi_stat_count_t,

    pub reset: mi_stat_counter_t,
    pub purged: mi_stat_counter_t,
    pub mmap_calls: mi_stat_counter_t,
    pub commit_calls: mi_stat_counter_t,
    pub reset_calls: mi_stat_counter_t,
    pub purge_calls: mi_stat_counter_t,
    pub arena_count: mi_stat_counter_t,
    pub malloc_normal_count: mi_stat_counter_t,
    pub malloc_huge_count: mi_stat_counter_t,
    pub malloc_guarded_count: mi_stat_counter_t,
    pub arena_rollback_count: mi_stat_counter_t,
    pub arena_purges: mi_stat_counter_t,
    pub pages_extended: mi_stat_counter_t,
    pub pages_retire: mi_stat_counter_t,
    pub page_searches: mi_stat_counter_t,
    pub page_searches_count: mi_stat_counter_t,

    pub segments: mi_stat_count_t,
    pub segments_abandoned: mi_stat_count_t,
    pub segments_cache: mi_stat_count_t,
    pub _segments_reserved: mi_stat_count_t,

    pub pages_reclaim_on_alloc: mi_stat_counter_t,
    pub pages_reclaim_on_free: mi_stat_counter_t,
    pub pages_reabandon_full: mi_stat_counter_t,
    pub pages_unabandon_busy_wait: mi_stat_counter_t,

    pub _stat_reserved: [mi_stat_count_t; 4],
    pub _stat_counter_reserved: [mi_stat_counter_t; 4],

    pub malloc_bins: [mi_stat_count_t; MI_STATS_BIN_HUGE + 1],
    pub page_bins: [mi_stat_count_t; MI_STATS_BIN_HUGE + 1],
}

impl mi_stats_t {
    /// All zero but `size` and `version`, ready for `mi_stats_get` (C's `mi_stats_t_decl`).
    pub fn new() -> Self {
        // SAFETY: every field is an integer or an array of integers, for which 0 is valid.
        let mut stats: Self = unsafe { core::mem::zeroed() };
        stats.size = core::mem::size_of::<Self>();
        stats.version = MI_STAT_VERSION;
        stats
    }
}

impl Default for mi_stats_t {
    fn default() -> Self {
        Self::new()
    }
}

c_functions! {
extern "C" {
    /// Fills `*stats` (whose `size` and `version` the caller set); false, writing nothing, for a
    /// null pointer, a size below the two header fields, or an unknown version.
    pub fn mi_stats_get(stats: *mut mi_stats_t) -> bool;
    /// The figures as one JSON object: written into `buf` (null if it does not fit in
    /// `buf_size` bytes), or with `buf` null into a new block to free with `mi_free`.
    pub fn mi_stats_get_json(buf_size: usize, buf: *mut c_char) -> *mut c_char;
}
}
