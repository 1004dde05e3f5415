//! How the linked library was built (`include/shardalloc.h`; shardalloc's own, not mimalloc
//! API). Each of this crate's features shows here or in an option's default.

use core::ffi::c_int;

c_functions! {
extern "C" {
    /// `SHARDALLOC_SECURE`: 4 with the `secure` feature, else 0.
    pub fn shardalloc_build_secure_level() -> c_int;
    /// `SHARDALLOC_DEBUG`: 2 with the `debug` feature, else 0.
    pub fn shardalloc_build_debug_level() -> c_int;
    /// The library defines `malloc`, `free`, ... for the whole process (`override` feature).
    pub fn shardalloc_build_overrides_malloc() -> bool;
    /// The library uses local-dynamic TLS (`local_dynamic_tls` feature).
    pub fn shardalloc_build_local_dynamic_tls() -> bool;
}
}
