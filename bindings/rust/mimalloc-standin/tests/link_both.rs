//! One program with two copies of the mimalloc API: shardalloc's (the global allocator here, and
//! `shardalloc_sys::mi_*`, linked under the prefix `sa_rs_`) and the stand-in's, under the plain
//! names as libmimalloc-sys exports them. It must link (no duplicate `mi_malloc`, `mi_free`,
//! `mi_version`, `_mi_error_message`), and each call must reach its own copy. Built with
//! shardalloc-sys's `override` feature (plain names), the link fails: `make test-rust` checks
//! that too, so this test cannot pass by accident.

use mimalloc_standin as plain;
use shardalloc::ShardAlloc;
use shardalloc_sys as sa;

#[global_allocator]
static GLOBAL: ShardAlloc = ShardAlloc;

#[test]
fn both_copies_link_and_answer_separately() {
    assert_eq!(sa::SYMBOL_PREFIX, "sa_rs_");
    unsafe {
        // mi_version: each its own
        assert_eq!(sa::mi_version(), sa::MI_MALLOC_VERSION);
        assert_eq!(plain::mi_version(), 20109);

        // blocks: the stand-in's are libc blocks shardalloc does not own, and the other way round
        let calls = plain::standin_call_count();
        let p = plain::mi_malloc(100);
        let q = sa::mi_malloc(100);
        assert!(!p.is_null() && !q.is_null());
        assert_eq!(plain::standin_call_count(), calls + 1, "the plain name reached the stand-in");
        assert!(!sa::mi_is_in_heap_region(p), "the stand-in's block is not shardalloc's");
        assert!(sa::mi_is_in_heap_region(q), "shardalloc_sys::mi_malloc reached shardalloc");
        assert_eq!(plain::mi_usable_size(p), 100);
        assert!(sa::mi_usable_size(q) >= 100);
        plain::mi_free(p);
        sa::mi_free(q);
        assert_eq!(plain::standin_call_count(), calls + 2);

        // options: two separate sets
        let before = sa::mi_option_get(sa::mi_option_max_warnings);
        plain::mi_option_set(sa::mi_option_max_warnings, 12345);
        assert_eq!(plain::mi_option_get(sa::mi_option_max_warnings), 12345);
        assert_eq!(sa::mi_option_get(sa::mi_option_max_warnings), before);

        // an internal name both define
        plain::_mi_error_message(42, b"%s\0".as_ptr().cast(), b"x\0".as_ptr());
        assert_eq!(plain::standin_last_error_code(), 42);
    }
    // and Rust's allocations went to shardalloc throughout
    let b = Box::new([7u8; 1000]);
    assert!(shardalloc::in_heap_region(b.as_ptr()));
}
