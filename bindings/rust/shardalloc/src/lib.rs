//! shardalloc as Rust's memory allocator.
//!
//! shardalloc is a C11 allocator built on free-list sharding (memory in 32 MiB segments of
//! 64 KiB pages, each page with its own free lists, so that the malloc and local free paths need
//! no atomics or locks). It exports the mimalloc 2.x API; [`sys`] (`shardalloc-sys`) declares it,
//! and this crate wraps it:
//!
//! - [`ShardAlloc`]: a [`GlobalAlloc`]; one line makes it the program's allocator;
//! - `Heap`: a first-class heap whose allocations cannot outlive it;
//! - `options`, `stats`, and a few helpers ([`usable_size`], [`good_size`], [`version`],
//!   [`collect`], [`build_info`]).
//!
//! `Heap`, `options` and `stats` come with the `std` feature (on by default). Without it the
//! crate is `#![no_std]`, and `ShardAlloc` and the helpers serve `no_std` programs that use
//! `alloc` (`default-features = false`).
//!
//! ```
//! use shardalloc::ShardAlloc;
//!
//! #[global_allocator]
//! static GLOBAL: ShardAlloc = ShardAlloc;
//!
//! fn main() {
//!     let v: Vec<u64> = (0..1000).collect();
//!     // the vector's buffer came from shardalloc
//!     assert!(shardalloc::in_heap_region(v.as_ptr() as *const u8));
//!     assert_eq!(v.iter().sum::<u64>(), 499_500);
//! }
//! ```
//!
//! The C library is compiled by `shardalloc-sys`'s build script from the sources of this
//! repository; there are no other dependencies. The features of `shardalloc-sys` (`secure`,
//! `debug`, `debug_in_debug`, `local_dynamic_tls`, `override`, `no_thp`,
//! `skip_collect_on_exit`, `asm`, and the spellings of the mimalloc crates) are forwarded.

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

pub use shardalloc_sys as sys;

#[cfg(feature = "std")]
pub mod heap;
#[cfg(feature = "std")]
pub mod options;
#[cfg(feature = "std")]
pub mod stats;

#[cfg(feature = "std")]
pub use heap::Heap;

/// The alignment every block of `mi_malloc` has: layouts that need no more are served by the
/// plain entry points, the others by the aligned ones.
const MIN_ALIGN: usize = 16;

/// shardalloc as a [`GlobalAlloc`].
///
/// `alloc` uses `mi_malloc` (`mi_malloc_aligned` when the layout asks for more than 16-byte
/// alignment), `alloc_zeroed` `mi_zalloc[_aligned]`, `realloc` `mi_realloc[_aligned]` (so a
/// reallocated block keeps its alignment) and `dealloc` `mi_free`. Blocks may be freed on any
/// thread.
///
/// ```
/// use std::alloc::{GlobalAlloc, Layout};
/// use shardalloc::ShardAlloc;
///
/// let layout = Layout::from_size_align(100, 4096).unwrap();
/// unsafe {
///     let p = ShardAlloc.alloc_zeroed(layout);
///     assert!(!p.is_null() && p as usize % 4096 == 0 && *p.add(99) == 0);
///     let q = ShardAlloc.realloc(p, layout, 1 << 20);
///     assert_eq!(q as usize % 4096, 0);
///     ShardAlloc.dealloc(q, Layout::from_size_align(1 << 20, 4096).unwrap());
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardAlloc;

// SAFETY: the mi_* functions return null or a block of at least the requested size with the
// requested alignment, which stays valid until it is freed; blocks may be freed by any thread.
unsafe impl GlobalAlloc for ShardAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            sys::mi_malloc(layout.size()) as *mut u8
        } else {
            sys::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            sys::mi_zalloc(layout.size()) as *mut u8
        } else {
            sys::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        sys::mi_free(ptr as *mut c_void);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            sys::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            sys::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}

/// The number of bytes usable in the block at `ptr`: at least what was asked for, often more.
/// 0 for null and for memory shardalloc does not manage.
///
/// # Safety
///
/// `ptr` is null, or points into memory that is mapped (a block from shardalloc that has not
/// been freed, or any other live object).
///
/// ```
/// use std::alloc::{GlobalAlloc, Layout};
/// use shardalloc::ShardAlloc;
///
/// let layout = Layout::from_size_align(100, 8).unwrap();
/// unsafe {
///     let p = ShardAlloc.alloc(layout);
///     assert!(shardalloc::usable_size(p) >= 100);
///     assert_eq!(shardalloc::usable_size(std::ptr::null()), 0);
///     ShardAlloc.dealloc(p, layout);
/// }
/// ```
pub unsafe fn usable_size(ptr: *const u8) -> usize {
    sys::mi_usable_size(ptr as *const c_void)
}

/// The usable size of the block a request of `size` bytes gets: asking for that much instead
/// wastes nothing.
///
/// ```
/// assert!(shardalloc::good_size(100) >= 100);
/// assert_eq!(shardalloc::good_size(shardalloc::good_size(100)), shardalloc::good_size(100));
/// ```
pub fn good_size(size: usize) -> usize {
    unsafe { sys::mi_good_size(size) }
}

/// Whether `ptr` lies in memory that shardalloc manages (any heap, any thread). Never
/// dereferences `ptr`.
///
/// ```
/// let b = Box::new(5u32);
/// let on_stack = 5u32;
/// assert!(!shardalloc::in_heap_region(&on_stack as *const u32 as *const u8));
/// # let _ = b;
/// ```
pub fn in_heap_region(ptr: *const u8) -> bool {
    unsafe { sys::mi_is_in_heap_region(ptr as *const c_void) }
}

/// The version of the linked C library, `major * 10000 + minor * 100 + patch`.
///
/// ```
/// assert_eq!(shardalloc::version(), shardalloc::sys::MI_MALLOC_VERSION as u32);
/// ```
pub fn version() -> u32 {
    unsafe { sys::mi_version() as u32 }
}

/// Returns free memory to the OS where possible; `force` also releases what is merely cached
/// for reuse (and adopts what exited threads left).
///
/// ```
/// let v = vec![0u8; 64 << 20];
/// drop(v);
/// shardalloc::collect(true);
/// ```
pub fn collect(force: bool) {
    unsafe { sys::mi_collect(force) }
}

/// How the linked C library was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildInfo {
    /// `SHARDALLOC_SECURE` (4 with the `secure` feature, else 0).
    pub secure_level: i32,
    /// `SHARDALLOC_DEBUG` (2 with the `debug` feature, else 0).
    pub debug_level: i32,
    /// `malloc`, `free`, ... of the whole process are shardalloc's (`override` feature).
    pub overrides_malloc: bool,
    /// Local-dynamic TLS (`local_dynamic_tls` feature).
    pub local_dynamic_tls: bool,
}

/// How the linked C library was built.
///
/// ```
/// let info = shardalloc::build_info();
/// assert_eq!(info.secure_level, if cfg!(feature = "secure") { 4 } else { 0 });
/// ```
pub fn build_info() -> BuildInfo {
    unsafe {
        BuildInfo {
            secure_level: sys::shardalloc_build_secure_level(),
            debug_level: sys::shardalloc_build_debug_level(),
            overrides_malloc: sys::shardalloc_build_overrides_malloc(),
            local_dynamic_tls: sys::shardalloc_build_local_dynamic_tls(),
        }
    }
}
