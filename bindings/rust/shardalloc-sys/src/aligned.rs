//! Aligned allocation: any power-of-two alignment (to 1 GiB and beyond). A zero or
//! non-power-of-two alignment gives null with `errno = EINVAL`. The `_at` forms align
//! `p + offset` instead of `p`.

use core::ffi::c_void;

c_functions! {
extern "C" {
    /// `size` bytes at a multiple of `alignment`.
    pub fn mi_malloc_aligned(size: usize, alignment: usize) -> *mut c_void;
    /// `size` bytes such that `(p + offset) % alignment == 0`.
    pub fn mi_malloc_aligned_at(size: usize, alignment: usize, offset: usize) -> *mut c_void;
    /// [`mi_malloc_aligned`], zeroed.
    pub fn mi_zalloc_aligned(size: usize, alignment: usize) -> *mut c_void;
    /// [`mi_malloc_aligned_at`], zeroed.
    pub fn mi_zalloc_aligned_at(size: usize, alignment: usize, offset: usize) -> *mut c_void;
    /// `count * size` zeroed bytes at a multiple of `alignment`.
    pub fn mi_calloc_aligned(count: usize, size: usize, alignment: usize) -> *mut c_void;
    /// `count * size` zeroed bytes with `p + offset` aligned.
    pub fn mi_calloc_aligned_at(
        count: usize,
        size: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;
    /// Resizes `p`, keeping it aligned to `alignment`.
    pub fn mi_realloc_aligned(p: *mut c_void, newsize: usize, alignment: usize) -> *mut c_void;
    /// Resizes `p`, keeping `p + offset` aligned to `alignment`.
    pub fn mi_realloc_aligned_at(
        p: *mut c_void,
        newsize: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;

    /// Zeroing reallocation of an aligned, zero-allocated block.
    pub fn mi_rezalloc_aligned(p: *mut c_void, newsize: usize, alignment: usize) -> *mut c_void;
    /// [`mi_rezalloc_aligned`] with `p + offset` aligned.
    pub fn mi_rezalloc_aligned_at(
        p: *mut c_void,
        newsize: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;
    /// Zeroing reallocation to `newcount * size` bytes, aligned.
    pub fn mi_recalloc_aligned(
        p: *mut c_void,
        newcount: usize,
        size: usize,
        alignment: usize,
    ) -> *mut c_void;
    /// [`mi_recalloc_aligned`] with `p + offset` aligned.
    pub fn mi_recalloc_aligned_at(
        p: *mut c_void,
        newcount: usize,
        size: usize,
        alignment: usize,
        offset: usize,
    ) -> *mut c_void;
}
}
