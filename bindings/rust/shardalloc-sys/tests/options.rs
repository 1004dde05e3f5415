//! Options through the raw bindings: set/get round trips, the `bool` setters, the `_default`
//! setters (which yield to an explicit setting), clamping, sizes in KiB, and printing. One test
//! function: options are process-wide, and the test harness runs tests in parallel.

use std::ffi::CStr;
use std::sync::Mutex;

use shardalloc_sys::*;

static OUTPUT: Mutex<String> = Mutex::new(String::new());

unsafe extern "C" fn capture(msg: *const c_char, _arg: *mut c_void) {
    let text = CStr::from_ptr(msg).to_string_lossy();
    OUTPUT.lock().unwrap().push_str(&text);
}

fn env_set(option: &str) -> bool {
    std::env::vars().any(|(k, _)| k.eq_ignore_ascii_case(&format!("MIMALLOC_{option}")))
}

#[test]
fn options_round_trip() {
    unsafe {
        // plain values
        for (opt, v) in [(mi_option_max_errors, 7), (mi_option_max_warnings, 0), (mi_option_os_tag, 101)] {
            let old = mi_option_get(opt);
            mi_option_set(opt, v);
            assert_eq!(mi_option_get(opt), v);
            mi_option_set(opt, old);
            assert_eq!(mi_option_get(opt), old);
        }
        // the bool setters: the second argument is a C bool, so both values must arrive
        let opt = mi_option_guarded_precise;
        mi_option_set_enabled(opt, true);
        assert!(mi_option_is_enabled(opt));
        assert_eq!(mi_option_get(opt), 1);
        mi_option_set_enabled(opt, false);
        assert!(!mi_option_is_enabled(opt));
        mi_option_enable(opt);
        assert!(mi_option_is_enabled(opt));
        mi_option_disable(opt);
        assert!(!mi_option_is_enabled(opt));

        // _default setters apply only while nothing set the option
        if !env_set("GUARDED_SAMPLE_SEED") {
            mi_option_set_default(mi_option_guarded_sample_seed, 42);
            assert_eq!(mi_option_get(mi_option_guarded_sample_seed), 42);
        }
        mi_option_set(mi_option_guarded_sample_seed, 5);
        mi_option_set_default(mi_option_guarded_sample_seed, 43);
        assert_eq!(mi_option_get(mi_option_guarded_sample_seed), 5, "an explicit set wins");
        if !env_set("VISIT_ABANDONED") {
            mi_option_set_enabled_default(mi_option_visit_abandoned, true);
            assert!(mi_option_is_enabled(mi_option_visit_abandoned));
        }
        mi_option_set_enabled(mi_option_visit_abandoned, false);
        mi_option_set_enabled_default(mi_option_visit_abandoned, true);
        assert!(!mi_option_is_enabled(mi_option_visit_abandoned));

        // clamping and sizes
        mi_option_set(mi_option_guarded_min, 500);
        assert_eq!(mi_option_get_clamp(mi_option_guarded_min, 0, 100), 100);
        assert_eq!(mi_option_get_clamp(mi_option_guarded_min, 600, 700), 600);
        assert_eq!(mi_option_get_clamp(mi_option_guarded_min, 0, 1000), 500);
        assert_eq!(
            mi_option_get_size(mi_option_arena_reserve),
            mi_option_get(mi_option_arena_reserve) as usize * 1024,
            "arena_reserve is kept in KiB"
        );
        // defaults (unless the environment changed them)
        if !env_set("PURGE_DELAY") && !env_set("RESET_DELAY") {
            assert_eq!(mi_option_get(mi_option_purge_delay), 10);
        }
        // legacy names are the same options
        assert_eq!(mi_option_get(mi_option_reset_delay), mi_option_get(mi_option_purge_delay));

        // printing goes through the output function
        mi_register_output(Some(capture), std::ptr::null_mut());
        mi_options_print();
        mi_register_output(None, std::ptr::null_mut());
        let text = OUTPUT.lock().unwrap().clone();
        for name in ["purge_delay", "allow_thp", "purge_background", "guarded_min"] {
            assert!(text.contains(name), "mi_options_print shows {name}:\n{text}");
        }
    }
}
