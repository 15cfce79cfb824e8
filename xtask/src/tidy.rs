//! `cargo xtask tidy`: the architecture invariants that a compiler does not check.
//!
//! - The dependency ladder: `kv-core` depends on no other kv crate; `kv-wal` and
//!   `kv-snapshot` never know each other (nor kv-core, nor kv-store); `kv-store`
//!   depends on all three.
//! - `kv-core` does no file I/O: its sources never name `std::fs`, `File` or
//!   `OpenOptions`.
//! - Every library crate forbids `unsafe`, except `kv-wal`, which confines it to the
//!   one module around the memory map, and `kv-alloc-count`, to its counting
//!   allocator. No other source file of a crate (its binaries, examples, tests and
//!   benches included) contains `unsafe`.
//!
//! - The licence the manifests declare (`MIT OR Apache-2.0`) ships as `LICENSE-MIT` and
//!   `LICENSE-APACHE`, and no manifest names a placeholder address.
//!
//! It also runs as a test (`cargo test -p xtask`), so a wrong arrow fails CI.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cmd::root;

/// Which kv crates each crate may depend on (normal dependencies).
/// A crate not listed here may depend on any kv crate (tools, benches, the CLI).
const ALLOWED: &[(&str, &[&str])] = &[
    ("kv-core", &[]),
    ("kv-wal", &[]),
    ("kv-snapshot", &[]),
    ("kv-store", &["kv-core", "kv-wal", "kv-snapshot"]),
];

/// Which kv crates each crate must depend on.
const REQUIRED: &[(&str, &[&str])] = &[("kv-store", &["kv-core", "kv-wal", "kv-snapshot"])];

/// Crates allowed to contain `unsafe`, and the only file each may contain it in.
const UNSAFE_ALLOWED: &[(&str, &str)] = &[
    ("kv-wal", "src/mmap.rs"),
    // The workspace's one counting global allocator (a `GlobalAlloc` is an unsafe trait).
    ("kv-alloc-count", "src/counting.rs"),
];

/// The directories of a crate whose sources the unsafe policy covers.
const SOURCE_DIRS: &[&str] = &["src", "examples", "tests", "benches"];

/// Words that mean file I/O in kv-core.
const NO_IO_IN_CORE: &[&str] = &["std::fs", "File::", "OpenOptions", "std::net"];

pub(crate) fn run() -> Result<()> {
    let problems = check(&root())?;
    if problems.is_empty() {
        eprintln!("tidy: ok");
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    bail!("tidy found {} problem(s)", problems.len())
}

/// Every invariant broken under `root`, one sentence each.
pub(crate) fn check(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let crates_dir = root.join("crates");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&crates_dir).context("reading crates/")? {
        let dir = entry?.path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let deps = kv_dependencies(&text);
        if let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) {
            for dep in &deps {
                if !allowed.contains(&dep.as_str()) {
                    problems.push(format!("{name} must not depend on {dep}"));
                }
            }
        }
        if let Some((_, required)) = REQUIRED.iter().find(|(n, _)| *n == name) {
            for dep in *required {
                if !deps.contains(*dep) {
                    problems.push(format!("{name} must depend on {dep}"));
                }
            }
        }
        check_sources(&name, &dir, &mut problems)?;
        names.push(name);
    }
    for (name, _) in ALLOWED {
        if !names.iter().any(|n| n == name) {
            problems.push(format!("crate {name} is missing from crates/"));
        }
    }
    check_licence(root, &mut problems)?;
    Ok(problems)
}

/// The licence files the workspace manifest's `license` names, and no placeholder URL.
fn check_licence(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    if !manifest.contains("license = \"MIT OR Apache-2.0\"") {
        problems.push("Cargo.toml must declare license = \"MIT OR Apache-2.0\"".to_owned());
    }
    for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
        if !root.join(file).is_file() {
            problems.push(format!("the licence file {file} is missing"));
        }
    }
    if manifest.contains("example.invalid") {
        problems.push("Cargo.toml names a placeholder address (example.invalid)".to_owned());
    }
    Ok(())
}

