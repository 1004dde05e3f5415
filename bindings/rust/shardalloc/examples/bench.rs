//! ShardAlloc against the system allocator (glibc's malloc) as Rust's global allocator, on the
//! same multi-threaded workload: wall time, CPU time (user + system: steadier than wall time on
//! a shared machine), peak RSS and minor page faults of each.
//!
//! ```sh
//! cargo run --release --example bench                  # 3 rounds, one thread per CPU
//! cargo run --release --example bench -- --rounds 5 --threads 4 --scale 2
//! cargo run --release --example bench -- --no-grow    # without the 100 MiB vectors
//! ```
//!
//! Each measurement is a child process (this program again) whose global allocator is chosen by
//! the parent (SHARDALLOC_BENCH_ALLOCATOR=shardalloc|system, read before the first allocation):
//! the same binary, the same code, one allocator per process, so peak RSS and page faults are
//! the allocator's. Rounds interleave the two (the order alternates), so drift on a shared
//! machine hits both alike; the parent prints every run, then the medians and the ratios
//! system / shardalloc (above 1: shardalloc is faster or smaller). Every run must give the same
//! checksum, and each child checks its blocks came from the allocator it was given.
//!
//! The workload, on every thread (`--scale` multiplies the counts):
//! - a `HashMap<u64, String>` churned with inserts, look-ups and removes (strings of 0..200
//!   bytes), handed every 100,000 operations to the next thread, which frees it;
//! - batches of boxes (16 B .. 4 KiB) sent to the next thread and freed there (remote frees);
//! - over-aligned layouts (64 B .. 64 KiB alignment), kept for a while, freed out of order;
//! - a `Vec<u64>` grown by `push` to 100 MiB (reallocation of large blocks), then dropped.
//!
//! Under the `override` feature the system allocator is shardalloc too, and the example says so.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::ffi::{c_char, CStr};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use shardalloc::ShardAlloc;

const ENV: &str = "SHARDALLOC_BENCH_ALLOCATOR";
const ENV_C: &[u8] = b"SHARDALLOC_BENCH_ALLOCATOR\0";

/// The global allocator: ShardAlloc or System, chosen once, at the first allocation (before
/// `main`: std allocates first), from the environment; never changed afterwards, so every block
/// is freed by the allocator that made it.
struct Chosen;

const UNSET: u8 = 0;
const SHARD: u8 = 1;
const SYSTEM: u8 = 2;
static CHOICE: AtomicU8 = AtomicU8::new(UNSET);

extern "C" {
    fn getenv(name: *const c_char) -> *const c_char; // does not allocate
}

#[inline]
fn choice() -> u8 {
    let c = CHOICE.load(Ordering::Relaxed);
    if c != UNSET {
        return c;
    }
    let v = unsafe { getenv(ENV_C.as_ptr() as *const c_char) };
    let system = !v.is_null() && unsafe { CStr::from_ptr(v) }.to_bytes() == b"system";
    let c = if system { SYSTEM } else { SHARD };
    CHOICE.store(c, Ordering::Relaxed);
    c
}

unsafe impl GlobalAlloc for Chosen {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if choice() == SYSTEM {
            System.alloc(l)
        } else {
            ShardAlloc.alloc(l)
        }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if choice() == SYSTEM {
            System.alloc_zeroed(l)
        } else {
            ShardAlloc.alloc_zeroed(l)
        }
    }
    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if choice() == SYSTEM {
            System.dealloc(p, l)
        } else {
            ShardAlloc.dealloc(p, l)
        }
    }
    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if choice() == SYSTEM {
            System.realloc(p, l, n)
        } else {
            ShardAlloc.realloc(p, l, n)
        }
    }
}

#[global_allocator]
static GLOBAL: Chosen = Chosen;

// ------------------------------------------------------------------------------------------
// The workload

