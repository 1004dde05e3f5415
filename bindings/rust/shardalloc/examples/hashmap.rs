//! A multi-threaded HashMap workload with ShardAlloc as the global allocator; compare with
//! `cargo run --release --example hashmap_system` (the same workload on the system allocator).
//!
//! ```sh
//! cargo run --release --example hashmap -- --threads 2 --ops 2e6
//! ```

use shardalloc::ShardAlloc;

#[global_allocator]
static GLOBAL: ShardAlloc = ShardAlloc;

mod workload;

fn main() {
    let probe = Box::new(0u8);
    assert!(shardalloc::in_heap_region(&*probe), "the global allocator is shardalloc");
    workload::run("shardalloc");
}
