//! The Rust declarations against the C headers. The build script read include/mimalloc.h,
//! mimalloc-stats.h and shardalloc.h and wrote, for every function, function type and struct,
//! the Rust types its declaration must have (OUT_DIR/c_api.rs). Here the declarations in src/ are
//! read as text and compared: names, parameter names and types, return types, the ABI ("C", or
//! "C-unwind" for the functions that may throw), struct fields in order. Then the address of
//! every function is taken (OUT_DIR/symbols.rs: a missing declaration would not compile), and the
//! struct layouts are compared with what the C compiler computes.

#![allow(clippy::type_complexity)]

use std::collections::BTreeMap;
use std::mem::{size_of, MaybeUninit};
use std::process::Command;
use std::ptr::addr_of;

use shardalloc_sys::*;

mod c_api {
    include!(concat!(env!("OUT_DIR"), "/c_api.rs"));
}
mod symbols {
    include!(concat!(env!("OUT_DIR"), "/symbols.rs"));
}

const SOURCES: [(&str, &str); 10] = [
    ("lib.rs", include_str!("../src/lib.rs")),
    ("basic.rs", include_str!("../src/basic.rs")),
    ("aligned.rs", include_str!("../src/aligned.rs")),
    ("extended.rs", include_str!("../src/extended.rs")),
    ("heap.rs", include_str!("../src/heap.rs")),
    ("options.rs", include_str!("../src/options.rs")),
    ("arena.rs", include_str!("../src/arena.rs")),
    ("posix.rs", include_str!("../src/posix.rs")),
    ("stats.rs", include_str!("../src/stats.rs")),
    ("build_info.rs", include_str!("../src/build_info.rs")),
];

#[derive(Debug)]
struct RustFn {
    file: &'static str,
    abi: String,
    params: Vec<(String, String)>,
    ret: String,
}

/// Source text without `//` comments and with `#[...]` attributes removed.
fn clean(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    let mut s = String::new();
    let mut rest = out.as_str();
    while let Some(i) = rest.find("#[") {
        s.push_str(&rest[..i]);
        let end = close_of(&rest[i + 1..], '[', ']') + i + 1;
        rest = &rest[end + 1..];
    }
    s.push_str(rest);
    s
}

/// Index of the bracket that closes the one `s` starts with.
fn close_of(s: &str, open: char, close: char) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    panic!("unbalanced {open} in {s:.80}");
}

fn norm(ty: &str) -> String {
    let ty = ty.replace("core::ffi::", "").replace("::core::", "");
    let ty = ty.split_whitespace().collect::<Vec<_>>().join(" ");
    ty.replace("< ", "<").replace(" >", ">").replace("[ ", "[").replace(" ]", "]")
}

/// Splits at commas outside (), <> and [].
fn split_top(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            parts.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        parts.push(cur.trim().to_string());
    }
    parts
}

/// `(name: T, ...) -> R` into parameters and return type (empty: none).
fn signature(s: &str) -> (Vec<(String, String)>, String) {
    let s = s.trim();
    assert!(s.starts_with('('), "no parameter list in {s}");
    let close = close_of(s, '(', ')');
    let params = split_top(&s[1..close])
        .into_iter()
        .map(|p| {
            let (name, ty) = p.split_once(':').unwrap_or_else(|| panic!("unnamed parameter {p}"));
            (name.trim().to_string(), norm(ty))
        })
        .collect();
    let rest = s[close + 1..].trim();
    let ret = rest.strip_prefix("->").map(norm).unwrap_or_default();
    (params, ret)
}

fn rust_functions() -> BTreeMap<String, Vec<RustFn>> {
    let mut fns: BTreeMap<String, Vec<RustFn>> = BTreeMap::new();
    for (file, text) in SOURCES {
        let text = clean(text);
        let mut rest = text.as_str();
        while let Some(i) = rest.find("extern \"") {
            let after = &rest[i + 8..];
            let abi_end = after.find('"').unwrap();
            let abi = after[..abi_end].to_string();
            let body_start = after.find('{').unwrap();
            let between = after[abi_end + 1..body_start].trim();
            if !between.is_empty() {
                // `unsafe extern "C" fn(...)`: a function type, not a block
                rest = &after[abi_end..];
                continue;
            }
            let body_end = close_of(&after[body_start..], '{', '}') + body_start;
            for item in after[body_start + 1..body_end].split(';') {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let decl = item.strip_prefix("pub fn ").unwrap_or_else(|| {
                    panic!("{file}: an item of an extern block is not `pub fn`: {item}")
                });
                let open = decl.find('(').unwrap();
                let name = decl[..open].trim().to_string();
                let (params, ret) = signature(&decl[open..]);
                fns.entry(name).or_default().push(RustFn { file, abi: abi.clone(), params, ret });
            }
            rest = &after[body_end..];
        }
    }
    fns
}

