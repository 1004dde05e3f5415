//! A `#![no_std]`, `#![no_main]` program on stable Rust with `ShardAlloc` as its global
//! allocator: `alloc`'s Box, Vec, String and BTreeMap, an over-aligned layout and a realloc, each
//! checked to come from shardalloc (`in_heap_region`). No std: the C runtime calls `main`, libc
//! (which the C library needs anyway) provides `write` and `abort`, and a panic aborts.
//! Prints "nostd-check: ok" and exits 0, or says what failed and exits 1.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::alloc::{alloc, dealloc, realloc, Layout};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_void};

use shardalloc::{in_heap_region, ShardAlloc};

#[global_allocator]
static GLOBAL: ShardAlloc = ShardAlloc;

extern "C" {
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn abort() -> !;
}

fn say(text: &str) {
    unsafe { write(1, text.as_ptr() as *const c_void, text.len()) };
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    say("nostd-check: panic\n");
    unsafe { abort() }
}

/// The precompiled `core` and `alloc` are built for unwinding and name this personality
/// routine; with panic = "abort" nothing unwinds, so it is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

fn ours<T: ?Sized>(p: *const T) -> bool {
    in_heap_region(p as *const u8)
}

fn checks() -> Result<(), &'static str> {
    let b = Box::new(42u64);
    if *b != 42 || !ours(&*b) {
        return Err("Box");
    }
    let mut v: Vec<u32> = Vec::new();
    for i in 0..100_000 {
        v.push(i); // grows by realloc
    }
    if !ours(v.as_ptr()) || v.iter().map(|&x| x as u64).sum::<u64>() != 4_999_950_000 {
        return Err("Vec");
    }
    let mut s = String::new();
    for _ in 0..1000 {
        s.push_str("no_std ");
    }
    if s.len() != 7000 || !ours(s.as_ptr()) {
        return Err("String");
    }
    let mut m = BTreeMap::new();
    for i in 0..10_000u32 {
        m.insert(i, i * 2);
    }
    if m.get(&777) != Some(&1554) {
        return Err("BTreeMap");
    }
    unsafe {
        let layout = Layout::from_size_align(3000, 4096).unwrap();
        let p = alloc(layout);
        if p.is_null() || p as usize % 4096 != 0 || !ours(p) {
            return Err("aligned alloc");
        }
        *p = 7;
        let q = realloc(p, layout, 1 << 20);
        if q.is_null() || q as usize % 4096 != 0 || *q != 7 {
            return Err("aligned realloc");
        }
        dealloc(q, Layout::from_size_align(1 << 20, 4096).unwrap());
    }
    if shardalloc::version() == 0 {
        return Err("version");
    }
    shardalloc::collect(true);
    Ok(())
}

#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    match checks() {
        Ok(()) => {
            say("nostd-check: ok\n");
            0
        }
        Err(what) => {
            say("nostd-check: FAILED: ");
            say(what);
            say(" did not come from shardalloc or lost its contents\n");
            1
        }
    }
}
