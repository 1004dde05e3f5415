//! Threads through the raw bindings: allocation on many threads at once, blocks freed by other
//! threads than the one that allocated them (remote frees), threads that exit with live blocks,
//! and a heap per thread.

use std::sync::mpsc;
use std::thread;

use shardalloc_sys::*;

const THREADS: usize = 8;

/// A small deterministic generator (xorshift), one per thread.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Ownership of a block passed between threads.
struct Block(usize, usize, u8);

#[test]
fn remote_frees_in_a_ring_of_threads() {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| mpsc::channel::<Vec<Block>>()).unzip();
    let mut handles = Vec::new();
    for (t, rx) in receivers.into_iter().enumerate() {
        let tx = senders[(t + 1) % THREADS].clone();
        handles.push(thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ t as u64);
            let mut freed = 0usize;
            for round in 0..40 {
                let batch: Vec<Block> = (0..500)
                    .map(|_| {
                        let size = 1 + (rng.next() % 3000) as usize;
                        let tag = (t * 31 + round) as u8;
                        let p = unsafe { mi_malloc(size) } as *mut u8;
                        assert!(!p.is_null());
                        unsafe { std::ptr::write_bytes(p, tag, size) };
                        Block(p as usize, size, tag)
                    })
                    .collect();
                tx.send(batch).unwrap();
                // free what the previous thread of the ring allocated
                for b in rx.recv().unwrap() {
                    let p = b.0 as *mut u8;
                    unsafe {
                        assert_eq!(*p, b.2);
                        assert_eq!(*p.add(b.1 - 1), b.2, "a block changed on its way");
                        mi_free(p as *mut c_void);
                    }
                    freed += 1;
                }
            }
            unsafe { mi_thread_done() };
            freed
        }));
    }
    drop(senders);
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, THREADS * 40 * 500);
    unsafe { mi_collect(true) };
}

#[test]
fn threads_exit_with_live_blocks() {
    let blocks: Vec<usize> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                (0..2000)
                    .map(|i| {
                        let p = unsafe { mi_malloc(8 + (i % 500) * 16) } as *mut u64;
                        unsafe { *p = (t * 10_000 + i) as u64 };
                        p as usize
                    })
                    .collect::<Vec<_>>()
            })
        })
        .flat_map(|h| h.join().unwrap())
        .collect();
    // the threads are gone; their blocks live on and are freed here
    for (k, p) in blocks.iter().enumerate() {
        let (t, i) = (k / 2000, k % 2000);
        unsafe {
            assert_eq!(*(*p as *const u64), (t * 10_000 + i) as u64);
            mi_free(*p as *mut c_void);
        }
    }
    unsafe { mi_collect(true) };
}

#[test]
fn a_heap_per_thread() {
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || unsafe {
                let heap = mi_heap_new();
                let blocks: Vec<*mut c_void> = (0..1000).map(|i| mi_heap_malloc(heap, 16 + i + t)).collect();
                for b in &blocks {
                    assert!(mi_heap_contains_block(heap, *b));
                }
                unsafe extern "C" fn count(
                    _: *const mi_heap_t,
                    _: *const mi_heap_area_t,
                    block: *mut c_void,
                    _: usize,
                    arg: *mut c_void,
                ) -> bool {
                    if !block.is_null() {
                        *(arg as *mut usize) += 1;
                    }
                    true
                }
                let mut n = 0usize;
                assert!(mi_heap_visit_blocks(heap, true, Some(count), &mut n as *mut usize as *mut c_void));
                mi_heap_destroy(heap);
                n
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 1000);
    }
}