fn rust_fn_types() -> BTreeMap<String, (Vec<(String, String)>, String)> {
    let mut types = BTreeMap::new();
    for (_, text) in SOURCES {
        let text = clean(text);
        for stmt in text.split(';') {
            let Some(at) = stmt.find("pub type ") else { continue };
            let rest = &stmt[at + 9..];
            let (name, def) = rest.split_once('=').unwrap();
            let def = norm(def);
            if let Some(sig) = def.strip_prefix("unsafe extern \"C\" fn") {
                types.insert(name.trim().to_string(), signature(sig));
            }
        }
    }
    types
}

fn rust_structs() -> BTreeMap<String, Vec<(String, String)>> {
    let mut structs = BTreeMap::new();
    for (file, raw) in SOURCES {
        let text = clean(raw);
        let mut rest = text.as_str();
        while let Some(i) = rest.find("pub struct ") {
            let after = &rest[i + 11..];
            let name_end = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap();
            let name = after[..name_end].to_string();
            let brace = after.find('{').unwrap();
            let end = close_of(&after[brace..], '{', '}') + brace;
            let fields = split_top(&after[brace + 1..end])
                .into_iter()
                .map(|f| {
                    let f = f.trim().strip_prefix("pub ").unwrap_or(&f).to_string();
                    let (n, t) = f.split_once(':').unwrap();
                    (n.trim().to_string(), norm(t))
                })
                .collect();
            // its attributes: the lines between the previous item and `pub struct NAME`
            let at = raw.find(&format!("pub struct {name} ")).unwrap();
            let head = &raw[..at];
            let item_start = head.rfind("\n\n").or_else(|| head.rfind('}')).unwrap_or(0);
            assert!(head[item_start..].contains("#[repr(C)]"), "{file}: {name} must be #[repr(C)]");
            structs.insert(name, fields);
            rest = &after[end..];
        }
    }
    structs
}

#[test]
fn every_c_function_is_declared_with_the_header_types() {
    let rust = rust_functions();
    let mut errors = Vec::new();
    for f in c_api::FUNCTIONS {
        let Some(decls) = rust.get(f.name) else {
            errors.push(format!("{} ({}) is not declared", f.name, f.header));
            continue;
        };
        if decls.len() != 1 {
            errors.push(format!("{} is declared {} times", f.name, decls.len()));
        }
        let d = &decls[0];
        if d.abi != f.abi {
            errors.push(format!("{} ({}): extern \"{}\", the header needs \"{}\"", f.name, d.file, d.abi, f.abi));
        }
        if d.ret != f.ret {
            errors.push(format!("{}: returns `{}`, the header `{}`", f.name, d.ret, f.ret));
        }
        let want: Vec<(String, String)> =
            f.params.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        if d.params != want {
            errors.push(format!("{}: parameters {:?}, the header {:?}", f.name, d.params, want));
        }
    }
    for name in rust.keys() {
        if !c_api::FUNCTIONS.iter().any(|f| f.name == name) {
            errors.push(format!("{name} is declared in Rust but not in the headers"));
        }
    }
    assert!(errors.is_empty(), "declarations differ from the headers:\n  {}", errors.join("\n  "));
    assert!(c_api::FUNCTIONS.len() >= 150, "only {} C functions", c_api::FUNCTIONS.len());
    println!("{} functions match the headers", c_api::FUNCTIONS.len());
}

#[test]
fn function_types_match_the_header() {
    let rust = rust_fn_types();
    for (name, ret, params) in c_api::FUNCTION_TYPES {
        let (rparams, rret) = rust.get(*name).unwrap_or_else(|| panic!("type {name} is not declared"));
        let want: Vec<(String, String)> =
            params.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        assert_eq!(rparams, &want, "parameters of {name}");
        assert_eq!(rret, ret, "return type of {name}");
    }
    assert_eq!(rust.len(), c_api::FUNCTION_TYPES.len(), "function types: {:?}", rust.keys());
}

#[test]
fn structs_match_the_header() {
    let rust = rust_structs();
    for (name, fields) in c_api::STRUCTS {
        let rfields = rust.get(*name).unwrap_or_else(|| panic!("struct {name} is not declared"));
        let want: Vec<(String, String)> =
            fields.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        assert_eq!(rfields, &want, "fields of {name}");
    }
    for name in c_api::OPAQUE_TYPES {
        assert!(rust.contains_key(*name), "opaque type {name} is not declared");
    }
    // mimalloc2-rust-sys's mi_heap_area_t lacked this field; every later field was then misread.
    assert!(c_api::STRUCTS.iter().any(|(n, f)| *n == "mi_heap_area_t"
        && f.iter().any(|(field, _)| *field == "full_block_size")));
}

