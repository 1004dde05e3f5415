//! Allocation through the raw bindings: the standard, extended, aligned (with `_at` offsets),
//! zeroing, usable-size, POSIX and C++-semantics families, with their size and error contracts.

use std::ffi::{CStr, CString};
use std::ptr::null_mut;

use shardalloc_sys::*;

extern "C" {
    fn __errno_location() -> *mut c_int;
}

const ENOMEM: c_int = 12;
const EINVAL: c_int = 22;

fn set_errno(v: c_int) {
    unsafe { *__errno_location() = v };
}

fn errno() -> c_int {
    unsafe { *__errno_location() }
}

/// Sizes around every power of two up to 64 MiB, and every size to 1 KiB.
fn sizes() -> Vec<usize> {
    let mut v: Vec<usize> = (0..=1024).collect();
    for shift in 10..=26 {
        let n = 1usize << shift;
        v.extend([n - 1, n, n + 1, n + n / 2]);
    }
    v
}

/// The bytes a pattern covers: the first 4 KiB and every 509th byte after (debug builds of
/// byte loops are slow); the same positions whatever the block size.
fn pattern_indices(n: usize) -> impl Iterator<Item = usize> {
    (0..4096.min(n)).chain((4096..n).step_by(509))
}

unsafe fn fill(p: *mut u8, n: usize, seed: u8) {
    for i in pattern_indices(n) {
        *p.add(i) = seed.wrapping_add(i as u8);
    }
}

unsafe fn check_fill(p: *const u8, n: usize, seed: u8) {
    for i in pattern_indices(n) {
        assert_eq!(*p.add(i), seed.wrapping_add(i as u8), "byte {i} of {n}");
    }
}

unsafe fn all_zero(p: *const u8, n: usize) -> bool {
    // compared a page at a time (memcmp), which stays fast in unoptimised test builds
    static ZERO: [u8; 4096] = [0; 4096];
    std::slice::from_raw_parts(p, n).chunks(4096).all(|c| c == &ZERO[..c.len()])
}

#[test]
fn malloc_usable_and_good_size() {
    let mut count = 0;
    for n in sizes() {
        unsafe {
            let p = mi_malloc(n) as *mut u8;
            assert!(!p.is_null(), "mi_malloc({n})");
            assert_eq!(p as usize % 16, 0, "mi_malloc({n}) is 16-byte aligned");
            let usable = mi_usable_size(p as *const c_void);
            assert!(usable >= n, "usable {usable} < {n}");
            assert_eq!(usable, mi_good_size(n), "mi_good_size({n}) is the usable size");
            assert_eq!(mi_malloc_size(p as *const c_void), usable);
            assert_eq!(mi_malloc_usable_size(p as *const c_void), usable);
            assert_eq!(mi_malloc_good_size(n), usable);
            assert!(mi_is_in_heap_region(p as *const c_void));
            if n > 0 {
                // the first and last usable bytes are ours
                *p = 1;
                *p.add(usable - 1) = 2;
            }
            mi_free(p as *mut c_void);
        }
        count += 1;
    }
    println!("{count} sizes checked");
}

#[test]
fn calloc_zalloc_and_overflow() {
    for n in [1usize, 7, 64, 1000, 4096, 100_000, 1 << 20, 5 << 20] {
        unsafe {
            let p = mi_calloc(n, 3) as *mut u8;
            assert!(all_zero(p, n * 3), "mi_calloc({n}, 3)");
            mi_free(p as *mut c_void);
            let p = mi_zalloc(n) as *mut u8;
            assert!(all_zero(p, n), "mi_zalloc({n})");
            // reused memory is zeroed too
            fill(p, n, 9);
            mi_free(p as *mut c_void);
            let q = mi_zalloc(n) as *mut u8;
            assert!(all_zero(q, n), "mi_zalloc({n}) on reused memory");
            mi_free(q as *mut c_void);
        }
    }
    unsafe {
        set_errno(0);
        assert!(mi_calloc(usize::MAX / 2, 3).is_null());
        assert_eq!(errno(), ENOMEM, "calloc overflow sets ENOMEM");
        set_errno(0);
        assert!(mi_mallocn(usize::MAX / 2, 3).is_null());
        assert_eq!(errno(), ENOMEM);
        let p = mi_malloc(10);
        set_errno(0);
        assert!(mi_reallocn(p, usize::MAX / 2, 3).is_null());
        assert_eq!(errno(), ENOMEM);
        let p = mi_reallocn(p, 10, 10);
        assert!(!p.is_null() && mi_usable_size(p) >= 100);
        mi_free(p);
        set_errno(0);
        assert!(mi_malloc(usize::MAX).is_null());
        assert_eq!(errno(), ENOMEM);
    }
}

