//! The workload of the `hashmap` example on the system allocator (glibc's malloc, unless the
//! `override` feature made that shardalloc too), for comparison.

use std::alloc::System;

#[global_allocator]
static GLOBAL: System = System;

mod workload;

fn main() {
    workload::run(if shardalloc::build_info().overrides_malloc { "system (=shardalloc)" } else { "system" });
}
