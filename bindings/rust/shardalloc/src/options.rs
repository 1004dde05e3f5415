//! Options: read once from the environment as `MIMALLOC_<NAME>`, changed at any time here, from
//! any thread (the C library keeps them in atomics).
//!
//! The safe setters refuse, with [`SetError`], what safe code must not do while other threads
//! may run: turning on [`Opt::DestroyOnExit`] (at exit it unmaps every arena, under the blocks
//! that threads still running, or statics, still use), and values outside `i32` (the C code
//! does arithmetic in `long` on some options, such as `purge_delay` times `arena_purge_mult`
//! and deadlines in milliseconds, which such values could overflow; no option means anything
//! there). [`set_unchecked`] and [`set_default_unchecked`] do either, under the caller's
//! guarantee.
//!
//! ```
//! use shardalloc::options::{self, Opt, SetError};
//!
//! options::set(Opt::PurgeDelay, 50).unwrap();
//! assert_eq!(options::get(Opt::PurgeDelay), 50);
//! options::set_enabled(Opt::ShowErrors, true).unwrap();
//! assert!(options::is_enabled(Opt::ShowErrors));
//! options::disable(Opt::ShowErrors);
//! assert!(!options::is_enabled(Opt::ShowErrors));
//!
//! assert_eq!(options::enable(Opt::DestroyOnExit), Err(SetError::Unsafe(Opt::DestroyOnExit)));
//! assert!(!options::is_enabled(Opt::DestroyOnExit));
//! assert_eq!(options::set(Opt::PurgeDelay, 1 << 40), Err(SetError::OutOfRange(Opt::PurgeDelay, 1 << 40)));
//! assert_eq!(options::get(Opt::PurgeDelay), 50);
//! ```

// c_long is i64 where shardalloc runs, but not everywhere
#![allow(clippy::useless_conversion)]

use crate::sys;

