//! The standard malloc family, zeroing reallocation, and the functions with C++ `new` semantics.
//!
//! Every failing allocation returns null with `errno = ENOMEM` (also when `count * size`
//! overflows); freeing never changes `errno`; a size of 0 gives a unique block that must be freed.

use core::ffi::{c_char, c_void};

use crate::heap::mi_heap_t;

c_functions! {
extern "C" {
    /// Allocates `size` bytes (16-byte aligned), or null.
    pub fn mi_malloc(size: usize) -> *mut c_void;
    /// Allocates `count * size` zeroed bytes, or null (also when the product overflows).
    pub fn mi_calloc(count: usize, size: usize) -> *mut c_void;
    /// Resizes `p` (null: allocates); `newsize` 0 frees `p` and returns a minimal block. On
    /// failure returns null and `p` is left as it was.
    pub fn mi_realloc(p: *mut c_void, newsize: usize) -> *mut c_void;
    /// Grows or shrinks `p` in place only: returns `p`, or null (`p` untouched) if it cannot.
    pub fn mi_expand(p: *mut c_void, newsize: usize) -> *mut c_void;
    /// Frees `p` (null, and pointers shardalloc did not allocate, are ignored).
    pub fn mi_free(p: *mut c_void);
    /// A copy of the NUL-terminated `s` in a new block.
    pub fn mi_strdup(s: *const c_char) -> *mut c_char;
    /// A copy of at most `n` bytes of `s`, NUL-terminated, in a new block.
    pub fn mi_strndup(s: *const c_char, n: usize) -> *mut c_char;
    /// `realpath(3)`; with `resolved_name` null the result is a new block to free with `mi_free`.
    pub fn mi_realpath(fname: *const c_char, resolved_name: *mut c_char) -> *mut c_char;

    /// Reallocation of a block that was allocated zeroed: the bytes past the old size read as 0.
    pub fn mi_rezalloc(p: *mut c_void, newsize: usize) -> *mut c_void;
    /// [`mi_rezalloc`] for `newcount * size` bytes (null on overflow).
    pub fn mi_recalloc(p: *mut c_void, newcount: usize, size: usize) -> *mut c_void;
}
}

// C++ semantics: when memory runs out, std::get_new_handler()'s handler runs and the allocation
// is retried; without a handler std::bad_alloc is thrown. In a process without a C++ runtime
// there is nothing to throw and the process aborts with a message; where a C++ runtime is linked
// the exception unwinds through the caller, hence "C-unwind". The _nothrow forms never throw.
c_functions! {
extern "C-unwind" {
    /// `operator new`: never returns null (throws `std::bad_alloc` or aborts instead).
    pub fn mi_new(size: usize) -> *mut c_void;
    /// Aligned `operator new`.
    pub fn mi_new_aligned(size: usize, alignment: usize) -> *mut c_void;
    /// `operator new[]` for `count * size` bytes (throws at once on overflow).
    pub fn mi_new_n(count: usize, size: usize) -> *mut c_void;
    /// `mi_realloc` that throws instead of returning null (`p` untouched then).
    pub fn mi_new_realloc(p: *mut c_void, newsize: usize) -> *mut c_void;
    /// [`mi_new_realloc`] for `newcount * size` bytes.
    pub fn mi_new_reallocn(p: *mut c_void, newcount: usize, size: usize) -> *mut c_void;
    /// [`mi_new`] in `heap`.
    pub fn mi_heap_alloc_new(heap: *mut mi_heap_t, size: usize) -> *mut c_void;
    /// [`mi_new_n`] in `heap`.
    pub fn mi_heap_alloc_new_n(heap: *mut mi_heap_t, count: usize, size: usize) -> *mut c_void;
}
}

c_functions! {
extern "C" {
    /// `operator new(std::nothrow)`: null when memory runs out, without calling the new-handler.
    pub fn mi_new_nothrow(size: usize) -> *mut c_void;
    /// Aligned `operator new(std::nothrow)`.
    pub fn mi_new_aligned_nothrow(size: usize, alignment: usize) -> *mut c_void;
}
}
