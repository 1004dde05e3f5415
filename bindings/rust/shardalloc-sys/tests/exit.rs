//! `skip_collect_on_exit`: the exit handler's mi_collect (src/init.c, mi_process_done) runs
//! without the feature and not with it. A child process (this program, re-run) registers a
//! deferred-free callback, which mi_collect calls, and exits; the callback prints a line only
//! once the child has started to exit. No test harness: the child must own its main thread.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use shardalloc_sys::*;

extern "C" {
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn exit(code: c_int) -> !;
}

static EXITING: AtomicBool = AtomicBool::new(false);
const MARK: &[u8] = b"deferred-free callback ran at exit\n";

unsafe extern "C" fn deferred(_force: bool, _heartbeat: c_ulonglong, _arg: *mut c_void) {
    if EXITING.load(Ordering::SeqCst) {
        write(1, MARK.as_ptr() as *const c_void, MARK.len());
    }
}

fn child() -> ! {
    unsafe {
        mi_free(mi_malloc(100));
        mi_register_deferred_free(Some(deferred), std::ptr::null_mut());
        EXITING.store(true, Ordering::SeqCst);
        exit(0) // runs the library's exit handler; nothing allocates before it
    }
}

fn main() {
    if std::env::var_os("SHARDALLOC_SYS_EXIT_CHILD").is_some() {
        child();
    }
    println!("\nrunning 1 test");
    let out = Command::new(std::env::current_exe().unwrap())
        .env("SHARDALLOC_SYS_EXIT_CHILD", "1")
        .output()
        .expect("the child runs");
    assert!(out.status.success(), "child failed: {out:?}");
    let ran = String::from_utf8_lossy(&out.stdout).contains("deferred-free callback ran at exit");
    let skip = cfg!(feature = "skip_collect_on_exit");
    assert_eq!(ran, !skip, "mi_collect at exit: ran {ran}, skip_collect_on_exit {skip}");
    println!("test collect_at_exit_follows_skip_collect_on_exit ... ok");
    println!("\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
}
