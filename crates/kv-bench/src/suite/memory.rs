//! Memory per entry: bytes allocated beyond the keys and values, counted by the global
//! allocator of the `kv-bench-mem` binary (run as a child process, so the counting never
//! slows the throughput runs).

use std::process::Command;

use anyhow::Context;

use crate::adapter::{CacheSpec, KvAdapter};
use crate::config::Options;
use crate::contenders::{each_cache, CacheVisitor};
use crate::keys::{self, Keys, KEY_LEN, VALUE_LEN};
use crate::results::Results;
use crate::stats::Summary;
use crate::suite::inmem::TTL;

/// The report section.
pub(crate) const SECTION: &str = "memory";
/// The workload name `--only` matches.
pub(crate) const NAME: &str = "memory";

/// One contender's figure, as the child reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    /// Who was measured.
    pub contender: String,
    /// True for our crates.
    pub ours: bool,
    /// Whether every entry carried a TTL (false for contenders without TTL).
    pub ttl: bool,
    /// Bytes allocated per entry beyond its key and value.
    pub overhead: f64,
}

impl Footprint {
    fn to_line(&self) -> String {
        format!(
            "footprint\t{}\t{}\t{}\t{}",
            self.contender,
            u8::from(self.ours),
            u8::from(self.ttl),
            self.overhead
        )
    }

    fn from_line(line: &str) -> Option<Self> {
        let mut f = line.split('\t');
        if f.next()? != "footprint" {
            return None;
        }
        Some(Self {
            contender: f.next()?.to_owned(),
            ours: f.next()? == "1",
            ttl: f.next()? == "1",
            overhead: f.next()?.parse().ok()?,
        })
    }
}

/// Runs the child binary next to the current executable and records its figures.
pub(crate) fn run(opts: &Options, results: &mut Results) -> anyhow::Result<()> {
    if !opts.selected(NAME) {
        return Ok(());
    }
    eprintln!("memory: {} entries per contender", opts.scale.mem_entries);
    let exe = std::env::current_exe()?;
    let child = exe.with_file_name(format!("kv-bench-mem{}", std::env::consts::EXE_SUFFIX));
    let out = Command::new(&child)
        .arg(opts.scale.mem_entries.to_string())
        .output()
        .with_context(|| format!("running {}", child.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        child.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(f) = Footprint::from_line(line) {
            if !f.ttl {
                results.note(format!(
                    "memory: {} has no TTL, so its entries were measured without one",
                    f.contender
                ));
            }
            results.push(
                SECTION,
                "bytes per entry",
                "TTL on where supported",
                &f.contender,
                f.ours,
                Summary::single(f.overhead),
                "B",
            );
        }
    }
    Ok(())
}

/// The child's side: measures every contender with `allocated` (the live heap bytes)
/// and prints one line per contender on stdout.
pub fn child_main(entries: usize, allocated: fn() -> usize) {
    let keys = Keys::new(entries);
    let value = keys::value();
    let mut v = Measure {
        keys: &keys,
        value: &value,
        allocated,
        out: Vec::new(),
    };
    each_cache(&mut v);
    for f in v.out {
        println!("{}", f.to_line());
    }
}

struct Measure<'a> {
    keys: &'a Keys,
    value: &'a [u8],
    allocated: fn() -> usize,
    out: Vec<Footprint>,
}

impl CacheVisitor for Measure<'_> {
    fn visit<A: KvAdapter>(&mut self) {
        let n = self.keys.len();
        // Capacity exactly the entries inserted, as a user would size it: contenders
        // that preallocate for their capacity pay for it once, not twice over.
        let mut spec = CacheSpec {
            capacity: n as u64,
            ttl: Some(TTL),
            must_evict: false,
        };
        let before = (self.allocated)();
        let (cache, ttl) = match A::build(&spec) {
            Some(c) => (c, true),
            None => {
                spec.ttl = None;
                match A::build(&spec) {
                    Some(c) => (c, false),
                    None => return,
                }
            }
        };
        for i in 0..n {
            cache.set(self.keys.get(i), self.value);
        }
        cache.settle();
        let after = (self.allocated)();
        // A bounded cache may have evicted a few; count what it holds.
        let held = cache.len().max(1);
        let payload = held * (KEY_LEN + VALUE_LEN);
        let overhead = (after as f64 - before as f64 - payload as f64) / held as f64;
        drop(cache);
        self.out.push(Footprint {
            contender: A::name(),
            ours: A::ours(),
            ttl,
            overhead,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_lines_round_trip() {
        let f = Footprint {
            contender: "moka".into(),
            ours: false,
            ttl: true,
            overhead: 123.5,
        };
        assert_eq!(Footprint::from_line(&f.to_line()), Some(f));
        assert_eq!(Footprint::from_line("noise"), None);
    }
}
