//! ShardAlloc as the global allocator of this test program: Box, Vec (64 MiB zeroed), String,
//! HashMap churn across threads, layouts aligned to 4096 and beyond, and realloc. Each test also
//! checks that the memory really came from shardalloc.

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};
use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

use shardalloc::{in_heap_region, ShardAlloc};

#[global_allocator]
static GLOBAL: ShardAlloc = ShardAlloc;

fn ours<T: ?Sized>(p: *const T) -> bool {
    in_heap_region(p as *const u8)
}

#[test]
fn boxes() {
    let b = Box::new(42u64);
    assert!(ours(&*b));
    assert_eq!(*b, 42);
    let big = Box::new([3u8; 100_000]);
    assert!(ours(&*big) && big.iter().all(|&x| x == 3));
    let dynamic: Box<dyn Fn(u32) -> u32> = Box::new(|x| x + 1);
    assert_eq!(dynamic(1), 2);
    let s: Box<str> = "boxed str".into();
    assert!(ours(s.as_ptr()));
}

#[test]
fn vec_of_64_mib_zeroed() {
    let v = vec![0u8; 64 << 20]; // alloc_zeroed
    assert!(ours(v.as_ptr()));
    assert!(v.chunks(1 << 20).all(|c| c.iter().all(|&b| b == 0)));
    assert!(unsafe { shardalloc::usable_size(v.as_ptr()) } >= 64 << 20);
    let mut w: Vec<u64> = Vec::new();
    for i in 0..1_000_000u64 {
        w.push(i); // grows by realloc
    }
    assert!(ours(w.as_ptr()));
    assert_eq!(w.iter().sum::<u64>(), 999_999 * 1_000_000 / 2);
    w.truncate(10);
    w.shrink_to_fit();
    assert_eq!(w, (0..10).collect::<Vec<_>>());
}

#[test]
fn strings() {
    let mut s = String::new();
    for i in 0..100_000 {
        s.push_str(&i.to_string());
    }
    assert!(ours(s.as_ptr()));
    assert_eq!(s.len(), 488_890);
    let parts: Vec<String> = s.as_bytes().chunks(7).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    assert_eq!(parts.concat(), s);
}

#[test]
fn hashmap_churn_across_threads() {
    const THREADS: u64 = 4;
    let (tx, rx) = mpsc::channel::<HashMap<u64, String>>();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut map: HashMap<u64, String> = HashMap::new();
                let mut x = 0x2545_f491_4f6c_dd1d_u64 ^ t;
                for round in 0..200_000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = x % 20_000;
                    if round % 3 == 0 {
                        map.remove(&key);
                    } else {
                        map.insert(key, format!("{t}:{key}:{}", "x".repeat((key % 64) as usize)));
                    }
                    if round % 50_000 == 49_999 {
                        // hand the map to another thread, which frees it: remote frees
                        tx.send(std::mem::take(&mut map)).unwrap();
                    }
                }
                for (k, v) in &map {
                    assert!(v.starts_with(&format!("{t}:{k}:")));
                }
                map.len()
            })
        })
        .collect();
    drop(tx);
    let mut received = 0;
    for map in rx {
        for (k, v) in &map {
            assert!(v.split(':').nth(1).unwrap() == k.to_string());
        }
        received += 1;
        drop(map);
    }
    let left: usize = workers.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(received, THREADS as usize * 4);
    assert_eq!(left, 0, "every map was handed over at its last round");
}

#[test]
fn aligned_layouts() {
    for align in [32usize, 64, 4096, 1 << 16, 1 << 21] {
        for size in [1usize, 100, 4096, 1 << 20] {
            let layout = Layout::from_size_align(size, align).unwrap();
            unsafe {
                let p = alloc(layout);
                assert!(!p.is_null() && p as usize % align == 0, "alloc({size}, {align})");
                assert!(ours(p));
                p.write_bytes(0xab, size);
                let q = realloc(p, layout, size * 3);
                assert_eq!(q as usize % align, 0, "realloc keeps {align}-byte alignment");
                assert!(std::slice::from_raw_parts(q, size).iter().all(|&b| b == 0xab));
                dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                let z = alloc_zeroed(layout);
                assert!(z as usize % align == 0);
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                dealloc(z, layout);
            }
        }
    }
    #[repr(align(4096))]
    struct Page([u8; 4096]);
    let pages: Vec<Box<Page>> = (0..64).map(|i| Box::new(Page([i as u8; 4096]))).collect();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(&**p as *const Page as usize % 4096, 0);
        assert_eq!(p.0[4095], i as u8);
    }
}

#[test]
fn realloc_keeps_contents_small_alignment() {
    let layout = Layout::from_size_align(8, 8).unwrap();
    unsafe {
        let mut p = alloc(layout);
        *p = 7;
        let mut size = 8;
        while size < 32 << 20 {
            let next = size * 2;
            p = realloc(p, Layout::from_size_align(size, 8).unwrap(), next);
            assert_eq!(*p, 7);
            *p.add(next - 1) = 9;
            size = next;
        }
        assert_eq!(*p.add(size - 1), 9);
        dealloc(p, Layout::from_size_align(size, 8).unwrap());
    }
}