#[test]
fn realloc_keeps_contents() {
    unsafe {
        let mut n = 1usize;
        let mut p = mi_malloc(n) as *mut u8;
        fill(p, n, 3);
        while n < (32 << 20) {
            let next = n * 3 + 1;
            p = mi_realloc(p as *mut c_void, next) as *mut u8;
            assert!(!p.is_null());
            check_fill(p, n, 3);
            fill(p, next, 3);
            n = next;
        }
        while n > 1 {
            n /= 5;
            p = mi_realloc(p as *mut c_void, n) as *mut u8;
            check_fill(p, n, 3);
        }
        // shrinking in place, and growing in place within the block
        let usable = mi_usable_size(p as *const c_void);
        assert_eq!(mi_expand(p as *mut c_void, usable) as *mut u8, p);
        assert!(mi_expand(p as *mut c_void, 1 << 30).is_null());
        set_errno(0);
        assert!(mi__expand(p as *mut c_void, 1 << 30).is_null());
        assert_eq!(errno(), ENOMEM);
        mi_free(p as *mut c_void);

        // realloc(NULL) allocates; realloc(p, 0) returns a fresh minimal block
        let p = mi_realloc(null_mut(), 100);
        assert!(!p.is_null());
        let q = mi_realloc(p, 0);
        assert!(!q.is_null());
        mi_free(q);
        // reallocf frees on failure
        let p = mi_malloc(100);
        assert!(mi_reallocf(p, usize::MAX).is_null());
    }
}

#[test]
fn aligned_sweep_with_offsets() {
    let mut checked = 0;
    for shift in 0..=22 {
        let align = 1usize << shift;
        for size in [1usize, 24, 100, 4096, 70_000, 3 << 20] {
            unsafe {
                let p = mi_malloc_aligned(size, align) as *mut u8;
                assert!(!p.is_null() && p as usize % align == 0, "mi_malloc_aligned({size}, {align})");
                assert!(mi_usable_size(p as *const c_void) >= size);
                fill(p, size, 1);
                let q = mi_realloc_aligned(p as *mut c_void, size * 2, align) as *mut u8;
                assert!(q as usize % align == 0, "mi_realloc_aligned keeps {align}");
                check_fill(q, size, 1);
                mi_free(q as *mut c_void);

                let z = mi_zalloc_aligned(size, align) as *mut u8;
                assert!(z as usize % align == 0 && all_zero(z, size));
                mi_free_aligned(z as *mut c_void, align);
                let c = mi_calloc_aligned(size, 2, align) as *mut u8;
                assert!(c as usize % align == 0 && all_zero(c, size * 2));
                mi_free_size_aligned(c as *mut c_void, size * 2, align);

                for offset in [0usize, 8, 16, 48, 1000] {
                    let p = mi_malloc_aligned_at(size, align, offset) as *mut u8;
                    assert!(!p.is_null());
                    assert_eq!((p as usize + offset) % align, 0, "_at({size}, {align}, {offset})");
                    fill(p, size, 2);
                    let q = mi_realloc_aligned_at(p as *mut c_void, size + 100, align, offset) as *mut u8;
                    assert_eq!((q as usize + offset) % align, 0, "realloc_aligned_at keeps the offset");
                    check_fill(q, size, 2);
                    mi_free(q as *mut c_void);
                    let z = mi_zalloc_aligned_at(size, align, offset) as *mut u8;
                    assert!((z as usize + offset) % align == 0 && all_zero(z, size));
                    mi_free(z as *mut c_void);
                    let c = mi_calloc_aligned_at(size, 3, align, offset) as *mut u8;
                    assert!((c as usize + offset) % align == 0 && all_zero(c, size * 3));
                    mi_free(c as *mut c_void);
                    checked += 1;
                }
            }
        }
    }
    unsafe {
        // very large alignments
        for shift in [26, 30] {
            let align = 1usize << shift;
            let p = mi_malloc_aligned(64, align);
            assert!(!p.is_null() && p as usize % align == 0, "alignment {align}");
            mi_free(p);
        }
        // a bad alignment: NULL with EINVAL
        set_errno(0);
        assert!(mi_malloc_aligned(10, 3).is_null());
        assert_eq!(errno(), EINVAL);
        set_errno(0);
        assert!(mi_malloc_aligned(10, 0).is_null());
        assert_eq!(errno(), EINVAL);
    }
    println!("{checked} aligned _at combinations checked");
}