/// The `kv-*` crates named in the `[dependencies]` table (not dev- or build-).
fn kv_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if !in_deps {
            continue;
        }
        let key = line.split(['=', '.']).next().unwrap_or("").trim();
        if key.starts_with("kv-") {
            deps.insert(key.to_owned());
        }
    }
    deps
}

fn check_sources(name: &str, dir: &Path, problems: &mut Vec<String>) -> Result<()> {
    let src = dir.join("src");
    let lib = src.join("lib.rs");
    let unsafe_file = UNSAFE_ALLOWED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| dir.join(f));
    if lib.is_file() {
        let text = std::fs::read_to_string(&lib)?;
        if unsafe_file.is_none() && !text.contains("#![forbid(unsafe_code)]") {
            problems.push(format!(
                "{name}/src/lib.rs must say #![forbid(unsafe_code)]"
            ));
        }
    }
    let mut files = Vec::new();
    for sub in SOURCE_DIRS {
        collect_rs(&dir.join(sub), &mut files)?;
    }
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let rel = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        if unsafe_file.as_ref() != Some(&file) && contains_unsafe_block(&text) {
            problems.push(match &unsafe_file {
                Some(allowed) => format!(
                    "{name}/{rel} uses unsafe; only {} may",
                    allowed.strip_prefix(dir).unwrap_or(allowed).display()
                ),
                None => format!("{name}/{rel} uses unsafe; {name} may not"),
            });
        }
        if name == "kv-core" && file.starts_with(&src) {
            for word in NO_IO_IN_CORE {
                if text.contains(word) {
                    problems.push(format!(
                        "kv-core does no file I/O, but {rel} names `{word}`"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn contains_unsafe_block(text: &str) -> bool {
    text.lines().any(|l| {
        let code = l.split("//").next().unwrap_or("");
        code.contains("unsafe {") || code.contains("unsafe fn") || code.contains("unsafe impl")
    })
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_is_tidy() {
        let problems = check(&root()).unwrap();
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn a_wrong_arrow_is_caught() {
        let manifest = "[package]\nname = \"kv-wal\"\n\n[dependencies]\nkv-snapshot.workspace = true\ncrc32fast = \"1\"\n\n[dev-dependencies]\nkv-core = { path = \"../kv-core\" }\n";
        let deps = kv_dependencies(manifest);
        assert_eq!(deps.into_iter().collect::<Vec<_>>(), vec!["kv-snapshot"]);
    }

    #[test]
    fn unsafe_outside_the_allowed_file_is_caught_in_tests_and_binaries_too() {
        let dir = std::env::temp_dir().join(format!("kv-tidy-{}", std::process::id()));
        let write = |rel: &str, text: &str| {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let alloc = "unsafe impl GlobalAlloc for A {}\n";
        write("src/lib.rs", "#![forbid(unsafe_code)]\n");
        write("src/bin/tool.rs", alloc);
        write("tests/probe.rs", alloc);
        write("examples/probe.rs", "fn main() {}\n");
        let mut problems = Vec::new();
        check_sources("kv-bench", &dir, &mut problems).unwrap();
        problems.sort();
        assert_eq!(
            problems,
            [
                "kv-bench/src/bin/tool.rs uses unsafe; kv-bench may not",
                "kv-bench/tests/probe.rs uses unsafe; kv-bench may not",
            ]
        );
        let mut problems = Vec::new();
        write("src/counting.rs", alloc);
        std::fs::remove_file(dir.join("src/bin/tool.rs")).unwrap();
        check_sources("kv-alloc-count", &dir, &mut problems).unwrap();
        assert_eq!(
            problems,
            ["kv-alloc-count/tests/probe.rs uses unsafe; only src/counting.rs may"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unsafe_is_spotted_but_not_in_comments() {
        assert!(contains_unsafe_block("let x = unsafe { f() };"));
        assert!(!contains_unsafe_block("// unsafe { nothing }"));
    }
}