/// An option (`mi_option_t`); the discriminant is the C enum's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
#[non_exhaustive]
pub enum Opt {
    /// Print error and warning messages.
    ShowErrors = sys::mi_option_show_errors,
    /// Print statistics at process exit.
    ShowStats = sys::mi_option_show_stats,
    /// Print options and events; 2 and up also trace.
    Verbose = sys::mi_option_verbose,
    /// Commit segments when they are reserved (no effect in shardalloc).
    EagerCommit = sys::mi_option_eager_commit,
    /// Commit arenas up front (no effect in shardalloc).
    ArenaEagerCommit = sys::mi_option_arena_eager_commit,
    /// Purge by decommitting (`MADV_DONTNEED`), else by `MADV_FREE`.
    PurgeDecommits = sys::mi_option_purge_decommits,
    /// Advise transparent huge pages on arenas.
    AllowLargeOsPages = sys::mi_option_allow_large_os_pages,
    /// Reserve this many 1 GiB pages at start.
    ReserveHugeOsPages = sys::mi_option_reserve_huge_os_pages,
    /// NUMA node of those pages (-1: any).
    ReserveHugeOsPagesAt = sys::mi_option_reserve_huge_os_pages_at,
    /// Reserve an arena of this many KiB at start.
    ReserveOsMemory = sys::mi_option_reserve_os_memory,
    /// No effect; keeps the numbering.
    DeprecatedSegmentCache = sys::mi_option_deprecated_segment_cache,
    /// No effect; keeps the numbering.
    DeprecatedPageReset = sys::mi_option_deprecated_page_reset,
    /// Purge an exited thread's free memory when its segment is abandoned.
    AbandonedPagePurge = sys::mi_option_abandoned_page_purge,
    /// No effect; keeps the numbering.
    DeprecatedSegmentReset = sys::mi_option_deprecated_segment_reset,
    /// Commit a thread's first N segments lazily (no effect in shardalloc).
    EagerCommitDelay = sys::mi_option_eager_commit_delay,
    /// Milliseconds before freed memory is purged (-1: never).
    PurgeDelay = sys::mi_option_purge_delay,
    /// NUMA nodes to use (no effect in shardalloc).
    UseNumaNodes = sys::mi_option_use_numa_nodes,
    /// Allocate only from arenas reserved up front.
    DisallowOsAlloc = sys::mi_option_disallow_os_alloc,
    /// VM tag for mmap (no effect on Linux).
    OsTag = sys::mi_option_os_tag,
    /// Stop printing errors after this many.
    MaxErrors = sys::mi_option_max_errors,
    /// Stop printing warnings after this many.
    MaxWarnings = sys::mi_option_max_warnings,
    /// Percentage of abandoned segments tried per reclaim (no effect in shardalloc).
    MaxSegmentReclaim = sys::mi_option_max_segment_reclaim,
    /// Release all memory at exit: unmaps every arena while other threads may still run and use
    /// their blocks, so the safe setters refuse to turn it on ([`set_unchecked`] can).
    DestroyOnExit = sys::mi_option_destroy_on_exit,
    /// KiB reserved per new arena.
    ArenaReserve = sys::mi_option_arena_reserve,
    /// Arena purge delay = purge_delay * this.
    ArenaPurgeMult = sys::mi_option_arena_purge_mult,
    /// Milliseconds a pending purge is pushed back per free (no effect in shardalloc).
    PurgeExtendDelay = sys::mi_option_purge_extend_delay,
    /// A free into abandoned memory may reclaim it (no effect in shardalloc).
    AbandonedReclaimOnFree = sys::mi_option_abandoned_reclaim_on_free,
    /// Never allocate from shared arenas.
    DisallowArenaAlloc = sys::mi_option_disallow_arena_alloc,
    /// Milliseconds to retry on out-of-memory (Windows only).
    RetryOnOom = sys::mi_option_retry_on_oom,
    /// Allow visiting abandoned blocks (no effect in shardalloc).
    VisitAbandoned = sys::mi_option_visit_abandoned,
    /// Guarded allocation: smallest size guarded (guarded sampling).
    GuardedMin = sys::mi_option_guarded_min,
    /// Guarded allocation: largest size guarded (guarded sampling).
    GuardedMax = sys::mi_option_guarded_max,
    /// Place guarded objects right against the guard (guarded sampling).
    GuardedPrecise = sys::mi_option_guarded_precise,
    /// Guard one in N eligible allocations (guarded sampling).
    GuardedSampleRate = sys::mi_option_guarded_sample_rate,
    /// Seed for that sampling (guarded sampling).
    GuardedSampleSeed = sys::mi_option_guarded_sample_seed,
    /// Abandon segments above this count (no effect in shardalloc).
    TargetSegmentsPerThread = sys::mi_option_target_segments_per_thread,
    /// Collect the heap every N slow-path calls.
    GenericCollect = sys::mi_option_generic_collect,
    /// 0: no transparent huge pages in the process (default 1; 0 with the `no_thp` feature).
    AllowThp = sys::mi_option_allow_thp,
    /// 1: a helper thread purges what is due, also in idle processes (shardalloc's own).
    PurgeBackground = sys::mi_option_purge_background,
}

impl Opt {
    /// Every option, in the C enum's order.
    pub const ALL: [Opt; 39] = [
        Opt::ShowErrors,
        Opt::ShowStats,
        Opt::Verbose,
        Opt::EagerCommit,
        Opt::ArenaEagerCommit,
        Opt::PurgeDecommits,
        Opt::AllowLargeOsPages,
        Opt::ReserveHugeOsPages,
        Opt::ReserveHugeOsPagesAt,
        Opt::ReserveOsMemory,
        Opt::DeprecatedSegmentCache,
        Opt::DeprecatedPageReset,
        Opt::AbandonedPagePurge,
        Opt::DeprecatedSegmentReset,
        Opt::EagerCommitDelay,
        Opt::PurgeDelay,
        Opt::UseNumaNodes,
        Opt::DisallowOsAlloc,
        Opt::OsTag,
        Opt::MaxErrors,
        Opt::MaxWarnings,
        Opt::MaxSegmentReclaim,
        Opt::DestroyOnExit,
        Opt::ArenaReserve,
        Opt::ArenaPurgeMult,
        Opt::PurgeExtendDelay,
        Opt::AbandonedReclaimOnFree,
        Opt::DisallowArenaAlloc,
        Opt::RetryOnOom,
        Opt::VisitAbandoned,
        Opt::GuardedMin,
        Opt::GuardedMax,
        Opt::GuardedPrecise,
        Opt::GuardedSampleRate,
        Opt::GuardedSampleSeed,
        Opt::TargetSegmentsPerThread,
        Opt::GenericCollect,
        Opt::AllowThp,
        Opt::PurgeBackground,
    ];

