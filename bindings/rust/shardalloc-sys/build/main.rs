//! Build script of shardalloc-sys: compiles the C library from `csrc/` into `libshardalloc.a` in
//! OUT_DIR with the C compiler and archiver (`CC`, `CFLAGS`, `AR` as the `cc` crate reads them,
//! else `cc` and `ar`) and links it. It stops with one line on a target the library does not
//! support; unless the `override` feature is on, every global symbol of the library gets the
//! prefix `sa_rs_` (prefix.rs). On the way it reads the public headers and
//!   - fails the build when an option constant or version number declared in `src/` differs
//!     from the C header (enum `mi_option_t`, `#define`s);
//!   - writes `c_api.rs` and `symbols.rs` to OUT_DIR: every C function, function type and
//!     struct with the Rust types its declaration must have, which the tests compare with the
//!     declarations in `src/`, and a list that takes the address of every function.
//!
//! Uses nothing but the standard library.

mod header;
mod prefix;

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const HEADERS: [&str; 3] = ["mimalloc.h", "mimalloc-stats.h", "shardalloc.h"];
/// `#define`s that src/ repeats as Rust constants of the same name.
const DEFINES: [&str; 7] = [
    "MI_MALLOC_VERSION",
    "SHARDALLOC_VERSION_MAJOR",
    "SHARDALLOC_VERSION_MINOR",
    "SHARDALLOC_VERSION_PATCH",
    "MI_SMALL_WSIZE_MAX",
    "MI_STAT_VERSION",
    "MI_STATS_BIN_HUGE",
];

/// The targets the C library supports (its platform layer, src/prim/, is Linux's; the thread id
/// and the size constants assume 64-bit x86_64 or aarch64).
const SUPPORTED_TARGETS: &str = "x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, \
                                 x86_64-unknown-linux-musl, aarch64-unknown-linux-musl";

/// Stops the build with one line on a target the C library does not support, before the C
/// compiler would fail there with pages of errors.
fn check_target() {
    let cfg = |name: &str| env::var(format!("CARGO_CFG_TARGET_{name}")).unwrap_or_default();
    let (os, arch, env_, width) = (cfg("OS"), cfg("ARCH"), cfg("ENV"), cfg("POINTER_WIDTH"));
    let supported = os == "linux"
        && (arch == "x86_64" || arch == "aarch64")
        && (env_ == "gnu" || env_ == "musl")
        && width == "64";
    if !supported {
        let target = env::var("TARGET").unwrap_or_default();
        eprintln!("shardalloc-sys: target {target} is not supported; supported: {SUPPORTED_TARGETS}");
        std::process::exit(1);
    }
}

fn main() {
    check_target();
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let csrc = manifest.join("csrc");
    let include = csrc.join("include");
    let src = csrc.join("src");
    for dir in [&include, &src] {
        if !dir.join(".").is_dir() {
            panic!(
                "shardalloc-sys: {} is missing: csrc/include and csrc/src must be the C library's \
                 include/ and src/ (symlinks in the repository)",
                dir.display()
            );
        }
    }
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=src");

    let api = read_headers(&include);
    check_constants(&api, &manifest.join("src"));
    write_tables(&api, &out);

    let features = Features::from_env();
    // The prefix: the Rust declarations link to SHARDALLOC_SYS_SYMBOL_PREFIX + their name.
    let prefix_header = if features.override_malloc {
        println!("cargo:rustc-env=SHARDALLOC_SYS_SYMBOL_PREFIX=");
        None
    } else {
        println!("cargo:rustc-env=SHARDALLOC_SYS_SYMBOL_PREFIX={}", prefix::SYMBOL_PREFIX);
        let dir = out.join("include");
        fs::create_dir_all(&dir).expect("cannot create OUT_DIR/include");
        let path = dir.join("shardalloc-sys-prefix.h");
        let renamed = prefix::write_header(&[&src, &include], &path);
        check_prefix_header(&api, &path, renamed);
        Some(path)
    };
    let objects = compile(&features, &src, &include, prefix_header.as_deref(), &out);
    let archive = out.join("libshardalloc.a");
    archive_objects(&objects, &archive);

    println!("cargo:rustc-link-search=native={}", out.display());
    if features.override_malloc {
        // Nothing in the program refers to override.o, so only the whole archive brings in the
        // malloc, free, ... that replace the C library's.
        println!("cargo:rustc-link-lib=static:+whole-archive=shardalloc");
    } else {
        println!("cargo:rustc-link-lib=static=shardalloc");
    }
    // What the C library needs, named also for #![no_std] programs (std links them otherwise):
    // threads, dlsym (alloc-new.c; in libc since glibc 2.34) and libc.
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:rustc-link-lib=dl");
    println!("cargo:rustc-link-lib=c");
    // For build scripts of dependents (links = "shardalloc"): DEP_SHARDALLOC_INCLUDE, _ROOT.
    println!("cargo:include={}", include.display());
    println!("cargo:root={}", out.display());
    if features.asm {
        println!("cargo:asm_dir={}", out.join("obj").display());
    }
    // C code of dependents that calls the library: compile it with -include of this header.
    if let Some(path) = &prefix_header {
        println!("cargo:prefix_header={}", path.display());
    }
}