/// Each zeroing reallocation starts from a block allocated zeroed, as the header requires. (A
/// chain of them is not tested: a block from mi_rezalloc has no zeroed slack past the size asked
/// for, so a later zeroing growth that copies the old usable size may copy non-zero bytes; in
/// debug builds the slack holds the fill pattern. The same holds for mimalloc.)
#[test]
fn zeroing_reallocation() {
    unsafe {
        let p = mi_zalloc(10) as *mut u8;
        fill(p, 10, 5);
        let p = mi_rezalloc(p as *mut c_void, 5000) as *mut u8;
        check_fill(p, 10, 5);
        assert!(all_zero(p.add(10), 4990), "mi_rezalloc zeroes the tail");
        mi_free(p as *mut c_void);
        let p = mi_calloc(10, 1) as *mut u8;
        fill(p, 10, 5);
        let p = mi_recalloc(p as *mut c_void, 3000, 4) as *mut u8;
        check_fill(p, 10, 5);
        assert!(all_zero(p.add(10), 11_990), "mi_recalloc zeroes the tail");
        mi_free(p as *mut c_void);

        for (align, offset) in [(64usize, 0usize), (4096, 16)] {
            let p = mi_zalloc_aligned_at(100, align, offset) as *mut u8;
            fill(p, 100, 7);
            let p = mi_rezalloc_aligned_at(p as *mut c_void, 20_000, align, offset) as *mut u8;
            assert_eq!((p as usize + offset) % align, 0);
            check_fill(p, 100, 7);
            assert!(all_zero(p.add(100), 19_900));
            mi_free(p as *mut c_void);
            let p = mi_calloc_aligned_at(100, 1, align, offset) as *mut u8;
            fill(p, 100, 7);
            let p = mi_recalloc_aligned_at(p as *mut c_void, 10_000, 4, align, offset) as *mut u8;
            assert_eq!((p as usize + offset) % align, 0);
            check_fill(p, 100, 7);
            assert!(all_zero(p.add(100), 39_900));
            mi_free(p as *mut c_void);

            let p = mi_calloc_aligned(10, 10, align) as *mut u8;
            let p = mi_rezalloc_aligned(p as *mut c_void, 1000, align) as *mut u8;
            assert!(p as usize % align == 0 && all_zero(p, 1000));
            mi_free(p as *mut c_void);
            let p = mi_zalloc_aligned(100, align) as *mut u8;
            let p = mi_recalloc_aligned(p as *mut c_void, 500, 4, align) as *mut u8;
            assert!(p as usize % align == 0 && all_zero(p, 2000));
            mi_free(p as *mut c_void);
            let p = mi_zalloc_aligned(100, align) as *mut u8;
            let p = mi_aligned_recalloc(p as *mut c_void, 800, 4, align) as *mut u8;
            assert!(p as usize % align == 0 && all_zero(p, 3200), "mi_aligned_recalloc");
            mi_free(p as *mut c_void);
            let p = mi_zalloc_aligned_at(100, align, offset) as *mut u8;
            let p = mi_aligned_offset_recalloc(p as *mut c_void, 900, 4, align, offset) as *mut u8;
            assert!((p as usize + offset) % align == 0 && all_zero(p, 3600));
            mi_free(p as *mut c_void);
        }
    }
}

