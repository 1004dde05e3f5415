//! The symbols of the C library the build script made (OUT_DIR/libshardalloc.a), read with `nm`:
//! without the `override` feature every global symbol it defines starts with SYMBOL_PREFIX
//! (`sa_rs_`), so nothing can clash with another copy of the mimalloc API in the program, and
//! every function of the headers is there under the prefix; with `override`, the plain names
//! (and malloc) are defined and nothing carries the prefix. Then a C program compiled with the
//! prefix header (what DEP_SHARDALLOC_PREFIX_HEADER gives a dependent's build script) calls the
//! library by its mimalloc names and links against the archive.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use shardalloc_sys::*;

#[allow(clippy::type_complexity)]
mod c_api {
    include!(concat!(env!("OUT_DIR"), "/c_api.rs"));
}

const ARCHIVE: &str = concat!(env!("OUT_DIR"), "/libshardalloc.a");

/// The global symbols the archive defines.
fn defined_globals() -> BTreeSet<String> {
    let out = Command::new("nm")
        .args(["-g", "--defined-only", ARCHIVE])
        .output()
        .expect("nm (binutils) runs: it is needed to check the archive's symbols");
    assert!(out.status.success(), "nm failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3).then(|| f[2].to_string())
        })
        .collect()
}

#[test]
fn every_global_symbol_carries_the_prefix() {
    let globals = defined_globals();
    assert!(globals.len() >= c_api::FUNCTIONS.len(), "only {} global symbols", globals.len());
    if cfg!(feature = "override") {
        assert_eq!(SYMBOL_PREFIX, "");
        for name in ["mi_malloc", "mi_free", "malloc", "free"] {
            assert!(globals.contains(name), "{name} is defined with override");
        }
        assert!(!globals.iter().any(|s| s.starts_with("sa_rs_")), "no prefix with override");
        return;
    }
    assert_eq!(SYMBOL_PREFIX, "sa_rs_");
    let plain: Vec<&String> = globals.iter().filter(|s| !s.starts_with(SYMBOL_PREFIX)).collect();
    assert!(plain.is_empty(), "global symbols without the prefix {SYMBOL_PREFIX}: {plain:?}");
    for f in c_api::FUNCTIONS {
        let name = format!("{SYMBOL_PREFIX}{}", f.name);
        assert!(globals.contains(&name), "{name} ({}) is not defined", f.header);
    }
    println!("{} global symbols, all {SYMBOL_PREFIX}*", globals.len());
}

#[test]
fn c_code_reaches_the_library_through_the_prefix_header() {
    if cfg!(feature = "override") {
        return; // no prefix, no header: the plain names are the library's
    }
    let header = concat!(env!("OUT_DIR"), "/include/shardalloc-sys-prefix.h");
    assert!(Path::new(header).is_file(), "{header} is missing");
    let dir = std::env::temp_dir().join(format!("shardalloc-sys-prefix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("user.c");
    let exe = dir.join("user");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <mimalloc.h>\n\
         int main(void) {\n  void* p = mi_malloc(1000);\n  \
         int ok = p != NULL && mi_is_in_heap_region(p) && mi_usable_size(p) >= 1000;\n  \
         mi_free(p);\n  printf(\"%d %d\\n\", ok, mi_version());\n  return ok ? 0 : 1;\n}\n",
    )
    .unwrap();
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/csrc/include");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut words = cc.split_whitespace();
    let status = Command::new(words.next().unwrap())
        .args(words)
        .args(["-std=c11", "-include", header, "-I", include])
        .arg(&src)
        .args([ARCHIVE, "-lpthread", "-ldl", "-o"])
        .arg(&exe)
        .status()
        .expect("the C compiler runs");
    assert!(status.success(), "compiling and linking the C user of the library failed");
    let out = Command::new(&exe).output().expect("the C program runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "the C program failed: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("1 {MI_MALLOC_VERSION}"));
}