/// Every function of the headers must be renamed, or its Rust declaration would not link.
fn check_prefix_header(api: &header::Api, path: &Path, renamed: usize) {
    let text = fs::read_to_string(path).expect("the prefix header");
    let missing: Vec<&str> = api
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .filter(|name| !text.contains(&format!("#define {name} {}{name}\n", prefix::SYMBOL_PREFIX)))
        .collect();
    if !missing.is_empty() || renamed < api.functions.len() {
        panic!(
            "shardalloc-sys: the prefix header {} renames {renamed} names but not {}",
            path.display(),
            missing.join(", ")
        );
    }
}

// ------------------------------------------------------------------------------------------
// Headers

fn read_headers(include: &Path) -> header::Api {
    let mut api = header::Api::default();
    for name in HEADERS {
        let path = include.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("shardalloc-sys: cannot read {}: {e}", path.display()));
        if let Err(e) = api.add_header(name, &text) {
            panic!("shardalloc-sys: cannot parse the C header: {e}");
        }
    }
    if api.functions.len() < 150 || !api.enums.contains_key("mi_option_t") {
        panic!(
            "shardalloc-sys: read only {} functions from the headers (or no mi_option_t): the \
             header reader is broken or the headers lost declarations",
            api.functions.len()
        );
    }
    api
}

/// `pub const NAME: TYPE = VALUE;` of the Rust sources, VALUE an integer or an earlier name.
fn rust_constants(src: &Path) -> BTreeMap<String, i64> {
    let mut consts = BTreeMap::new();
    let mut files: Vec<PathBuf> = fs::read_dir(src)
        .expect("src/")
        .map(|e| e.expect("src/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let text = fs::read_to_string(&file).expect("a source file");
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("pub const ") else { continue };
            let Some((name, rest)) = rest.split_once(':') else { continue };
            let Some((_, value)) = rest.split_once('=') else { continue };
            let value = value.trim().trim_end_matches(';').trim();
            let v = value.parse::<i64>().ok().or_else(|| consts.get(value).copied());
            if let Some(v) = v {
                consts.insert(name.trim().to_string(), v);
            }
        }
    }
    consts
}

fn check_constants(api: &header::Api, src: &Path) {
    let rust = rust_constants(src);
    let mut errors = Vec::new();
    let options = &api.enums["mi_option_t"];
    for (name, value) in options {
        match rust.get(name) {
            Some(v) if v == value => {}
            Some(v) => errors.push(format!("{name} is {v} in Rust, {value} in C")),
            None => errors.push(format!("{name} = {value} is not declared in Rust")),
        }
    }
    for name in rust.keys() {
        let is_option = name.starts_with("mi_option_") || name == "_mi_option_last";
        if is_option && !options.iter().any(|(n, _)| n == name) {
            errors.push(format!("{name} is declared in Rust but is not in C's mi_option_t"));
        }
    }
    for name in DEFINES {
        match (api.defines.get(name), rust.get(name)) {
            (Some(c), Some(r)) if c == r => {}
            (c, r) => errors.push(format!("{name}: C {c:?}, Rust {r:?}")),
        }
    }
    if !errors.is_empty() {
        panic!(
            "shardalloc-sys: the Rust constants do not match include/mimalloc*.h:\n  {}",
            errors.join("\n  ")
        );
    }
}

