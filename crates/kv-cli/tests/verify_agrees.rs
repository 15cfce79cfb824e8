//! Property: for random damage (flipped bytes, zeroed ranges, truncation, appended
//! garbage) to a random file of a cleanly closed store, `kv verify` says the store is
//! fine (exit status 0) exactly when `Store::open` succeeds and loses nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kv_store::{Options, Store};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Damage {
    /// Flip the bits of one byte at this fraction of the file.
    Flip(f64, u8),
    /// Zero `len` bytes from this fraction of the file.
    Zero(f64, usize),
    /// Cut the file at this fraction of its length.
    Truncate(f64),
    /// Append these bytes.
    Append(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (0.0..1.0f64, 1..=255u8).prop_map(|(at, x)| Damage::Flip(at, x)),
        3 => (0.0..1.0f64, 1..200usize).prop_map(|(at, n)| Damage::Zero(at, n)),
        2 => (0.0..1.0f64).prop_map(Damage::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(Damage::Append),
    ]
}

fn apply(path: &Path, d: &Damage) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = |f: f64, len: usize| ((len as f64 * f) as usize).min(len.saturating_sub(1));
    match d {
        Damage::Flip(f, x) => {
            if !bytes.is_empty() {
                let i = at(*f, bytes.len());
                bytes[i] ^= x;
            }
        }
        Damage::Zero(f, n) => {
            let i = at(*f, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes[i..end].fill(0);
        }
        Damage::Truncate(f) => bytes.truncate(at(*f, bytes.len())),
        Damage::Append(g) => bytes.extend_from_slice(g),
    }
    std::fs::write(path, bytes).unwrap();
}

fn opts(dir: &Path) -> Options {
    Options::new()
        .dir(dir)
        .segment_size(64 << 10)
        .background_workers(false)
}

/// A store with several segments and two snapshots, closed cleanly; its entries.
fn build(dir: &Path, keys: u32) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let store = Store::open(opts(dir)).unwrap();
    for round in 0..3u32 {
        for i in 0..keys {
            let value = format!("value {i} of round {round} {}", "x".repeat(200));
            store
                .set(format!("k{i}").as_bytes(), value.as_bytes())
                .unwrap();
        }
        for i in (0..keys).step_by(7) {
            store.delete(format!("k{i}").as_bytes()).unwrap();
        }
        if round == 1 {
            store.snapshot().unwrap();
        }
    }
    let entries = contents(&store);
    store.close().unwrap();
    entries
}

fn contents(store: &Store) -> BTreeMap<Vec<u8>, Vec<u8>> {
    store
        .iter()
        .unwrap()
        .map(|(k, v)| (k, v.to_vec()))
        .collect()
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("wal-") || n.starts_with("snapshot-")
        })
        .collect();
    v.sort();
    v
}

fn verify(dir: &Path) -> u8 {
    let mut out = Vec::new();
    kv_cli::run_with(
        ["kv", "--quiet", "verify", dir.to_str().unwrap()],
        &mut out,
        &mut std::io::empty(),
        false,
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn verify_is_clean_exactly_when_open_succeeds_without_loss(
        which in any::<prop::sample::Index>(),
        d in damage(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let expected = build(&dir, 300);
        let files = data_files(&dir);
        prop_assume!(!files.is_empty());
        let target = which.get(&files).clone();
        apply(&target, &d);
        let before = common::files(&dir);
        let verdict = verify(&dir);
        prop_assert!(verdict == 0 || verdict == 1, "verify failed to run: {verdict}");
        prop_assert_eq!(common::files(&dir), before, "verify changed a file");

        // Opened by the owner, on a copy (opening repairs a torn tail).
        let copy = tmp.path().join("copy");
        copy_dir(&dir, &copy);
        let opened = Store::open(opts(&copy));
        let lossless = match &opened {
            Ok(store) => contents(store) == expected,
            Err(_) => false,
        };
        prop_assert_eq!(
            verdict == 0,
            lossless,
            "damage {:?} to {}: verify exit {}, open {:?}",
            d,
            target.display(),
            verdict,
            opened.as_ref().map(|s| s.recovery().clone()).map_err(|e| e.to_string())
        );
    }
}