    /// The name as the environment spells it after `MIMALLOC_` (any case): `purge_delay`.
    pub fn name(self) -> &'static str {
        match self {
            Opt::ShowErrors => "show_errors",
            Opt::ShowStats => "show_stats",
            Opt::Verbose => "verbose",
            Opt::EagerCommit => "eager_commit",
            Opt::ArenaEagerCommit => "arena_eager_commit",
            Opt::PurgeDecommits => "purge_decommits",
            Opt::AllowLargeOsPages => "allow_large_os_pages",
            Opt::ReserveHugeOsPages => "reserve_huge_os_pages",
            Opt::ReserveHugeOsPagesAt => "reserve_huge_os_pages_at",
            Opt::ReserveOsMemory => "reserve_os_memory",
            Opt::DeprecatedSegmentCache => "deprecated_segment_cache",
            Opt::DeprecatedPageReset => "deprecated_page_reset",
            Opt::AbandonedPagePurge => "abandoned_page_purge",
            Opt::DeprecatedSegmentReset => "deprecated_segment_reset",
            Opt::EagerCommitDelay => "eager_commit_delay",
            Opt::PurgeDelay => "purge_delay",
            Opt::UseNumaNodes => "use_numa_nodes",
            Opt::DisallowOsAlloc => "disallow_os_alloc",
            Opt::OsTag => "os_tag",
            Opt::MaxErrors => "max_errors",
            Opt::MaxWarnings => "max_warnings",
            Opt::MaxSegmentReclaim => "max_segment_reclaim",
            Opt::DestroyOnExit => "destroy_on_exit",
            Opt::ArenaReserve => "arena_reserve",
            Opt::ArenaPurgeMult => "arena_purge_mult",
            Opt::PurgeExtendDelay => "purge_extend_delay",
            Opt::AbandonedReclaimOnFree => "abandoned_reclaim_on_free",
            Opt::DisallowArenaAlloc => "disallow_arena_alloc",
            Opt::RetryOnOom => "retry_on_oom",
            Opt::VisitAbandoned => "visit_abandoned",
            Opt::GuardedMin => "guarded_min",
            Opt::GuardedMax => "guarded_max",
            Opt::GuardedPrecise => "guarded_precise",
            Opt::GuardedSampleRate => "guarded_sample_rate",
            Opt::GuardedSampleSeed => "guarded_sample_seed",
            Opt::TargetSegmentsPerThread => "target_segments_per_thread",
            Opt::GenericCollect => "generic_collect",
            Opt::AllowThp => "allow_thp",
            Opt::PurgeBackground => "purge_background",
        }
    }

    /// The C enum value.
    pub fn raw(self) -> sys::mi_option_t {
        self as sys::mi_option_t
    }

    /// Turning the option on (any value but 0) is unsafe while other threads run, so that the
    /// safe setters refuse it: [`Opt::DestroyOnExit`] only.
    pub fn is_unsafe_to_enable(self) -> bool {
        matches!(self, Opt::DestroyOnExit)
    }
}

/// Why a safe setter left an option as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetError {
    /// Turning this option on is unsafe while other threads run ([`Opt::is_unsafe_to_enable`]);
    /// [`set_unchecked`] does it under the caller's guarantee.
    Unsafe(Opt),
    /// The value is outside `i32`, which the C code takes without overflow.
    OutOfRange(Opt, i64),
}

impl core::fmt::Display for SetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            SetError::Unsafe(opt) => write!(
                f,
                "option {} may not be turned on by safe code (unsafe while other threads run)",
                opt.name()
            ),
            SetError::OutOfRange(opt, v) => {
                write!(f, "option {}: {v} is outside the accepted range (i32)", opt.name())
            }
        }
    }
}

impl std::error::Error for SetError {}