#[test]
fn usable_size_reporting_forms() {
    unsafe {
        let mut bs = 0usize;
        let p = mi_umalloc(100, &mut bs);
        assert_eq!(bs, mi_usable_size(p));
        let (mut pre, mut post) = (0usize, 0usize);
        let q = mi_urealloc(p, 5000, &mut pre, &mut post);
        assert_eq!(pre, bs);
        assert_eq!(post, mi_usable_size(q));
        let mut freed = 0usize;
        mi_ufree(q, &mut freed);
        assert_eq!(freed, post);

        let p = mi_ucalloc(10, 10, &mut bs) as *mut u8;
        assert!(bs >= 100 && all_zero(p, 100));
        mi_free(p as *mut c_void);
        let p = mi_umalloc_aligned(100, 256, &mut bs);
        assert!(p as usize % 256 == 0 && bs == mi_usable_size(p));
        mi_free(p);
        let p = mi_uzalloc_aligned(100, 256, &mut bs) as *mut u8;
        assert!(p as usize % 256 == 0 && all_zero(p, 100));
        mi_free(p as *mut c_void);
        let p = mi_umalloc_small(MI_SMALL_SIZE_MAX, &mut bs);
        assert!(bs >= MI_SMALL_SIZE_MAX);
        mi_free_small(p);
        let p = mi_uzalloc_small(64, &mut bs) as *mut u8;
        assert!(bs >= 64 && all_zero(p, 64));
        mi_free(p as *mut c_void);
        // null block_size pointers are allowed
        let p = mi_umalloc(10, null_mut());
        mi_ufree(p, null_mut());

        let p = mi_malloc_small(MI_SMALL_SIZE_MAX) as *mut u8;
        fill(p, MI_SMALL_SIZE_MAX, 4);
        mi_free_small(p as *mut c_void);
        let p = mi_zalloc_small(100) as *mut u8;
        assert!(all_zero(p, 100));
        mi_free_size(p as *mut c_void, 100);
        assert_eq!(MI_SMALL_SIZE_MAX, 1024);
    }
}

#[test]
fn strings() {
    unsafe {
        let s = CString::new("shardalloc").unwrap();
        let d = mi_strdup(s.as_ptr());
        assert_eq!(CStr::from_ptr(d), s.as_c_str());
        mi_free(d as *mut c_void);
        let d = mi_strndup(s.as_ptr(), 5);
        assert_eq!(CStr::from_ptr(d).to_str().unwrap(), "shard");
        mi_free(d as *mut c_void);
        let dot = CString::new(".").unwrap();
        let r = mi_realpath(dot.as_ptr(), null_mut());
        assert!(!r.is_null());
        let expect = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(CStr::from_ptr(r).to_str().unwrap(), expect.to_str().unwrap());
        mi_free(r as *mut c_void);
        let m = mi_mbsdup(b"bytes\0".as_ptr());
        assert_eq!(CStr::from_ptr(m as *const c_char).to_bytes(), b"bytes");
        mi_free(m as *mut c_void);
        let wide: [wchar_t; 4] = [b'a' as wchar_t, b'b' as wchar_t, 0x263A, 0];
        let w = mi_wcsdup(wide.as_ptr());
        assert_eq!(std::slice::from_raw_parts(w, 4), &wide);
        mi_free(w as *mut c_void);
    }
}

