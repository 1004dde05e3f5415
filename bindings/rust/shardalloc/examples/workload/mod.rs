//! The HashMap workload shared by the `hashmap` (ShardAlloc) and `hashmap_system` (the system
//! allocator) examples: each thread churns a HashMap<u64, String> (insert, look up, remove,
//! strings of 0..200 bytes), and every so often hands its map to the next thread, which frees
//! it (frees from another thread than the one that allocated). Prints the time and a checksum
//! that must be the same whatever the allocator.
//!
//! Arguments: `--threads N` (default: the number of CPUs), `--ops N` per thread (default 2e6).

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

struct Args {
    threads: usize,
    ops: u64,
}

fn args() -> Args {
    let mut a = Args {
        threads: thread::available_parallelism().map_or(2, |n| n.get()),
        ops: 2_000_000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).and_then(|v| v.parse::<f64>().ok());
        match (argv[i].as_str(), value) {
            ("--threads", Some(v)) => a.threads = v as usize,
            ("--ops", Some(v)) => a.ops = v as u64,
            _ => {
                eprintln!("usage: [--threads N] [--ops N]");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    a
}

/// One thread's share; returns its checksum.
fn worker(t: usize, ops: u64, to_next: mpsc::Sender<HashMap<u64, String>>,
          from_prev: mpsc::Receiver<HashMap<u64, String>>) -> u64 {
    let mut map: HashMap<u64, String> = HashMap::new();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ (t as u64 + 1);
    let mut sum = 0u64;
    for op in 0..ops {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = x % 50_000;
        match x % 10 {
            0..=4 => {
                let len = (x >> 32) as usize % 200;
                map.insert(key, "k".repeat(len));
            }
            5..=7 => sum += map.get(&key).map_or(0, |v| v.len() as u64),
            _ => sum += map.remove(&key).map_or(0, |v| v.len() as u64),
        }
        if op % 200_000 == 199_999 {
            // the next thread frees this map; carry on with the one the previous thread sent
            sum += map.len() as u64;
            to_next.send(std::mem::take(&mut map)).unwrap();
            map = from_prev.recv().unwrap();
            sum += map.len() as u64;
        }
    }
    sum + map.len() as u64
}

pub fn run(allocator: &str) {
    let a = args();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..a.threads).map(|_| mpsc::channel()).unzip();
    let start = Instant::now();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let tx = senders[(t + 1) % a.threads].clone();
            let ops = a.ops;
            thread::spawn(move || worker(t, ops, tx, rx))
        })
        .collect();
    drop(senders);
    let checksum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "hashmap: allocator={allocator} threads={} ops/thread={} time={secs:.3}s checksum={checksum}",
        a.threads, a.ops
    );
}
