//! First-class heaps through the raw bindings: every allocation form, ownership queries,
//! visiting (areas with every field, blocks, stopping early), delete, destroy, default heaps,
//! and heaps in an exclusive arena.

#![allow(clippy::vec_init_then_push)]

use std::ffi::{CStr, CString};
use std::ptr::null_mut;

use shardalloc_sys::*;

#[derive(Default)]
struct Walk {
    areas: Vec<mi_heap_area_t>,
    blocks: Vec<(usize, usize)>,
    stop_after: Option<usize>,
    calls: usize,
}

unsafe extern "C" fn visitor(
    _heap: *const mi_heap_t,
    area: *const mi_heap_area_t,
    block: *mut c_void,
    block_size: usize,
    arg: *mut c_void,
) -> bool {
    let walk = &mut *(arg as *mut Walk);
    walk.calls += 1;
    if block.is_null() {
        walk.areas.push(*area);
    } else {
        walk.blocks.push((block as usize, block_size));
    }
    walk.stop_after.map_or(true, |n| walk.calls < n)
}

fn walk(heap: *mut mi_heap_t, blocks: bool) -> (bool, Walk) {
    let mut w = Walk::default();
    let done = unsafe { mi_heap_visit_blocks(heap, blocks, Some(visitor), &mut w as *mut Walk as *mut c_void) };
    (done, w)
}

#[test]
fn visiting_reports_every_block_and_area_field() {
    unsafe {
        let heap = mi_heap_new_ex(7, true, 0);
        assert!(!heap.is_null());
        let sizes = [8usize, 24, 100, 1000, 5000, 70_000, 300_000];
        let mut live = Vec::new();
        for i in 0..2000 {
            let n = sizes[i % sizes.len()];
            let p = mi_heap_malloc(heap, n);
            assert!(mi_heap_contains_block(heap, p));
            assert!(mi_heap_check_owned(heap, p));
            assert!(!mi_heap_contains_block(mi_heap_get_backing(), p));
            live.push((p as usize, n));
        }
        let (done, w) = walk(heap, true);
        assert!(done);
        assert_eq!(w.blocks.len(), live.len(), "every live block visited once");
        let mut seen: Vec<usize> = w.blocks.iter().map(|b| b.0).collect();
        seen.sort();
        let mut want: Vec<usize> = live.iter().map(|b| b.0).collect();
        want.sort();
        assert_eq!(seen, want);
        let mut used = 0;
        for a in &w.areas {
            assert_eq!(a.heap_tag, 7, "heap_tag (after full_block_size) reads the tag");
            assert!(a.full_block_size >= a.block_size && a.block_size > 0);
            assert!(a.reserved >= a.committed && a.committed >= a.used * a.block_size);
            assert!(!a.blocks.is_null());
            used += a.used;
        }
        assert_eq!(used, live.len(), "area.used adds up to the live blocks");
        for (p, size) in &w.blocks {
            let n = live.iter().find(|b| b.0 == *p).unwrap().1;
            assert!(*size >= n, "visited block size {size} < requested {n}");
        }
        // areas only, and stopping early
        let (done, areas_only) = walk(heap, false);
        assert!(done && areas_only.blocks.is_empty() && areas_only.areas.len() == w.areas.len());
        let mut stop = Walk { stop_after: Some(3), ..Walk::default() };
        let done = mi_heap_visit_blocks(heap, true, Some(visitor), &mut stop as *mut Walk as *mut c_void);
        assert!(!done, "the walk reports that the visitor stopped it");
        assert_eq!(stop.calls, 3);

        for (p, _) in live.iter().step_by(2) {
            mi_free(*p as *mut c_void);
        }
        let (_, w) = walk(heap, true);
        assert_eq!(w.blocks.len(), live.len() / 2);
        println!("{} areas, {} blocks visited", w.areas.len(), w.blocks.len());
        mi_heap_destroy(heap);
    }
}