#[derive(Clone, Copy)]
struct Config {
    threads: usize,
    scale: f64,
    grow: bool,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

type Batch = Vec<Box<[u8]>>;

enum Parcel {
    Map(HashMap<u64, String>),
    Boxes(Batch),
}

/// Over-aligned blocks, kept in a ring of 64 and freed when their slot is reused.
struct Aligned {
    slots: Vec<Option<(*mut u8, Layout)>>,
}

impl Aligned {
    fn churn(&mut self, rng: &mut Rng) -> u64 {
        let r = rng.next();
        let align = 64usize << (r % 11); // 64 B .. 64 KiB
        let size = 1 + (r >> 8) as usize % (3 * align).min(200_000);
        let layout = Layout::from_size_align(size, align).unwrap();
        let slot = (r >> 40) as usize % self.slots.len();
        unsafe {
            if let Some((p, l)) = self.slots[slot].take() {
                std::alloc::dealloc(p, l);
            }
            let p = std::alloc::alloc(layout);
            assert!(!p.is_null() && p as usize % align == 0, "aligned allocation");
            *p = r as u8;
            *p.add(size - 1) = (r >> 8) as u8;
            self.slots[slot] = Some((p, layout));
        }
        size as u64
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        for (p, l) in self.slots.drain(..).flatten() {
            unsafe { std::alloc::dealloc(p, l) };
        }
    }
}

/// One thread's share; returns its checksum (the same under any allocator).
fn worker(
    t: usize,
    cfg: Config,
    to_next: mpsc::Sender<Parcel>,
    from_prev: mpsc::Receiver<Parcel>,
) -> u64 {
    let ops = (600_000.0 * cfg.scale) as u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
    let mut map: HashMap<u64, String> = HashMap::new();
    let mut aligned = Aligned { slots: vec![None; 64] };
    let mut batch: Batch = Vec::new();
    let mut sum = 0u64;
    for op in 0..ops {
        let x = rng.next();
        let key = x % 50_000;
        match x % 10 {
            0..=4 => {
                map.insert(key, "k".repeat((x >> 32) as usize % 200));
            }
            5..=7 => sum += map.get(&key).map_or(0, |v| v.len() as u64),
            _ => sum += map.remove(&key).map_or(0, |v| v.len() as u64),
        }
        if op % 4 == 0 {
            let size = 16 + (x >> 20) as usize % 4080;
            batch.push(vec![(x >> 24) as u8; size].into_boxed_slice());
        }
        if op % 32 == 0 {
            sum += aligned.churn(&mut rng);
        }
        if batch.len() == 256 {
            // the next thread frees these; free the boxes the previous thread sent
            sum += batch.iter().map(|b| b[0] as u64 + b.len() as u64).sum::<u64>();
            to_next.send(Parcel::Boxes(std::mem::take(&mut batch))).unwrap();
            sum += receive(&from_prev, &mut map);
        }
        if op % 100_000 == 99_999 {
            sum += map.len() as u64;
            to_next.send(Parcel::Map(std::mem::take(&mut map))).unwrap();
            sum += receive(&from_prev, &mut map);
        }
        if op == ops / 2 && cfg.grow {
            sum += grow_vec(&mut rng);
        }
    }
    sum + map.len() as u64
}

/// Takes the previous thread's next parcel: frees its boxes, or adopts its map (this thread's
/// own map goes to the next thread first, so each thread always holds one).
fn receive(from_prev: &mpsc::Receiver<Parcel>, map: &mut HashMap<u64, String>) -> u64 {
    match from_prev.recv().unwrap() {
        Parcel::Boxes(b) => {
            let s = b.iter().map(|b| b[b.len() - 1] as u64).sum::<u64>();
            drop(b); // remote frees
            s
        }
        Parcel::Map(m) => {
            let s = m.len() as u64;
            *map = m; // the map this thread had was empty (taken just before)
            s
        }
    }
}

/// A vector grown by push to 100 MiB, then dropped.
fn grow_vec(rng: &mut Rng) -> u64 {
    let n = (100usize << 20) / 8;
    let mut v: Vec<u64> = Vec::new();
    let x = rng.next();
    for i in 0..n as u64 {
        v.push(i ^ x);
    }
    let s = v[n / 3] ^ v[n - 1] ^ x;
    drop(v);
    s % 1000
}

fn run_workload(cfg: Config) -> u64 {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..cfg.threads).map(|_| mpsc::channel()).unzip();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let tx = senders[(t + 1) % cfg.threads].clone();
            thread::spawn(move || worker(t, cfg, tx, rx))
        })
        .collect();
    drop(senders);
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

// ------------------------------------------------------------------------------------------
// Measuring