/// The value as C takes it, or why a safe setter refuses it.
fn checked(opt: Opt, value: i64) -> Result<core::ffi::c_long, SetError> {
    if value != 0 && opt.is_unsafe_to_enable() {
        return Err(SetError::Unsafe(opt));
    }
    match i32::try_from(value) {
        Ok(v) => Ok(core::ffi::c_long::from(v)),
        Err(_) => Err(SetError::OutOfRange(opt, value)),
    }
}

/// The option's value.
pub fn get(opt: Opt) -> i64 {
    i64::from(unsafe { sys::mi_option_get(opt.raw()) })
}

/// The option's value clamped to `lo..=hi`.
pub fn get_clamp(opt: Opt, lo: i64, hi: i64) -> i64 {
    i64::from(unsafe { sys::mi_option_get_clamp(opt.raw(), to_long(lo), to_long(hi)) })
}

/// For the options measured in KiB (`ReserveOsMemory`, `ArenaReserve`): the value in bytes.
///
/// ```
/// use shardalloc::options::{self, Opt};
/// assert_eq!(options::get_size(Opt::ArenaReserve) as i64, options::get(Opt::ArenaReserve) * 1024);
/// ```
pub fn get_size(opt: Opt) -> usize {
    unsafe { sys::mi_option_get_size(opt.raw()) }
}

/// Sets the option's value; refuses (and changes nothing) what [`SetError`] names.
pub fn set(opt: Opt, value: i64) -> Result<(), SetError> {
    let v = checked(opt, value)?;
    unsafe { sys::mi_option_set(opt.raw(), v) };
    Ok(())
}

/// Sets the option's value, whatever it is (saturated where C's `long` is narrower).
///
/// # Safety
///
/// For an option that [`Opt::is_unsafe_to_enable`] (`DestroyOnExit`) and a value but 0: no
/// thread but the one that ends the process may still run, or use a block, once the process
/// starts to exit. For values outside `i32`: the caller accepts C's `long` arithmetic on them.
///
/// ```
/// use shardalloc::options::{self, Opt};
/// // a program that joins every thread before it returns from main
/// unsafe { options::set_unchecked(Opt::DestroyOnExit, 1) };
/// # unsafe { options::set_unchecked(Opt::DestroyOnExit, 0) };
/// ```
pub unsafe fn set_unchecked(opt: Opt, value: i64) {
    sys::mi_option_set(opt.raw(), to_long(value))
}

/// Sets the option's value unless the environment or [`set`] already has; refuses what
/// [`SetError`] names.
pub fn set_default(opt: Opt, value: i64) -> Result<(), SetError> {
    let v = checked(opt, value)?;
    unsafe { sys::mi_option_set_default(opt.raw(), v) };
    Ok(())
}

/// [`set_default`], whatever the value.
///
/// # Safety
///
/// As for [`set_unchecked`].
pub unsafe fn set_default_unchecked(opt: Opt, value: i64) {
    sys::mi_option_set_default(opt.raw(), to_long(value))
}

/// Whether the option's value is not 0.
pub fn is_enabled(opt: Opt) -> bool {
    unsafe { sys::mi_option_is_enabled(opt.raw()) }
}

/// Sets the option to 1 (`enable`) or 0; refuses to turn on [`Opt::DestroyOnExit`].
pub fn set_enabled(opt: Opt, enable: bool) -> Result<(), SetError> {
    set(opt, i64::from(enable))
}

/// [`set_enabled`] unless the environment or a setter already set the option.
pub fn set_enabled_default(opt: Opt, enable: bool) -> Result<(), SetError> {
    set_default(opt, i64::from(enable))
}

/// Sets the option to 1; refuses to turn on [`Opt::DestroyOnExit`].
pub fn enable(opt: Opt) -> Result<(), SetError> {
    set_enabled(opt, true)
}

/// Sets the option to 0 (always allowed).
pub fn disable(opt: Opt) {
    unsafe { sys::mi_option_set(opt.raw(), 0) }
}

/// Prints every option and its value through the output function (stderr by default).
pub fn print() {
    unsafe { sys::mi_options_print() }
}

/// A value for C's `long`, saturated where `long` is narrower than 64 bits.
fn to_long(v: i64) -> core::ffi::c_long {
    v.clamp(i64::from(core::ffi::c_long::MIN), i64::from(core::ffi::c_long::MAX)) as core::ffi::c_long
}