#[test]
fn option_constants_match_the_c_enum() {
    // The build already failed on a difference; this states the expectation where a test shows.
    let rust: BTreeMap<&str, i64> = [
        ("mi_option_show_errors", mi_option_show_errors),
        ("mi_option_verbose", mi_option_verbose),
        ("mi_option_purge_delay", mi_option_purge_delay),
        ("mi_option_allow_thp", mi_option_allow_thp),
        ("mi_option_purge_background", mi_option_purge_background),
        ("_mi_option_last", _mi_option_last),
        ("mi_option_limit_os_alloc", mi_option_limit_os_alloc),
    ]
    .into_iter()
    .map(|(n, v)| (n, i64::from(v)))
    .collect();
    for (name, value) in c_api::OPTIONS {
        if let Some(v) = rust.get(name) {
            assert_eq!(v, value, "{name}");
        }
    }
    assert_eq!(c_api::OPTIONS.len(), 46, "enumerators of mi_option_t (39 options, _last, 6 aliases)");
    let defines: BTreeMap<&str, i64> = c_api::DEFINES.iter().copied().collect();
    assert_eq!(defines["MI_MALLOC_VERSION"], i64::from(MI_MALLOC_VERSION));
    assert_eq!(defines["MI_STAT_VERSION"], MI_STAT_VERSION as i64);
    assert_eq!(defines["MI_SMALL_WSIZE_MAX"], MI_SMALL_WSIZE_MAX as i64);
}

#[test]
fn every_function_links() {
    let addresses = symbols::addresses();
    assert_eq!(addresses.len(), c_api::FUNCTIONS.len());
    for (name, address) in &addresses {
        assert_ne!(*address, 0, "{name} has a null address");
    }
    // and one call through the linked library
    assert_eq!(unsafe { mi_version() }, MI_MALLOC_VERSION);
    println!("took the address of {} functions", addresses.len());
}

/// Field offsets of a Rust struct, by name.
macro_rules! offsets {
    ($ty:ty; $($field:ident),* $(,)?) => {{
        let v = MaybeUninit::<$ty>::uninit();
        let base = v.as_ptr() as usize;
        // SAFETY: addr_of! computes field addresses without reading the uninitialised value.
        let fields: Vec<(String, usize)> = vec![
            $((stringify!($field).to_string(), unsafe { addr_of!((*v.as_ptr()).$field) } as usize - base)),*
        ];
        (size_of::<$ty>(), fields)
    }};
}

#[test]
fn struct_layouts_match_the_c_compiler() {
    let rust: Vec<(&str, (usize, Vec<(String, usize)>))> = vec![
        ("mi_heap_area_t", offsets!(mi_heap_area_t; blocks, reserved, committed, used, block_size,
                                     full_block_size, heap_tag)),
        ("mi_stat_count_t", offsets!(mi_stat_count_t; total, peak, current)),
        ("mi_stat_counter_t", offsets!(mi_stat_counter_t; total)),
        ("mi_stats_t", offsets!(mi_stats_t; size, version, pages, reserved, committed,
            page_committed, pages_abandoned, threads, malloc_normal, malloc_huge, malloc_requested,
            reset, purged, mmap_calls, commit_calls, reset_calls, purge_calls, arena_count,
            malloc_normal_count, malloc_huge_count, malloc_guarded_count, arena_rollback_count,
            arena_purges, pages_extended, pages_retire, page_searches, page_searches_count,
            segments, segments_abandoned, segments_cache, _segments_reserved,
            pages_reclaim_on_alloc, pages_reclaim_on_free, pages_reabandon_full,
            pages_unabandon_busy_wait, _stat_reserved, _stat_counter_reserved, malloc_bins,
            page_bins)),
    ];
    // every field of the header is in the list above
    for (name, fields) in c_api::STRUCTS {
        let (_, offs) = &rust.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(offs.len(), fields.len(), "offsets listed for {name}");
    }

    // The same figures from the C compiler, through a program that includes the headers.
    let mut c = String::from("#include <stddef.h>\n#include <stdio.h>\n#include \"shardalloc.h\"\nint main(void) {\n");
    for (name, (_, fields)) in &rust {
        c.push_str(&format!("  printf(\"{name} %zu\\n\", sizeof({name}));\n"));
        for (field, _) in fields {
            c.push_str(&format!("  printf(\"{name}.{field} %zu\\n\", offsetof({name}, {field}));\n"));
        }
    }
    c.push_str("  return 0;\n}\n");
    let dir = std::env::temp_dir().join(format!("shardalloc-sys-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c).unwrap();
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/csrc/include");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut words = cc.split_whitespace();
    let status = Command::new(words.next().unwrap())
        .args(words)
        .args(["-std=c11", "-I", include])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("the C compiler runs");
    assert!(status.success(), "compiling the layout program failed");
    let out = Command::new(&exe).output().expect("the layout program runs");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8(out.stdout).unwrap();
    let c_figures: BTreeMap<String, usize> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    let mut checked = 0;
    for (name, (size, fields)) in &rust {
        assert_eq!(c_figures[*name], *size, "sizeof({name})");
        for (field, off) in fields {
            assert_eq!(c_figures[&format!("{name}.{field}")], *off, "offsetof({name}, {field})");
            checked += 1;
        }
    }
    println!("{checked} field offsets and {} sizes agree with the C compiler", rust.len());
}