/// A number from a `Key:   N kB` line of /proc/self/status.
fn status_kib(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Fields of /proc/self/stat, numbered as proc(5) numbers them (from 1, the pid).
fn proc_stat(fields: [usize; 3]) -> [u64; 3] {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // the name (field 2) may hold spaces: count from the ')' that closes it (field 3 next)
    let rest: Vec<&str> = text.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    fields.map(|f| rest.get(f - 3).and_then(|v| v.parse().ok()).unwrap_or(0))
}

extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// Minor page faults, and user + system CPU seconds, of this process so far.
fn faults_and_cpu() -> (u64, f64) {
    let [minflt, utime, stime] = proc_stat([10, 14, 15]);
    let ticks = unsafe { sysconf(2) }; // _SC_CLK_TCK
    (minflt, (utime + stime) as f64 / ticks.max(1) as f64)
}

/// The child: runs the workload once under the allocator it was given and prints one line.
fn child(cfg: Config) {
    let name = if choice() == SYSTEM { "system" } else { "shardalloc" };
    let probe = Box::new(0u64);
    let ours = shardalloc::in_heap_region(&*probe as *const u64 as *const u8);
    let expect_ours = choice() == SHARD || shardalloc::build_info().overrides_malloc;
    assert_eq!(ours, expect_ours, "the {name} run's blocks come from the wrong allocator");
    drop(probe);
    let (faults_before, cpu_before) = faults_and_cpu();
    let start = Instant::now();
    let checksum = run_workload(cfg);
    let wall = start.elapsed().as_secs_f64();
    let (faults, cpu) = faults_and_cpu();
    println!(
        "result {name} wall_s={wall:.4} cpu_s={:.2} peak_rss_kib={} minor_faults={} checksum={checksum}",
        cpu - cpu_before,
        status_kib("VmHWM:"),
        faults - faults_before
    );
}

struct Run {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
    faults: u64,
    checksum: u64,
}

fn parse(line: &str) -> Option<Run> {
    let field = |k: &str| line.split_whitespace().find_map(|w| w.strip_prefix(k));
    Some(Run {
        wall: field("wall_s=")?.parse().ok()?,
        cpu: field("cpu_s=")?.parse().ok()?,
        rss_kib: field("peak_rss_kib=")?.parse().ok()?,
        faults: field("minor_faults=")?.parse().ok()?,
        checksum: field("checksum=")?.parse().ok()?,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn usage() -> ! {
    eprintln!("usage: bench [--rounds N] [--threads N] [--scale X] [--no-grow]");
    std::process::exit(2);
}

fn main() {
    let threads = thread::available_parallelism().map_or(2, |n| n.get());
    let mut cfg = Config { threads, scale: 1.0, grow: true };
    let mut rounds = 3usize;
    let mut is_child = false;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).and_then(|v| v.parse::<f64>().ok());
        match (argv[i].as_str(), value) {
            ("--child", _) => {
                is_child = true;
                i += 1;
                continue;
            }
            ("--no-grow", _) => {
                cfg.grow = false;
                i += 1;
                continue;
            }
            ("--rounds", Some(v)) if v >= 1.0 => rounds = v as usize,
            ("--threads", Some(v)) if v >= 1.0 => cfg.threads = v as usize,
            ("--scale", Some(v)) if v > 0.0 => cfg.scale = v,
            _ => usage(),
        }
        i += 2;
    }
    if is_child {
        child(cfg);
        return;
    }

    let exe = std::env::current_exe().expect("the path of this program");
    let names = ["shardalloc", "system"];
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    let system_label = if shardalloc::build_info().overrides_malloc {
        "system (=shardalloc: override)"
    } else {
        "system"
    };
    println!(
        "bench: {} threads, scale {}, {rounds} rounds, interleaved{}; system = {system_label}",
        cfg.threads,
        cfg.scale,
        if cfg.grow { "" } else { ", no 100 MiB vectors" }
    );
    println!(
        "{:>5} {:<10} {:>9} {:>9} {:>14} {:>14}",
        "round", "allocator", "wall s", "cpu s", "peak RSS MiB", "minor faults"
    );
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            let mut cmd = Command::new(&exe);
            cmd.args(["--child", "--threads", &cfg.threads.to_string()])
                .args(["--scale", &cfg.scale.to_string()]);
            if !cfg.grow {
                cmd.arg("--no-grow");
            }
            let out = cmd
                .env(ENV, names[k])
                .output()
                .expect("the child runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let run = text.lines().find_map(|l| l.strip_prefix("result ")).and_then(parse);
            let Some(run) = run.filter(|_| out.status.success()) else {
                eprintln!(
                    "bench: the {} run failed: {}{}",
                    names[k],
                    text,
                    String::from_utf8_lossy(&out.stderr)
                );
                std::process::exit(1);
            };
            println!(
                "{:>5} {:<10} {:>9.3} {:>9.2} {:>14.1} {:>14}",
                round + 1,
                names[k],
                run.wall,
                run.cpu,
                run.rss_kib as f64 / 1024.0,
                run.faults
            );
            runs[k].push(run);
        }
    }
    let checksum = runs[0][0].checksum;
    if runs.iter().flatten().any(|r| r.checksum != checksum) {
        eprintln!("bench: FAILED: the runs computed different checksums");
        std::process::exit(1);
    }
    let med = |k: usize, f: &dyn Fn(&Run) -> f64| median(runs[k].iter().map(f).collect());
    let wall = [med(0, &|r| r.wall), med(1, &|r| r.wall)];
    let cpu = [med(0, &|r| r.cpu), med(1, &|r| r.cpu)];
    let rss = [med(0, &|r| r.rss_kib as f64), med(1, &|r| r.rss_kib as f64)];
    let faults = [med(0, &|r| r.faults as f64), med(1, &|r| r.faults as f64)];
    println!("medians of {rounds} runs (checksum {checksum} in every run):");
    println!("{:<16} {:>12} {:>12} {:>20}", "", "shardalloc", "system", "system / shardalloc");
    println!("{:<16} {:>12.3} {:>12.3} {:>20.2}", "wall s", wall[0], wall[1], wall[1] / wall[0]);
    println!("{:<16} {:>12.2} {:>12.2} {:>20.2}", "cpu s", cpu[0], cpu[1], cpu[1] / cpu[0]);
    println!(
        "{:<16} {:>12.1} {:>12.1} {:>20.2}",
        "peak RSS MiB",
        rss[0] / 1024.0,
        rss[1] / 1024.0,
        rss[1] / rss[0]
    );
    println!(
        "{:<16} {:>12.0} {:>12.0} {:>20.2}",
        "minor faults",
        faults[0],
        faults[1],
        faults[1] / faults[0]
    );
}