#[test]
fn posix_forms() {
    unsafe {
        let mut p: *mut c_void = null_mut();
        assert_eq!(mi_posix_memalign(&mut p, 4096, 100), 0);
        assert!(!p.is_null() && p as usize % 4096 == 0);
        mi_free(p);
        let mut q: *mut c_void = 1usize as *mut c_void;
        assert_eq!(mi_posix_memalign(&mut q, 24, 100), EINVAL);
        assert_eq!(q as usize, 1, "*p untouched on error");

        let p = mi_memalign(512, 100);
        assert!(p as usize % 512 == 0);
        mi_free(p);
        let p = mi_valloc(100);
        assert!(p as usize % 4096 == 0);
        mi_free(p);
        let p = mi_pvalloc(5000);
        assert!(p as usize % 4096 == 0 && mi_usable_size(p) >= 8192);
        mi_free(p);
        let p = mi_aligned_alloc(64, 100);
        assert!(p as usize % 64 == 0);
        mi_cfree(p);
        set_errno(0);
        assert!(mi_aligned_alloc(48, 100).is_null());
        assert_eq!(errno(), EINVAL);

        let p = mi_reallocarray(null_mut(), 10, 10);
        assert!(mi_usable_size(p) >= 100);
        set_errno(0);
        assert!(mi_reallocarray(p, usize::MAX, 2).is_null());
        assert_eq!(errno(), ENOMEM);
        let mut pp = p;
        assert_eq!(mi_reallocarr(&mut pp as *mut *mut c_void as *mut c_void, 100, 10), 0);
        assert!(mi_usable_size(pp) >= 1000);
        let before = pp;
        assert_eq!(mi_reallocarr(&mut pp as *mut *mut c_void as *mut c_void, usize::MAX, 2), ENOMEM);
        assert_eq!(pp, before, "reallocarr leaves the pointer on failure");
        mi_free(pp);

        // a foreign pointer: size 0, freeing ignored (debug builds report it as an error,
        // which aborts without an error handler)
        let local = 5u64;
        let foreign = &local as *const u64 as *mut c_void;
        assert_eq!(mi_usable_size(foreign), 0);
        assert!(!mi_is_in_heap_region(foreign));
        assert!(!mi_check_owned(foreign));
        mi_cfree(foreign);
        if shardalloc_build_debug_level() == 0 {
            mi_free(foreign);
        }

        // the environment
        std::env::set_var("SHARDALLOC_SYS_DUPENV", "value-1");
        let name = CString::new("SHARDALLOC_SYS_DUPENV").unwrap();
        let mut buf: *mut c_char = null_mut();
        let mut size = 0usize;
        assert_eq!(mi_dupenv_s(&mut buf, &mut size, name.as_ptr()), 0);
        assert_eq!(CStr::from_ptr(buf).to_str().unwrap(), "value-1");
        assert_eq!(size, 8);
        mi_free(buf as *mut c_void);
        let unset = CString::new("SHARDALLOC_SYS_NOT_SET").unwrap();
        assert_eq!(mi_dupenv_s(&mut buf, &mut size, unset.as_ptr()), 0);
        assert!(buf.is_null());
        let wname: Vec<wchar_t> =
            "SHARDALLOC_SYS_DUPENV\0".chars().map(|c| c as wchar_t).collect();
        let mut wbuf: *mut wchar_t = null_mut();
        assert_eq!(mi_wdupenv_s(&mut wbuf, &mut size, wname.as_ptr()), 0);
        let want: Vec<wchar_t> = "value-1\0".chars().map(|c| c as wchar_t).collect();
        assert_eq!(std::slice::from_raw_parts(wbuf, want.len()), &want[..]);
        mi_free(wbuf as *mut c_void);
    }
}

#[test]
fn cxx_semantics_forms() {
    unsafe {
        let p = mi_new(100);
        assert!(!p.is_null());
        let p = mi_new_realloc(p, 10_000);
        assert!(mi_usable_size(p) >= 10_000);
        let p = mi_new_reallocn(p, 100, 200);
        assert!(mi_usable_size(p) >= 20_000);
        mi_free(p);
        let p = mi_new_aligned(100, 4096);
        assert!(p as usize % 4096 == 0);
        mi_free(p);
        let p = mi_new_n(10, 10);
        mi_free(p);
        let p = mi_new_nothrow(10);
        assert!(!p.is_null());
        mi_free(p);
        assert!(mi_new_nothrow(usize::MAX).is_null(), "nothrow: NULL, no handler, no throw");
        assert!(mi_new_aligned_nothrow(usize::MAX, 64).is_null());
        let p = mi_new_aligned_nothrow(100, 64);
        assert!(p as usize % 64 == 0);
        mi_free(p);
        let heap = mi_heap_get_default();
        let p = mi_heap_alloc_new(heap, 100);
        assert!(mi_heap_contains_block(heap, p));
        mi_free(p);
        let p = mi_heap_alloc_new_n(heap, 10, 10);
        assert!(mi_heap_contains_block(heap, p));
        mi_free(p);
    }
}