#[test]
fn every_heap_allocation_form() {
    unsafe {
        let h = mi_heap_new();
        let mut blocks: Vec<*mut c_void> = Vec::new();
        blocks.push(mi_heap_malloc(h, 10));
        blocks.push(mi_heap_zalloc(h, 10));
        blocks.push(mi_heap_calloc(h, 10, 10));
        blocks.push(mi_heap_mallocn(h, 10, 10));
        blocks.push(mi_heap_malloc_small(h, MI_SMALL_SIZE_MAX));
        blocks.push(mi_heap_zalloc_small(h, 64));
        let p = mi_heap_malloc(h, 10);
        let p = mi_heap_realloc(h, p, 10_000);
        let p = mi_heap_reallocn(h, p, 100, 200);
        let p = mi_heap_reallocf(h, p, 50);
        blocks.push(p);
        let s = CString::new("heap string").unwrap();
        let d = mi_heap_strdup(h, s.as_ptr());
        assert_eq!(CStr::from_ptr(d), s.as_c_str());
        blocks.push(d as *mut c_void);
        let d = mi_heap_strndup(h, s.as_ptr(), 4);
        assert_eq!(CStr::from_ptr(d).to_bytes(), b"heap");
        blocks.push(d as *mut c_void);
        let dot = CString::new("/").unwrap();
        let r = mi_heap_realpath(h, dot.as_ptr(), null_mut());
        assert_eq!(CStr::from_ptr(r).to_bytes(), b"/");
        blocks.push(r as *mut c_void);
        for align in [16usize, 256, 4096, 1 << 16] {
            let off = 8;
            let p = mi_heap_malloc_aligned(h, 100, align);
            assert_eq!(p as usize % align, 0);
            let p = mi_heap_realloc_aligned(h, p, 5000, align);
            assert_eq!(p as usize % align, 0);
            blocks.push(p);
            let p = mi_heap_malloc_aligned_at(h, 100, align, off);
            assert_eq!((p as usize + off) % align, 0);
            let p = mi_heap_realloc_aligned_at(h, p, 5000, align, off);
            assert_eq!((p as usize + off) % align, 0);
            blocks.push(p);
            let p = mi_heap_zalloc_aligned(h, 100, align);
            let p = mi_heap_rezalloc_aligned(h, p, 3000, align);
            assert!(p as usize % align == 0 && std::slice::from_raw_parts(p as *const u8, 3000).iter().all(|&b| b == 0));
            blocks.push(p);
            let p = mi_heap_zalloc_aligned_at(h, 100, align, off);
            let p = mi_heap_rezalloc_aligned_at(h, p, 3000, align, off);
            assert_eq!((p as usize + off) % align, 0);
            blocks.push(p);
            let p = mi_heap_calloc_aligned(h, 10, 10, align);
            let p = mi_heap_recalloc_aligned(h, p, 100, 10, align);
            assert_eq!(p as usize % align, 0);
            blocks.push(p);
            let p = mi_heap_calloc_aligned_at(h, 10, 10, align, off);
            let p = mi_heap_recalloc_aligned_at(h, p, 100, 10, align, off);
            assert_eq!((p as usize + off) % align, 0);
            blocks.push(p);
        }
        let p = mi_heap_zalloc(h, 10);
        let p = mi_heap_rezalloc(h, p, 1000);
        let p = mi_heap_recalloc(h, p, 100, 20) as *mut u8;
        assert!(std::slice::from_raw_parts(p, 2000).iter().all(|&b| b == 0));
        blocks.push(p as *mut c_void);
        for b in &blocks {
            assert!(!b.is_null());
            assert!(mi_heap_contains_block(h, *b), "every form allocates in the heap");
        }
        assert!(mi_unsafe_heap_page_is_under_utilized(h, blocks[0], 100)
            || !mi_unsafe_heap_page_is_under_utilized(h, blocks[0], 100));
        mi_heap_collect(h, true);
        // delete: the blocks move to the backing heap and stay valid
        mi_heap_delete(h);
        for b in &blocks {
            *(*b as *mut u8) = 1;
            mi_free(*b);
        }
    }
}

#[test]
fn default_heap_and_destroy() {
    unsafe {
        let backing = mi_heap_get_backing();
        assert_eq!(mi_heap_get_default(), backing);
        let h = mi_heap_new();
        let old = mi_heap_set_default(h);
        assert_eq!(old, backing);
        let p = mi_malloc(100);
        assert!(mi_heap_contains_block(h, p), "mi_malloc allocates in the default heap");
        assert!(mi_check_owned(p));
        assert_eq!(mi_heap_set_default(old), h);
        // destroy releases every block at once
        for _ in 0..10_000 {
            let _ = mi_heap_malloc(h, 64);
        }
        let (_, w) = walk(h, true);
        assert_eq!(w.blocks.len(), 10_001);
        mi_heap_destroy(h);
        let h2 = mi_heap_new();
        let (_, w) = walk(h2, true);
        assert!(w.blocks.is_empty());
        mi_heap_delete(h2);
        // the backing heap is never destroyed or deleted
        mi_heap_destroy(backing);
        mi_heap_delete(backing);
        let p = mi_malloc(10);
        mi_free(p);
    }
}

#[test]
fn heap_in_an_exclusive_arena() {
    unsafe {
        let mut id: mi_arena_id_t = 0;
        assert_eq!(mi_reserve_os_memory_ex(64 << 20, false, false, true, &mut id), 0);
        assert!(id > 0);
        let mut size = 0usize;
        let start = mi_arena_area(id, &mut size) as usize;
        assert!(start != 0 && size >= 64 << 20);
        let h = mi_heap_new_in_arena(id);
        assert!(!h.is_null());
        let p = mi_heap_malloc(h, 1000) as usize;
        assert!(p >= start && p < start + size, "the block lies in the arena");
        let h2 = mi_heap_new_ex(3, false, id);
        let q = mi_heap_malloc(h2, 100) as usize;
        assert!(q >= start && q < start + size);
        mi_free(p as *mut c_void);
        mi_free(q as *mut c_void);
        mi_heap_delete(h);
        mi_heap_delete(h2);
        assert!(mi_arena_area(9999, &mut size).is_null() && size == 0);
        assert!(mi_heap_new_ex(1000, true, 0).is_null(), "tag out of range");
        // huge OS pages: granted or a clean ENOMEM
        let r = mi_reserve_huge_os_pages_at(1, 0, 10);
        assert!(r == 0 || r == 12, "mi_reserve_huge_os_pages_at: {r}");
    }
}
