//! Statistics and callbacks through the raw bindings: mi_stats_get (and its refusals),
//! mi_stats_get_json in both forms, the printing functions through an output callback, the
//! process figures, the error callback and the deferred-free callback. Output and callbacks are
//! process-wide, so the tests that register them take one lock.

use std::ffi::CStr;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

use shardalloc_sys::*;

static SERIAL: Mutex<()> = Mutex::new(());
static OUTPUT: Mutex<String> = Mutex::new(String::new());

unsafe extern "C" fn capture(msg: *const c_char, arg: *mut c_void) {
    assert_eq!(arg as usize, 0x5a, "the output argument arrives");
    OUTPUT.lock().unwrap().push_str(&CStr::from_ptr(msg).to_string_lossy());
}

fn captured<F: FnOnce()>(f: F) -> String {
    OUTPUT.lock().unwrap().clear();
    f();
    std::mem::take(&mut *OUTPUT.lock().unwrap())
}

#[test]
fn stats_get_and_its_refusals() {
    unsafe {
        let blocks: Vec<*mut c_void> = (0..1000).map(|i| mi_malloc(64 + i)).collect();
        let big = mi_malloc(40 << 20);
        let mut s = mi_stats_t::new();
        assert!(mi_stats_get(&mut s));
        assert_eq!(s.size, std::mem::size_of::<mi_stats_t>());
        assert_eq!(s.version, MI_STAT_VERSION);
        assert!(s.reserved.current >= 40 << 20, "reserved {:?}", s.reserved);
        assert!(s.committed.current > 0 && s.committed.peak >= s.committed.current);
        assert!(s.threads.current >= 1);
        assert!(s.segments.current >= 1 && s.pages.current >= 1);
        assert!(s.malloc_huge.current >= 40 << 20, "malloc_huge {:?}", s.malloc_huge);
        assert!(s.mmap_calls.total >= 1);

        let mut wrong = mi_stats_t::new();
        wrong.version = MI_STAT_VERSION + 1;
        wrong.reserved.total = -1;
        assert!(!mi_stats_get(&mut wrong));
        assert_eq!(wrong.reserved.total, -1, "nothing written for an unknown version");
        let mut short = mi_stats_t::new();
        short.size = 8;
        assert!(!mi_stats_get(&mut short));
        assert!(!mi_stats_get(null_mut()));
        // a caller built with a shorter struct gets the fields it knows and nothing past them
        let mut prefix = mi_stats_t::new();
        prefix.size = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<mi_stat_count_t>();
        prefix.reserved.total = -7;
        assert!(mi_stats_get(&mut prefix));
        assert!(prefix.pages.current >= 1);
        assert_eq!(prefix.reserved.total, -7);

        for p in blocks {
            mi_free(p);
        }
        mi_free(big);
    }
}

#[test]
fn stats_json_both_forms() {
    unsafe {
        let json = mi_stats_get_json(0, null_mut());
        assert!(!json.is_null());
        let text = CStr::from_ptr(json).to_str().unwrap().to_string();
        mi_free(json as *mut c_void);
        assert!(text.starts_with('{') && text.trim_end().ends_with('}'), "{text:.200}");
        for key in ["\"version\"", "\"mimalloc_version\"", "\"reserved\"", "\"malloc_bins\"", "\"process\""] {
            assert!(text.contains(key), "JSON has {key}");
        }
        let mut buf = vec![0 as c_char; text.len() + 4096];
        let r = mi_stats_get_json(buf.len(), buf.as_mut_ptr());
        assert_eq!(r, buf.as_mut_ptr());
        assert!(CStr::from_ptr(r).to_bytes().starts_with(b"{"));
        let mut small = [7 as c_char; 16];
        assert!(mi_stats_get_json(small.len(), small.as_mut_ptr()).is_null());
        assert_eq!(small[0], 0, "a buffer too small holds an empty string");
    }
}

