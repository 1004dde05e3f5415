//! The safe Heap wrapper: arena-style values, slices and strings, boxes that drop, visiting
//! (counts, areas, stopping, a panic inside), tags, and a heap per thread.

use std::cell::Cell;
use std::rc::Rc;
use std::alloc::Layout;

use shardalloc::heap::{Block, Heap};

#[test]
fn values_slices_and_strings() {
    let heap = Heap::new();
    let a = heap.alloc(1u32);
    let b = heap.alloc_slice_copy(&[1u16, 2, 3, 4]);
    let c = heap.alloc_str("héllo");
    *a += 1;
    b[3] = 40;
    c.make_ascii_uppercase();
    assert_eq!((*a, b.iter().map(|&x| x as u32).sum::<u32>(), &*c), (2, 46, "HéLLO"));
    for p in [a as *const u32 as *const u8, b.as_ptr() as *const u8, c.as_ptr()] {
        assert!(heap.contains(p));
    }
    let aligned = heap.alloc_layout(Layout::from_size_align(100, 4096).unwrap()).unwrap();
    assert_eq!(aligned.as_ptr() as usize % 4096, 0);
    let zeroed = heap.alloc_zeroed_layout(Layout::from_size_align(5000, 64).unwrap()).unwrap();
    assert!(unsafe { std::slice::from_raw_parts(zeroed.as_ptr(), 5000) }.iter().all(|&x| x == 0));
    let zst = heap.alloc(());
    let _ = zst;
    heap.collect(true);
    heap.destroy();
}

#[test]
fn boxes_drop_their_values() {
    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let drops = Rc::new(Cell::new(0));
    let mut heap = Heap::new();
    {
        let boxes: Vec<_> = (0..100).map(|_| heap.boxed(Counted(drops.clone()))).collect();
        assert!(boxes.iter().all(|b| heap.contains(&**b as *const Counted as *const u8)));
    }
    assert_eq!(drops.get(), 100, "each HeapBox dropped its value");
    let mut live = 0;
    heap.visit(true, |_, block| {
        live += block.is_some() as usize;
        true
    });
    assert_eq!(live, 0, "and freed its block");
    // values given to alloc() are not dropped: their memory goes with the heap
    let _ = heap.alloc(Counted(drops.clone()));
    drop(heap);
    assert_eq!(drops.get(), 100);
}

#[test]
fn visiting() {
    let mut heap = Heap::with_tag(9).unwrap();
    for i in 0..1000usize {
        heap.alloc_slice_copy(&vec![i as u8; 1 + i % 300]);
    }
    let mut blocks: Vec<Block> = Vec::new();
    let mut used = 0;
    let done = heap.visit(true, |area, block| {
        assert_eq!(area.heap_tag, 9);
        assert!(area.full_block_size >= area.block_size);
        match block {
            None => used += area.used,
            Some(b) => {
                assert_eq!(b.size, area.block_size);
                blocks.push(b);
            }
        }
        true
    });
    assert!(done);
    assert_eq!((blocks.len(), used), (1000, 1000));
    // stopping early
    let mut calls = 0;
    let done = heap.visit(true, |_, _| {
        calls += 1;
        calls < 5
    });
    assert!(!done && calls == 5);
    // a panic in the visitor comes back out of visit, after the walk stopped
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        heap.visit(true, |_, b| {
            if b.is_some() {
                panic!("visitor panic");
            }
            true
        })
    }));
    assert!(r.is_err());
    // the heap is still usable
    assert_eq!(*heap.alloc(5u8), 5);
}

#[test]
fn a_heap_per_thread() {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut heap = Heap::new();
                let mut sum = 0u64;
                for i in 0..10_000u64 {
                    sum += *heap.alloc(i * t);
                }
                let mut n = 0;
                heap.visit(true, |_, b| {
                    n += b.is_some() as u64;
                    true
                });
                (sum, n)
            })
        })
        .collect();
    for (t, h) in handles.into_iter().enumerate() {
        let (sum, n) = h.join().unwrap();
        assert_eq!(sum, t as u64 * 9_999 * 10_000 / 2);
        assert_eq!(n, 10_000);
    }
}
