//! Raw bindings to shardalloc, a C11 allocator that exports the mimalloc 2.x API.
//!
//! The build script compiles the C library from the sources this crate carries (`csrc/`) into a
//! static archive and links it; nothing is fetched, and no other crate is used. Every function of
//! `include/mimalloc.h`, `include/mimalloc-stats.h` and `include/shardalloc.h` is declared here by
//! hand, in the modules below and re-exported at the root; the tests check each declaration
//! against the C header (name, parameter and return types, unwinding) and take the address of
//! every function, and the build checks the option constants against the C enum.
//!
//! For a safe interface and a `GlobalAlloc`, use the `shardalloc` crate.
//!
//! ```
//! use shardalloc_sys::*;
//!
//! unsafe {
//!     let p = mi_malloc_aligned(100, 4096) as *mut u8;
//!     assert!(!p.is_null() && p as usize % 4096 == 0);
//!     assert!(mi_usable_size(p as *const _) >= 100);
//!     mi_free(p as *mut _);
//!     assert!(mi_option_is_enabled(mi_option_purge_decommits));
//! }
//! ```
//!
//! # Symbols
//!
//! The functions keep their C names in Rust, but the library built here exports them as
//! [`SYMBOL_PREFIX`]` + name` (`sa_rs_mi_malloc`), internal names included, so that a program
//! may also link another copy of the mimalloc API under the plain names (libmimalloc-sys, a C
//! library built with mimalloc). C code of a dependent that calls this library is compiled with
//! `-include $DEP_SHARDALLOC_PREFIX_HEADER`. With the `override` feature the library is the
//! process's malloc and exports the plain names.
//!
//! # Features
//!
//! Each one that changes the build reaches the C compile (the tests prove it through
//! [`shardalloc_build_secure_level`] and friends, an option's default, or the behaviour it
//! changes):
//!
//! | feature | effect |
//! |---|---|
//! | `secure` | `SHARDALLOC_SECURE=4` |
//! | `debug` | `SHARDALLOC_DEBUG=2`: contract and internal asserts |
//! | `debug_in_debug` | `SHARDALLOC_DEBUG=2` where the Rust code has debug assertions (dev, test profiles) |
//! | `local_dynamic_tls`, `local-dynamic-tls` | local-dynamic TLS, for a library that is `dlopen`ed |
//! | `override` | `malloc`, `free`, ... of the whole process go to shardalloc; no symbol prefix |
//! | `no_thp` | option `allow_thp` defaults to 0 |
//! | `skip_collect_on_exit`, `skip-collect-on-exit` | no `mi_collect` when the process exits |
//! | `asm` | keeps each C file's assembly: `OUT_DIR/obj/NAME.s` (`DEP_SHARDALLOC_ASM_DIR`) |
//! | `extended`, `arena` | none: accepted for libmimalloc-sys users; every declaration is always here |
//!
//! # Targets
//!
//! 64-bit Linux on x86_64 or aarch64, with glibc or musl (`x86_64-unknown-linux-gnu`,
//! `aarch64-unknown-linux-gnu`, `x86_64-unknown-linux-musl`, `aarch64-unknown-linux-musl`; the
//! tests run on the first). On any other target the build stops with one line that says so.
//!
//! The build reads `CC`, `CFLAGS` and `AR` (also with the target or `TARGET_`/`HOST_` forms, as
//! the `cc` crate does), else uses `cc` and `ar`. The C code is optimised (`-O3 -DNDEBUG`) when the
//! profile optimises; set `[profile.dev.package.shardalloc-sys] opt-level = 3` to get that in
//! debug builds too.

#![no_std]
#![allow(non_camel_case_types, non_upper_case_globals)]

/// Declares C functions of the library under their C names, each linked to the symbol
/// [`SYMBOL_PREFIX`] + name that the build script's library exports.
macro_rules! c_functions {
    ($(extern $abi:tt {
        $($(#[$attr:meta])* pub fn $name:ident($($params:tt)*) $(-> $ret:ty)?;)*
    })*) => {
        $(extern $abi {
            $(
                $(#[$attr])*
                #[link_name = concat!(env!("SHARDALLOC_SYS_SYMBOL_PREFIX"), stringify!($name))]
                pub fn $name($($params)*) $(-> $ret)?;
            )*
        })*
    };
}

pub mod aligned;
pub mod arena;
pub mod basic;
pub mod build_info;
pub mod extended;
pub mod heap;
pub mod options;
pub mod posix;
pub mod stats;

pub use aligned::*;
pub use arena::*;
pub use basic::*;
pub use build_info::*;
pub use extended::*;
pub use heap::*;
pub use options::*;
pub use posix::*;
pub use stats::*;

pub use core::ffi::{c_char, c_double, c_int, c_long, c_uchar, c_ulonglong, c_void};

/// Major version of the C headers this crate declares.
pub const SHARDALLOC_VERSION_MAJOR: c_int = 0;
/// Minor version of the C headers.
pub const SHARDALLOC_VERSION_MINOR: c_int = 1;
/// Patch version of the C headers.
pub const SHARDALLOC_VERSION_PATCH: c_int = 0;
/// `major * 10000 + minor * 100 + patch`; what [`mi_version`] returns for the library built here.
pub const MI_MALLOC_VERSION: c_int = 100;
/// shardalloc's name for [`MI_MALLOC_VERSION`].
pub const SHARDALLOC_VERSION: c_int = MI_MALLOC_VERSION;

/// What the symbols of the C library built by this crate start with: `"sa_rs_"`, so that
/// `mi_malloc` is linked as `sa_rs_mi_malloc` and a program may also link another copy of the
/// mimalloc API under the plain names (libmimalloc-sys, say); `""` with the `override` feature,
/// whose library is the process's malloc and exports the plain `mi_*` names too. The functions
/// here keep their C names in Rust either way.
pub const SYMBOL_PREFIX: &str = env!("SHARDALLOC_SYS_SYMBOL_PREFIX");
