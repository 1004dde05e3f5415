//! The helpers, options and statistics of the safe crate.

use shardalloc::options::{self, Opt};
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
    assert_eq!(info.debug_level, if cfg!(feature = "debug") { 2 } else { 0 });
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
    options::set(Opt::MaxWarnings, 3);
    assert_eq!(options::get(Opt::MaxWarnings), 3);
    assert_eq!(options::get_clamp(Opt::MaxWarnings, 5, 10), 5);
    options::set(Opt::MaxWarnings, old);
    for value in [true, false, true, false] {
        options::set_enabled(Opt::GuardedPrecise, value);
        assert_eq!(options::is_enabled(Opt::GuardedPrecise), value);
    }
    options::enable(Opt::GuardedPrecise);
    assert!(options::is_enabled(Opt::GuardedPrecise));
    options::disable(Opt::GuardedPrecise);
    options::set_enabled_default(Opt::GuardedPrecise, true);
    assert!(!options::is_enabled(Opt::GuardedPrecise), "an explicit setting wins over a default");
    options::set(Opt::GuardedMin, 7);
    options::set_default(Opt::GuardedMin, 8);
    assert_eq!(options::get(Opt::GuardedMin), 7);
    assert_eq!(options::get_size(Opt::ArenaReserve) as i64, options::get(Opt::ArenaReserve) * 1024);
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
