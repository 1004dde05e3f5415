//! Each cargo feature reaches the C compile: the build-info functions report the configuration
//! the C code was compiled with, and where a feature changes behaviour, the behaviour is checked
//! too (an option's default, who owns libc's malloc, the TLS model in the object code).
//! `skip_collect_on_exit` is checked by tests/exit.rs, which needs a process of its own. The
//! hyphenated spellings (`local-dynamic-tls`, `skip-collect-on-exit`) turn on the underscore
//! forms, so these checks cover them when `make test-rust` passes them.

use std::ffi::{CStr, CString};

use shardalloc_sys::*;

extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn free(p: *mut c_void);
    fn asprintf(strp: *mut *mut c_char, fmt: *const c_char, ...) -> c_int;
}

fn env_set(option: &str) -> bool {
    std::env::vars().any(|(k, _)| k.eq_ignore_ascii_case(&format!("MIMALLOC_{option}")))
}

#[test]
fn secure_feature() {
    let level = unsafe { shardalloc_build_secure_level() };
    assert_eq!(level, if cfg!(feature = "secure") { 4 } else { 0 });
    println!("secure level {level}");
}

/// `debug`, or `debug_in_debug` in a profile with debug assertions (the build script reads
/// CARGO_CFG_DEBUG_ASSERTIONS, what cfg!(debug_assertions) shows here).
const DEBUG_BUILD: bool =
    cfg!(feature = "debug") || (cfg!(feature = "debug_in_debug") && cfg!(debug_assertions));

#[test]
fn debug_and_debug_in_debug_features() {
    let level = unsafe { shardalloc_build_debug_level() };
    assert_eq!(level, if DEBUG_BUILD { 2 } else { 0 });
    // src/options.c: show_errors defaults to on in debug builds
    if !env_set("SHOW_ERRORS") {
        assert_eq!(unsafe { mi_option_is_enabled(mi_option_show_errors) }, DEBUG_BUILD);
    }
    println!("debug level {level} (debug_assertions {})", cfg!(debug_assertions));
}

#[test]
fn asm_feature() {
    // the assembly of each C file is kept next to its object, with the library's symbol names
    let asm = std::path::Path::new(concat!(env!("OUT_DIR"), "/obj/alloc.s"));
    assert_eq!(asm.is_file(), cfg!(feature = "asm"), "{} exists iff asm", asm.display());
    if cfg!(feature = "asm") {
        let text = std::fs::read_to_string(asm).unwrap();
        let label = format!("\n{SYMBOL_PREFIX}mi_malloc:");
        assert!(text.contains(&label), "{} defines {label:?}", asm.display());
    }
}

#[test]
fn extended_and_arena_declarations_are_always_there() {
    // libmimalloc-sys declares these only with its `extended` / `arena` features; here they are
    // always declared, and the features are accepted for compatibility
    unsafe {
        let mut arena: mi_arena_id_t = 0;
        let err = mi_reserve_os_memory_ex(64 << 20, false, false, true, &mut arena);
        assert_eq!(err, 0, "mi_reserve_os_memory_ex");
        let heap = mi_heap_new_in_arena(arena);
        assert!(!heap.is_null());
        let p = mi_heap_malloc(heap, 1000);
        let mut size = 0usize;
        let start = mi_arena_area(arena, &mut size) as usize;
        assert!(p as usize >= start && (p as usize) < start + size, "the block is in the arena");
        mi_free(p);
        mi_heap_delete(heap);
    }
}

#[test]
fn no_thp_feature() {
    if env_set("ALLOW_THP") {
        println!("MIMALLOC_ALLOW_THP is set: the default cannot be seen");
        return;
    }
    let v = unsafe { mi_option_get(mi_option_allow_thp) };
    assert_eq!(v, if cfg!(feature = "no_thp") { 0 } else { 1 }, "allow_thp default");
}

#[test]
fn override_feature() {
    assert_eq!(unsafe { shardalloc_build_overrides_malloc() }, cfg!(feature = "override"));
    unsafe {
        // libc's malloc as this program links it ...
        let p = malloc(100);
        assert_eq!(mi_is_in_heap_region(p), cfg!(feature = "override"), "malloc is shardalloc's");
        free(p);
        // ... and as the C library calls it internally (asprintf is not overridden itself)
        let mut s: *mut c_char = std::ptr::null_mut();
        let fmt = CString::new("%s-%d").unwrap();
        let word = CString::new("inside-libc").unwrap();
        assert!(asprintf(&mut s, fmt.as_ptr(), word.as_ptr(), 8 as c_int) > 0);
        assert_eq!(CStr::from_ptr(s).to_str().unwrap(), "inside-libc-8");
        assert_eq!(mi_is_in_heap_region(s as *const c_void), cfg!(feature = "override"),
                   "libc's own malloc calls reach shardalloc");
        free(s as *mut c_void);
    }
}

#[test]
fn local_dynamic_tls_feature() {
    assert_eq!(unsafe { shardalloc_build_local_dynamic_tls() }, cfg!(feature = "local_dynamic_tls"));
    // The relocations of the archive's thread-local accesses show the model the compiler used.
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let archive = concat!(env!("OUT_DIR"), "/libshardalloc.a");
    let out = match std::process::Command::new("readelf").args(["-rW", archive]).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => {
            println!("readelf is not available: relocations not checked");
            return;
        }
    };
    // (R_X86_64_DTPOFF32 also appears in debug information, whatever the model: not counted)
    let local_dynamic = out.contains("R_X86_64_TLSLD") || out.contains("R_X86_64_TLSGD");
    let initial_exec = out.contains("R_X86_64_GOTTPOFF");
    if cfg!(feature = "local_dynamic_tls") {
        assert!(local_dynamic && !initial_exec, "local-dynamic TLS relocations expected");
    } else {
        assert!(initial_exec && !local_dynamic, "initial-exec TLS relocations expected");
    }
}
