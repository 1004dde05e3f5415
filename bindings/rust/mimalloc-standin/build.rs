//! Compiles csrc/standin.c into a static archive with the C compiler and archiver (`CC`, `AR`,
//! else `cc` and `ar`) and links it. Standard library only.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn run(cmd: &mut Command) {
    let shown = format!("{cmd:?}");
    let status =
        cmd.status().unwrap_or_else(|e| panic!("mimalloc-standin: cannot run {shown}: {e}"));
    assert!(status.success(), "mimalloc-standin: {shown} failed ({status})");
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let source = manifest.join("csrc").join("standin.c");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=AR");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let ar = env::var("AR").unwrap_or_else(|_| "ar".into());
    let mut cc_words = cc.split_whitespace();
    let object = out.join("standin.o");
    run(Command::new(cc_words.next().unwrap())
        .args(cc_words)
        .args(["-std=c11", "-O1", "-fPIC", "-Wall", "-Wextra", "-c"])
        .arg(&source)
        .arg("-o")
        .arg(&object));
    let archive = out.join("libmimalloc_standin.a");
    let _ = std::fs::remove_file(&archive);
    run(Command::new(ar).arg("crs").arg(&archive).arg(&object));
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=mimalloc_standin");
}