#[test]
fn printing_through_the_output_callback() {
    let _g = SERIAL.lock().unwrap();
    unsafe {
        let arg = 0x5a as *mut c_void;
        let text = captured(|| mi_stats_print_out(Some(capture), arg));
        assert!(text.contains("reserved") && text.contains("committed"), "{text}");
        let text = captured(|| mi_thread_stats_print_out(Some(capture), arg));
        assert!(!text.is_empty());
        mi_register_output(Some(capture), arg);
        let text = captured(|| mi_stats_print(null_mut()));
        assert!(text.contains("reserved"), "mi_stats_print(NULL) uses the registered output");
        let text = captured(|| mi_arenas_print());
        let text2 = captured(|| mi_debug_show_arenas());
        mi_register_output(None, null_mut());
        assert_eq!(text.is_empty(), text2.is_empty());
        mi_stats_reset();
        mi_stats_merge();
    }
}

#[test]
fn process_info() {
    let mut f = [usize::MAX; 8];
    unsafe {
        let p = mi_malloc(8 << 20) as *mut u8;
        std::ptr::write_bytes(p, 1, 8 << 20);
        let [a, b, c, d, e, g, h, i] = &mut f;
        mi_process_info(a, b, c, d, e, g, h, i);
        mi_free(p as *mut c_void);
        // every pointer may be null
        mi_process_info(null_mut(), null_mut(), null_mut(), null_mut(), null_mut(), null_mut(), null_mut(), null_mut());
    }
    let [_elapsed, _user, _sys, rss, peak_rss, commit, peak_commit, _faults] = f;
    assert!(f.iter().all(|&v| v != usize::MAX), "every figure written: {f:?}");
    assert!(rss >= 8 << 20 && peak_rss >= rss, "rss {rss} peak {peak_rss}");
    assert!(peak_commit >= commit && peak_commit >= 8 << 20);
}

static ERRORS: AtomicI32 = AtomicI32::new(0);
static ERROR_CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn on_error(err: c_int, arg: *mut c_void) {
    assert!(arg.is_null());
    ERRORS.store(err, Ordering::SeqCst);
    ERROR_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn error_callback() {
    let _g = SERIAL.lock().unwrap();
    unsafe {
        mi_register_error(Some(on_error), null_mut());
        assert!(mi_malloc(usize::MAX - 4096).is_null());
        mi_register_error(None, null_mut());
    }
    assert!(ERROR_CALLS.load(Ordering::SeqCst) >= 1);
    assert_eq!(ERRORS.load(Ordering::SeqCst), 75, "EOVERFLOW for a size no allocation can have");
}

static DEFERRED: Mutex<Vec<(bool, u64)>> = Mutex::new(Vec::new());

unsafe extern "C" fn deferred(force: bool, heartbeat: c_ulonglong, arg: *mut c_void) {
    assert_eq!(arg as usize, 0x77);
    DEFERRED.lock().unwrap().push((force, heartbeat));
}

#[test]
fn deferred_free_callback() {
    let _g = SERIAL.lock().unwrap();
    unsafe {
        mi_register_deferred_free(Some(deferred), 0x77 as *mut c_void);
        // slow-path calls: allocations that need fresh pages
        let blocks: Vec<*mut c_void> = (0..20_000).map(|i| mi_malloc(16 + (i % 2000) * 8)).collect();
        mi_collect(true);
        mi_register_deferred_free(None, null_mut());
        for p in blocks {
            mi_free(p);
        }
    }
    let calls = DEFERRED.lock().unwrap().clone();
    assert!(calls.iter().any(|c| c.0), "mi_collect(true) calls it with force");
    assert!(calls.iter().any(|c| !c.0), "the slow path calls it without force");
    println!("{} deferred-free calls", calls.len());
}

#[test]
fn process_and_thread_control() {
    unsafe {
        mi_process_init(); // already done at load: no effect
        mi_thread_init();
        mi_thread_set_in_threadpool();
        assert!(!mi_is_redirected());
        mi_collect(false);
        mi_collect_reduce(0);
        assert_eq!(mi_version(), MI_MALLOC_VERSION);
    }
}
