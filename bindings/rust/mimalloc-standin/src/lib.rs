//! A second copy of a few mimalloc functions under their plain names (csrc/standin.c), for the
//! test that links it together with shardalloc-sys: what a program gets that depends on
//! shardalloc and on libmimalloc-sys (or on a C library built with mimalloc).

#![no_std]

use core::ffi::{c_char, c_int, c_long, c_ulong, c_void};

extern "C" {
    /// The stand-in's `mi_malloc`: libc's malloc behind a header that marks the block.
    pub fn mi_malloc(size: usize) -> *mut c_void;
    /// The stand-in's `mi_free`; aborts on a block that is not the stand-in's.
    pub fn mi_free(p: *mut c_void);
    /// The size the block was asked with.
    pub fn mi_usable_size(p: *const c_void) -> usize;
    /// 20109, which is not shardalloc's.
    pub fn mi_version() -> c_int;
    /// The stand-in's own option array.
    pub fn mi_option_get(option: c_int) -> c_long;
    /// Sets an option of the stand-in.
    pub fn mi_option_set(option: c_int, value: c_long);
    /// An internal name that shardalloc's sources also define; records `err`.
    pub fn _mi_error_message(err: c_int, fmt: *const c_char, ...);
    /// How many times the stand-in's mi_malloc and mi_free ran.
    pub fn standin_call_count() -> c_ulong;
    /// The last `err` given to the stand-in's `_mi_error_message`.
    pub fn standin_last_error_code() -> c_int;
}
