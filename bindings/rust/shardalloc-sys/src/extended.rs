//! The extended API: small-object fast paths, zeroing and overflow-checked allocation, size
//! queries, the `mi_u*` forms that report block sizes, process and thread control, statistics
//! printing and the callbacks.

use core::ffi::{c_char, c_int, c_ulonglong, c_void};

/// Largest size, in machine words, that the `_small` functions accept.
pub const MI_SMALL_WSIZE_MAX: usize = 128;
/// Largest size, in bytes, that the `_small` functions accept.
pub const MI_SMALL_SIZE_MAX: usize = MI_SMALL_WSIZE_MAX * core::mem::size_of::<*mut c_void>();

/// Receives every message the library prints (`msg` is NUL-terminated).
pub type mi_output_fun = unsafe extern "C" fn(msg: *const c_char, arg: *mut c_void);
/// Receives an errno-style code for each error the library detects (`EOVERFLOW`, `ENOMEM`,
/// `EINVAL`, `EFAULT`).
pub type mi_error_fun = unsafe extern "C" fn(err: c_int, arg: *mut c_void);
/// Called now and then from the allocation slow path with an increasing heartbeat (and with
/// `force` from `mi_collect(true)`), so that a program may release memory it holds back.
pub type mi_deferred_free_fun =
    unsafe extern "C" fn(force: bool, heartbeat: c_ulonglong, arg: *mut c_void);

c_functions! {
extern "C" {
    /// Allocates `size <= MI_SMALL_SIZE_MAX` bytes on the fast path.
    pub fn mi_malloc_small(size: usize) -> *mut c_void;
    /// [`mi_malloc_small`], zeroed.
    pub fn mi_zalloc_small(size: usize) -> *mut c_void;
    /// Allocates `size` zeroed bytes.
    pub fn mi_zalloc(size: usize) -> *mut c_void;
    /// Allocates `count * size` bytes (null on overflow).
    pub fn mi_mallocn(count: usize, size: usize) -> *mut c_void;
    /// Reallocates to `count * size` bytes (null on overflow).
    pub fn mi_reallocn(p: *mut c_void, count: usize, size: usize) -> *mut c_void;
    /// Like `mi_realloc`, but frees `p` when the reallocation fails.
    pub fn mi_reallocf(p: *mut c_void, newsize: usize) -> *mut c_void;
    /// Bytes usable in the block at `p` (0 for null and for memory shardalloc does not own).
    pub fn mi_usable_size(p: *const c_void) -> usize;
    /// The usable size that `mi_malloc(size)` would give.
    pub fn mi_good_size(size: usize) -> usize;
    /// Frees a block of at most `MI_SMALL_SIZE_MAX` bytes.
    pub fn mi_free_small(p: *mut c_void);

    /// `mi_malloc` that also stores the usable size of the block in `*block_size` (if not null).
    pub fn mi_umalloc(size: usize, block_size: *mut usize) -> *mut c_void;
    /// `mi_calloc` that also reports the usable size.
    pub fn mi_ucalloc(count: usize, size: usize, block_size: *mut usize) -> *mut c_void;
    /// `mi_realloc` that reports the usable sizes of the old and the new block.
    pub fn mi_urealloc(
        p: *mut c_void,
        newsize: usize,
        block_size_pre: *mut usize,
        block_size_post: *mut usize,
    ) -> *mut c_void;
    /// `mi_free` that reports the usable size of the block it frees.
    pub fn mi_ufree(p: *mut c_void, block_size: *mut usize);
    /// `mi_malloc_aligned` that reports the usable size.
    pub fn mi_umalloc_aligned(size: usize, alignment: usize, block_size: *mut usize)
        -> *mut c_void;
    /// `mi_zalloc_aligned` that reports the usable size.
    pub fn mi_uzalloc_aligned(size: usize, alignment: usize, block_size: *mut usize)
        -> *mut c_void;
    /// `mi_malloc_small` that reports the usable size.
    pub fn mi_umalloc_small(size: usize, block_size: *mut usize) -> *mut c_void;
    /// `mi_zalloc_small` that reports the usable size.
    pub fn mi_uzalloc_small(size: usize, block_size: *mut usize) -> *mut c_void;

    /// `MI_MALLOC_VERSION` of the linked library (shardalloc's own version number).
    pub fn mi_version() -> c_int;
    /// Returns free memory to the OS where possible; `force` also what is merely cached.
    pub fn mi_collect(force: bool);
    /// Deprecated: `mi_collect(true)` for the calling thread.
    pub fn mi_collect_reduce(target_thread_owned: usize);
    /// Always false (a Windows notion).
    pub fn mi_is_redirected() -> bool;

    /// Process set-up (runs by itself at load; this lets a host choose the moment).
    pub fn mi_process_init();
    /// Process teardown (runs by itself at exit).
    pub fn mi_process_done();
    /// Thread set-up (runs by itself on a thread's first allocation).
    pub fn mi_thread_init();
    /// Thread teardown (runs by itself at thread exit).
    pub fn mi_thread_done();
    /// A hint that the calling thread belongs to a pool; changes nothing.
    pub fn mi_thread_set_in_threadpool();

    /// Sends every message to `out` (null: back to stderr).
    pub fn mi_register_output(out: Option<mi_output_fun>, arg: *mut c_void);
    /// Sends every detected error to `fun` (null: the default, which aborts on `EFAULT`).
    pub fn mi_register_error(fun: Option<mi_error_fun>, arg: *mut c_void);
    /// Installs the deferred-free callback (null: none).
    pub fn mi_register_deferred_free(deferred_free: Option<mi_deferred_free_fun>, arg: *mut c_void);

    /// Prints the statistics; `out` is an `mi_output_fun` pointer or null (the registered output).
    pub fn mi_stats_print(out: *mut c_void);
    /// Prints the statistics through `out` (null: the registered output function).
    pub fn mi_stats_print_out(out: Option<mi_output_fun>, arg: *mut c_void);
    /// Prints the calling thread's own pages and slow-path calls.
    pub fn mi_thread_stats_print_out(out: Option<mi_output_fun>, arg: *mut c_void);
    /// Restarts totals and peaks from the current figures.
    pub fn mi_stats_reset();
    /// Nothing to do: statistics are kept process-wide as they happen.
    pub fn mi_stats_merge();
    /// Process figures (times in ms, sizes in bytes); any pointer may be null.
    pub fn mi_process_info(
        elapsed_msecs: *mut usize,
        user_msecs: *mut usize,
        system_msecs: *mut usize,
        current_rss: *mut usize,
        peak_rss: *mut usize,
        current_commit: *mut usize,
        peak_commit: *mut usize,
        page_faults: *mut usize,
    );
}
}