/// The Rust type a C type must be declared as (in this crate's spelling).
fn rust_type(api: &header::Api, c: &str) -> String {
    let mut toks: Vec<&str> = c.split(' ').collect();
    let mut stars = 0;
    while toks.last() == Some(&"*") {
        toks.pop();
        stars += 1;
    }
    let is_const = toks.first() == Some(&"const");
    if is_const {
        toks.remove(0);
    }
    let base = toks.join(" ");
    if stars == 1 && api.fn_types.iter().any(|(n, _, _)| *n == base) {
        return format!("Option<{base}>");
    }
    let mut ty = match base.as_str() {
        "void" => "c_void".to_string(),
        "char" => "c_char".to_string(),
        "unsigned char" => "c_uchar".to_string(),
        "int" => "c_int".to_string(),
        "long" => "c_long".to_string(),
        "unsigned long long" => "c_ulonglong".to_string(),
        "double" => "c_double".to_string(),
        "bool" => "bool".to_string(),
        "size_t" => "usize".to_string(),
        "int64_t" => "i64".to_string(),
        other => other.to_string(), // mi_heap_t, mi_option_t, wchar_t, ...: the same name
    };
    for level in 0..stars {
        let qualifier = if level == 0 && is_const { "*const " } else { "*mut " };
        ty = format!("{qualifier}{ty}");
    }
    ty
}

fn rust_ret(api: &header::Api, c: &str) -> String {
    if c == "void" {
        String::new()
    } else {
        rust_type(api, c)
    }
}

fn params_literal(api: &header::Api, params: &[header::Param]) -> String {
    let items: Vec<String> = params
        .iter()
        .map(|p| format!("({:?}, {:?})", p.name, rust_type(api, &p.ty)))
        .collect();
    format!("&[{}]", items.join(", "))
}

fn write_tables(api: &header::Api, out: &Path) {
    let mut t = String::new();
    t.push_str(
        "// Generated by shardalloc-sys's build script from the C headers; do not edit.\n\
         // Each entry: what the Rust declaration must say (empty return: none).\n\n",
    );
    t.push_str(
        "#[allow(dead_code)]\npub struct CFunction {\n    pub header: &'static str,\n    \
         pub name: &'static str,\n    pub abi: &'static str,\n    pub ret: &'static str,\n    \
         pub params: &'static [(&'static str, &'static str)],\n}\n\n",
    );
    t.push_str("#[allow(dead_code)]\npub const FUNCTIONS: &[CFunction] = &[\n");
    for f in &api.functions {
        let abi = if f.noexcept { "C" } else { "C-unwind" };
        writeln!(
            t,
            "    CFunction {{ header: {:?}, name: {:?}, abi: {:?}, ret: {:?}, params: {} }},",
            f.header,
            f.name,
            abi,
            rust_ret(api, &f.ret),
            params_literal(api, &f.params)
        )
        .unwrap();
    }
    t.push_str("];\n\n#[allow(dead_code)]\n");
    t.push_str(
        "pub const FUNCTION_TYPES: &[(&str, &str, &[(&str, &str)])] = &[\n",
    );
    for (name, ret, params) in &api.fn_types {
        writeln!(t, "    ({:?}, {:?}, {}),", name, rust_ret(api, ret), params_literal(api, params))
            .unwrap();
    }
    t.push_str("];\n\n#[allow(dead_code)]\npub const STRUCTS: &[(&str, &[(&str, &str)])] = &[\n");
    for s in &api.structs {
        let fields: Vec<String> = s
            .fields
            .iter()
            .map(|f| {
                let ty = rust_type(api, &f.ty);
                let ty = match &f.array {
                    Some(n) => format!("[{ty}; {n}]"),
                    None => ty,
                };
                format!("({:?}, {:?})", f.name, ty)
            })
            .collect();
        writeln!(t, "    ({:?}, &[{}]),", s.name, fields.join(", ")).unwrap();
    }
    t.push_str("];\n\n#[allow(dead_code)]\npub const OPAQUE_TYPES: &[&str] = &[");
    for name in &api.opaque {
        write!(t, "{name:?}, ").unwrap();
    }
    t.push_str("];\n\n#[allow(dead_code)]\npub const OPTIONS: &[(&str, i64)] = &[\n");
    for (name, value) in &api.enums["mi_option_t"] {
        writeln!(t, "    ({name:?}, {value}),").unwrap();
    }
    t.push_str("];\n\n#[allow(dead_code)]\npub const DEFINES: &[(&str, i64)] = &[\n");
    for (name, value) in &api.defines {
        writeln!(t, "    ({name:?}, {value}),").unwrap();
    }
    t.push_str("];\n");
    write_if_changed(&out.join("c_api.rs"), &t);

    let mut s = String::new();
    s.push_str(
        "// Generated by shardalloc-sys's build script: the address of every C function of the\n\
         // headers, through its Rust declaration (a missing declaration does not compile).\n\n\
         #[allow(dead_code)]\npub fn addresses() -> Vec<(&'static str, usize)> {\n    vec![\n",
    );
    for f in &api.functions {
        writeln!(s, "        ({:?}, shardalloc_sys::{} as *const () as usize),", f.name, f.name).unwrap();
    }
    s.push_str("    ]\n}\n");
    write_if_changed(&out.join("symbols.rs"), &s);
}

fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(text) {
        fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

// ------------------------------------------------------------------------------------------
// Compiling

/// The features that change the C compile. (`local-dynamic-tls` and `skip-collect-on-exit` turn
/// on their underscore forms; `extended` and `arena` change nothing: every declaration is there.)
struct Features {
    secure: bool,
    debug: bool,
    local_dynamic_tls: bool,
    override_malloc: bool,
    no_thp: bool,
    skip_collect_on_exit: bool,
    /// keep each file's assembly (`-save-temps=obj`: OUT_DIR/obj/NAME.s, and NAME.i)
    asm: bool,
}

impl Features {
    fn from_env() -> Self {
        let on = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
        // debug_in_debug: the debug C build only where the Rust code has debug assertions
        let debug_assertions = env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some();
        Features {
            secure: on("SECURE"),
            debug: on("DEBUG") || (on("DEBUG_IN_DEBUG") && debug_assertions),
            local_dynamic_tls: on("LOCAL_DYNAMIC_TLS"),
            override_malloc: on("OVERRIDE"),
            no_thp: on("NO_THP"),
            skip_collect_on_exit: on("SKIP_COLLECT_ON_EXIT"),
            asm: on("ASM"),
        }
    }

    /// The -D flags each feature turns into (what the C code and src/build-info.c read).
    fn defines(&self) -> Vec<String> {
        let mut d = vec![
            format!("-DSA_DEBUG={}", if self.debug { 2 } else { 0 }),
            "-DSA_BUILD_LIB=1".to_string(),
        ];
        if self.secure {
            d.push("-DSHARDALLOC_SECURE=4".into());
        }
        if self.local_dynamic_tls {
            d.push("-DSA_LOCAL_DYNAMIC_TLS=1".into());
        }
        if self.override_malloc {
            d.push("-DSA_OVERRIDE=1".into());
        }
        if self.no_thp {
            d.push("-DSA_DEFAULT_ALLOW_THP=0".into());
        }
        if self.skip_collect_on_exit {
            d.push("-DSA_SKIP_COLLECT_ON_EXIT=1".into());
        }
        d
    }
}

/// A variable as the `cc` crate looks it up: `NAME_<target>`, `NAME_<target with underscores>`,
/// `HOST_NAME` or `TARGET_NAME` (host builds or cross builds), then `NAME`.
fn tool_var(name: &str) -> Option<String> {
    let target = env::var("TARGET").unwrap_or_default();
    let host = env::var("HOST").unwrap_or_default();
    let kind = if host == target { "HOST" } else { "TARGET" };
    let names = [
        format!("{name}_{target}"),
        format!("{name}_{}", target.replace('-', "_")),
        format!("{kind}_{name}"),
        name.to_string(),
    ];
    for var in &names {
        println!("cargo:rerun-if-env-changed={var}");
    }
    names.iter().find_map(|var| env::var(var).ok().filter(|v| !v.trim().is_empty()))
}

/// The program and its leading arguments (`CC="ccache gcc -m64"`).
fn tool(name: &str, default: &str) -> (String, Vec<String>) {
    let value = tool_var(name).unwrap_or_else(|| default.to_string());
    let mut words = value.split_whitespace().map(String::from);
    let program = words.next().unwrap_or_else(|| default.to_string());
    (program, words.collect())
}

fn c_sources(src: &Path, features: &Features) -> Vec<PathBuf> {
    let mut sources = vec![src.join("prim").join("unix.c")];
    let mut top: Vec<PathBuf> = fs::read_dir(src)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", src.display()))
        .map(|e| e.expect("an entry of csrc/src").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .filter(|p| features.override_malloc || p.file_name().map_or(true, |n| n != "override.c"))
        .collect();
    top.sort();
    sources.extend(top);
    sources
}

/// Every file the library is built from, for rerun-if-changed (a directory there would only be
/// checked by its own timestamp on some cargo versions).
fn watch_tree(dir: &Path) {
    let mut entries: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => return,
    };
    entries.sort();
    for path in entries {
        if path.is_dir() {
            watch_tree(&path);
        } else if path.extension().is_some_and(|e| e == "c" || e == "h") {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn compile(
    features: &Features,
    src: &Path,
    include: &Path,
    prefix_header: Option<&Path>,
    out: &Path,
) -> Vec<PathBuf> {
    watch_tree(src);
    watch_tree(include);
    let (cc, cc_args) = tool("CC", "cc");
    let cflags: Vec<String> = tool_var("CFLAGS")
        .map(|v| v.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let optimize = env::var("OPT_LEVEL").is_ok_and(|v| v != "0");
    let debuginfo = env::var("DEBUG").is_ok_and(|v| v != "false" && v != "0" && v != "none");

    let mut flags: Vec<String> = vec!["-std=gnu11".into()];
    if optimize {
        flags.extend(["-O3".into(), "-DNDEBUG".into()]);
    } else {
        flags.push("-O0".into());
    }
    if debuginfo {
        flags.push("-g".into());
    }
    flags.extend(
        ["-fPIC", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Wno-unknown-pragmas"]
            .map(String::from),
    );
    // The caller's CFLAGS may change optimisation and warnings; what the library depends on
    // (visibility, no builtin allocation calls, the TLS model, the configuration) comes last.
    flags.extend(cflags);
    flags.extend(
        [
            "-fvisibility=hidden",
            "-fno-builtin-malloc",
            "-fno-builtin-free",
            "-fno-builtin-calloc",
            "-fno-builtin-realloc",
        ]
        .map(String::from),
    );
    flags.push(
        if features.local_dynamic_tls { "-ftls-model=local-dynamic" } else { "-ftls-model=initial-exec" }
            .into(),
    );
    flags.extend(features.defines());
    if features.asm {
        flags.push("-save-temps=obj".into());
    }
    if let Some(header) = prefix_header {
        flags.push("-include".into());
        flags.push(header.display().to_string());
    }
    flags.push(format!("-I{}", include.display()));
    flags.push(format!("-I{}", src.display()));

    let objdir = out.join("obj");
    let _ = fs::remove_dir_all(&objdir);
    fs::create_dir_all(&objdir).expect("cannot create OUT_DIR/obj");
    let jobs: usize = env::var("NUM_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(2).max(1);

    let sources = c_sources(src, features);
    let mut objects = Vec::new();
    let mut running: Vec<(Child, String)> = Vec::new();
    for source in &sources {
        let rel = source.strip_prefix(src).unwrap_or(source);
        let stem = rel.with_extension("").to_string_lossy().replace(['/', '\\'], "-");
        let object = objdir.join(format!("{stem}.o"));
        let mut cmd = Command::new(&cc);
        cmd.args(&cc_args).args(&flags);
        if rel == Path::new("alloc-new.c") {
            // std::bad_alloc thrown from a new-handler unwinds through these frames
            cmd.arg("-fexceptions");
        }
        cmd.arg("-c").arg(source).arg("-o").arg(&object);
        let shown = format!("{cmd:?}");
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("shardalloc-sys: cannot run the C compiler `{cc}`: {e}"));
        running.push((child, shown));
        objects.push(object);
        if running.len() >= jobs {
            finish(running.remove(0));
        }
    }
    for job in running {
        finish(job);
    }
    objects
}

/// Waits for one compiler; its warnings become cargo warnings, a failure ends the build.
fn finish((child, shown): (Child, String)) {
    let output = child.wait_with_output().expect("waiting for the C compiler");
    let text = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        panic!("shardalloc-sys: the C compiler failed ({}):\n{shown}\n{text}", output.status);
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        println!("cargo:warning={line}");
    }
}

fn archive_objects(objects: &[PathBuf], archive: &Path) {
    let (ar, ar_args) = tool("AR", "ar");
    let _ = fs::remove_file(archive);
    let status = Command::new(&ar)
        .args(&ar_args)
        .arg("crs")
        .arg(archive)
        .args(objects)
        .status()
        .unwrap_or_else(|e| panic!("shardalloc-sys: cannot run the archiver `{ar}`: {e}"));
    if !status.success() {
        panic!("shardalloc-sys: `{ar} crs {}` failed ({status})", archive.display());
    }
}
