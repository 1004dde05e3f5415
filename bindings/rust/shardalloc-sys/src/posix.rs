//! `mi_` equivalents of POSIX, BSD and Windows functions, with those functions' conventions.

use core::ffi::{c_char, c_int, c_uchar, c_void};

/// C's `wchar_t` on Linux (unsigned on these architectures, signed elsewhere).
#[cfg(any(
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "s390x"
))]
pub type wchar_t = u32;
/// C's `wchar_t` on Linux (unsigned on some architectures, signed on these).
#[cfg(not(any(
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "s390x"
)))]
pub type wchar_t = i32;

c_functions! {
extern "C" {
    /// Frees `p` only if it lies in shardalloc's memory; anything else is ignored.
    pub fn mi_cfree(p: *mut c_void);
    /// `mi_expand` that also sets `errno = ENOMEM` when it returns null (Windows `_expand`).
    pub fn mi__expand(p: *mut c_void, newsize: usize) -> *mut c_void;
    /// `malloc_size` (macOS): the usable size of `p`.
    pub fn mi_malloc_size(p: *const c_void) -> usize;
    /// `malloc_good_size` (macOS): the usable size a request of `size` gets.
    pub fn mi_malloc_good_size(size: usize) -> usize;
    /// `malloc_usable_size` (glibc).
    pub fn mi_malloc_usable_size(p: *const c_void) -> usize;

    /// `posix_memalign`: 0, `ENOMEM`, or `EINVAL` (alignment not a power-of-two multiple of
    /// the pointer size); `*p` untouched on error.
    pub fn mi_posix_memalign(p: *mut *mut c_void, alignment: usize, size: usize) -> c_int;
    /// `memalign`.
    pub fn mi_memalign(alignment: usize, size: usize) -> *mut c_void;
    /// `valloc`: page-aligned.
    pub fn mi_valloc(size: usize) -> *mut c_void;
    /// `pvalloc`: page-aligned, size rounded up to whole pages.
    pub fn mi_pvalloc(size: usize) -> *mut c_void;
    /// `aligned_alloc` (size need not be a multiple of the alignment).
    pub fn mi_aligned_alloc(alignment: usize, size: usize) -> *mut c_void;

    /// `reallocarray`: null with `ENOMEM` on overflow or exhaustion.
    pub fn mi_reallocarray(p: *mut c_void, count: usize, size: usize) -> *mut c_void;
    /// `reallocarr` (NetBSD): `p` points to the pointer to reallocate; 0 or `ENOMEM`.
    pub fn mi_reallocarr(p: *mut c_void, count: usize, size: usize) -> c_int;
    /// `_aligned_recalloc` (Windows).
    pub fn mi_aligned_recalloc(
        p: *mut c_void,
        newcount: usize,
        size: usize,
        alignment: usize,
    ) -> *mut c_void;
    /// `_aligned_offset_recalloc` (Windows).
    pub fn mi_aligned_offset_recalloc(
        p: *mut c_void,
        newcount: usize,
        size: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;

    /// Sized free (C++ sized delete): `size` must be the allocated size.
    pub fn mi_free_size(p: *mut c_void, size: usize);
    /// Sized and aligned free.
    pub fn mi_free_size_aligned(p: *mut c_void, size: usize, alignment: usize);
    /// Aligned free.
    pub fn mi_free_aligned(p: *mut c_void, alignment: usize);

    /// `_dupenv_s`: a copy of the environment variable `name` (null when unset) in `*buf`.
    pub fn mi_dupenv_s(buf: *mut *mut c_char, size: *mut usize, name: *const c_char) -> c_int;
    /// `_wdupenv_s`: `EINVAL` on Linux (no wide environment).
    pub fn mi_wdupenv_s(buf: *mut *mut wchar_t, size: *mut usize, name: *const wchar_t) -> c_int;
    /// `wcsdup`.
    pub fn mi_wcsdup(s: *const wchar_t) -> *mut wchar_t;
    /// `_mbsdup`.
    pub fn mi_mbsdup(s: *const c_uchar) -> *mut c_uchar;
}
}
