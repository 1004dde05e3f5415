//! The helpers, options and statistics of the safe crate.

use shardalloc::options::{self, Opt, SetError};
use shardalloc::{build_info, good_size, stats, version, ShardAlloc};

#[global_allocator]
static GLOBAL: ShardAlloc = ShardAlloc;

#[test]
fn helpers() {
    assert_eq!(version(), 100);
    for n in [1usize, 17, 1000, 100_000, 5 << 20] {
        assert!(good_size(n) >= n);
    }
    let info = build_info();
    assert_eq!(info.secure_level, if cfg!(feature = "secure") { 4 } else { 0 });
    let debug = cfg!(feature = "debug") || (cfg!(feature = "debug_in_debug") && cfg!(debug_assertions));
    assert_eq!(info.debug_level, if debug { 2 } else { 0 });
    assert_eq!(info.overrides_malloc, cfg!(feature = "override"));
    assert_eq!(info.local_dynamic_tls, cfg!(feature = "local_dynamic_tls"));
    shardalloc::collect(false);
    shardalloc::collect(true);
}

#[test]
fn options_round_trip() {
    // the enum is the C enum
    for (i, opt) in Opt::ALL.iter().enumerate() {
        assert_eq!(opt.raw() as usize, i);
    }
    assert_eq!(Opt::AllowThp.name(), "allow_thp");
    assert_eq!(Opt::PurgeBackground as i32, 38);
    let old = options::get(Opt::MaxWarnings);
    options::set(Opt::MaxWarnings, 3).unwrap();
    assert_eq!(options::get(Opt::MaxWarnings), 3);
    assert_eq!(options::get_clamp(Opt::MaxWarnings, 5, 10), 5);
    options::set(Opt::MaxWarnings, old).unwrap();
    for value in [true, false, true, false] {
        options::set_enabled(Opt::GuardedPrecise, value).unwrap();
        assert_eq!(options::is_enabled(Opt::GuardedPrecise), value);
    }
    options::enable(Opt::GuardedPrecise).unwrap();
    assert!(options::is_enabled(Opt::GuardedPrecise));
    options::disable(Opt::GuardedPrecise);
    options::set_enabled_default(Opt::GuardedPrecise, true).unwrap();
    assert!(!options::is_enabled(Opt::GuardedPrecise), "an explicit setting wins over a default");
    options::set(Opt::GuardedMin, 7).unwrap();
    options::set_default(Opt::GuardedMin, 8).unwrap();
    assert_eq!(options::get(Opt::GuardedMin), 7);
    assert_eq!(options::get_size(Opt::ArenaReserve) as i64, options::get(Opt::ArenaReserve) * 1024);
}

#[test]
fn safe_setters_refuse_what_is_unsafe() {
    // only destroy_on_exit is unsafe to turn on while threads run
    let unsafe_ones: Vec<Opt> = Opt::ALL.iter().copied().filter(|o| o.is_unsafe_to_enable()).collect();
    assert_eq!(unsafe_ones, [Opt::DestroyOnExit]);
    let was = options::get(Opt::DestroyOnExit);
    assert_eq!(was, 0, "MIMALLOC_DESTROY_ON_EXIT must not be set for this test");
    let refused = Err(SetError::Unsafe(Opt::DestroyOnExit));
    assert_eq!(options::set(Opt::DestroyOnExit, 1), refused);
    assert_eq!(options::set(Opt::DestroyOnExit, -1), refused);
    assert_eq!(options::enable(Opt::DestroyOnExit), refused);
    assert_eq!(options::set_enabled(Opt::DestroyOnExit, true), refused);
    assert_eq!(options::set_default(Opt::DestroyOnExit, 1), refused);
    assert_eq!(options::set_enabled_default(Opt::DestroyOnExit, true), refused);
    assert_eq!(options::get(Opt::DestroyOnExit), 0, "nothing was set");
    // turning it off is always allowed
    assert_eq!(options::set(Opt::DestroyOnExit, 0), Ok(()));
    options::disable(Opt::DestroyOnExit);
    // the unsafe setter does it (and is undone before this process exits)
    unsafe { options::set_unchecked(Opt::DestroyOnExit, 1) };
    assert!(options::is_enabled(Opt::DestroyOnExit));
    options::disable(Opt::DestroyOnExit);
    assert!(!options::is_enabled(Opt::DestroyOnExit));
    assert!(SetError::Unsafe(Opt::DestroyOnExit).to_string().contains("destroy_on_exit"));

    // values outside i32 are refused by every safe setter, for every option
    let before = options::get(Opt::PurgeDelay);
    for v in [i64::from(i32::MAX) + 1, i64::from(i32::MIN) - 1, i64::MAX, i64::MIN] {
        assert_eq!(options::set(Opt::PurgeDelay, v), Err(SetError::OutOfRange(Opt::PurgeDelay, v)));
        assert_eq!(options::set_default(Opt::ArenaReserve, v), Err(SetError::OutOfRange(Opt::ArenaReserve, v)));
    }
    assert_eq!(options::get(Opt::PurgeDelay), before);
    // the ends of the range are accepted
    let old = options::get(Opt::GuardedSampleSeed);
    for v in [i64::from(i32::MAX), i64::from(i32::MIN), old] {
        options::set(Opt::GuardedSampleSeed, v).unwrap();
        assert_eq!(options::get(Opt::GuardedSampleSeed), v);
    }
}

#[test]
fn options_set_while_other_threads_allocate() {
    // safe code on several threads: the C side's atomic option storage makes this race-free
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    use std::sync::Arc;
    let old = options::get(Opt::PurgeDelay);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, reads) = (stop.clone(), reads.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let v = options::get(Opt::PurgeDelay);
                    assert!(v == 5 || v == 500 || v == old, "purge_delay read {v}");
                    let n = reads.fetch_add(1, Relaxed) as usize;
                    let b: Vec<u8> = vec![1; 1 + n % 70_000]; // allocation reads it too
                    assert_eq!(b[b.len() - 1], 1);
                }
            })
        })
        .collect();
    let mut sets = 0u64;
    while sets < 20_000 || reads.load(Relaxed) < 2_000 {
        options::set(Opt::PurgeDelay, if sets % 2 == 0 { 5 } else { 500 }).unwrap();
        sets += 1;
    }
    stop.store(true, Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    options::set(Opt::PurgeDelay, old).unwrap();
    assert_eq!(options::get(Opt::PurgeDelay), old);
}

#[test]
fn statistics() {
    let v = vec![7u8; 8 << 20];
    let s = stats::get();
    assert!(s.reserved.current >= 8 << 20);
    let json = stats::json();
    assert!(json.contains("\"committed\"") && json.contains("\"version\""));
    let info = stats::process_info();
    assert!(info.current_rss >= 8 << 20 && info.peak_commit >= info.current_commit);
    stats::reset();
    drop(v);
}
