//! Statistics: printed (`mi_stats_print`), as JSON text, as a struct, and the process figures.
//!
//! ```
//! let v = vec![1u8; 1 << 20];
//! let json = shardalloc::stats::json();
//! assert!(json.starts_with('{') && json.contains("\"reserved\""));
//! let s = shardalloc::stats::get();
//! assert!(s.reserved.current > 0);
//! shardalloc::stats::print(); // to stderr, in mimalloc's layout
//! # drop(v);
//! ```

use core::ffi::{c_void, CStr};

use crate::sys;

/// The process-wide figures (`mi_stats_t` of `mimalloc-stats.h`).
pub type Stats = sys::mi_stats_t;

/// Prints the statistics through the output function (stderr unless one was registered).
pub fn print() {
    unsafe { sys::mi_stats_print_out(None, core::ptr::null_mut()) }
}

/// The statistics as one JSON object (`mi_stats_get_json`).
///
/// # Panics
///
/// If the library cannot allocate the text (out of memory).
pub fn json() -> String {
    unsafe {
        let p = sys::mi_stats_get_json(0, core::ptr::null_mut());
        assert!(!p.is_null(), "shardalloc: out of memory for the statistics text");
        let text = CStr::from_ptr(p).to_string_lossy().into_owned();
        sys::mi_free(p as *mut c_void);
        text
    }
}

/// The statistics as a struct (`mi_stats_get`).
pub fn get() -> Stats {
    let mut s = Stats::new();
    let ok = unsafe { sys::mi_stats_get(&mut s) };
    assert!(ok, "mi_stats_get refused this crate's mi_stats_t (version {})", sys::MI_STAT_VERSION);
    s
}

/// Restarts totals and peaks from the current figures.
pub fn reset() {
    unsafe { sys::mi_stats_reset() }
}

/// Process figures from `mi_process_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// Milliseconds since the process started.
    pub elapsed_msecs: usize,
    /// User CPU time, milliseconds.
    pub user_msecs: usize,
    /// System CPU time, milliseconds.
    pub system_msecs: usize,
    /// Resident set size now, bytes.
    pub current_rss: usize,
    /// Highest resident set size, bytes.
    pub peak_rss: usize,
    /// Memory shardalloc has touched and not purged, bytes.
    pub current_commit: usize,
    /// Highest such figure, bytes.
    pub peak_commit: usize,
    /// Page faults.
    pub page_faults: usize,
}

/// The process's times, resident set, commit and page faults.
///
/// ```
/// let info = shardalloc::stats::process_info();
/// assert!(info.current_rss > 0 && info.peak_rss >= info.current_rss);
/// ```
pub fn process_info() -> ProcessInfo {
    let mut i = ProcessInfo::default();
    unsafe {
        sys::mi_process_info(
            &mut i.elapsed_msecs,
            &mut i.user_msecs,
            &mut i.system_msecs,
            &mut i.current_rss,
            &mut i.peak_rss,
            &mut i.current_commit,
            &mut i.peak_commit,
            &mut i.page_faults,
        );
    }
    i
}
