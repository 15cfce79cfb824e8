//! Hit ratio of each eviction policy on one-thread get-or-insert traces: Zipf 0.8 and 1.0
//! at capacity 1% and 10% of the keys, and a scan-polluted trace (a quarter one-time
//! keys, the hot set shifting halfway).

use crate::adapter::{CacheSpec, KvAdapter};
use crate::config::Options;
use crate::contenders::{each_policy, CacheVisitor};
use crate::keys::{self, Keys, Scatter};
use crate::results::Results;
use crate::rng::Rng;
use crate::stats::Summary;
use crate::zipf::Zipf;

/// The report section.
pub(crate) const SECTION: &str = "hit ratio";
/// The workload name `--only` matches.
pub(crate) const NAME: &str = "hit-ratio";
/// Capacities as percent of the key universe.
pub(crate) const CAPACITIES: [u64; 2] = [1, 10];

struct Trace {
    name: &'static str,
    accesses: Vec<u32>,
}

/// Runs every hit-ratio trace for every policy.
pub(crate) fn run(opts: &Options, results: &mut Results) {
    if !opts.selected(NAME) {
        return;
    }
    let s = &opts.scale;
    let value = keys::value();
    let traces = [
        zipf_trace("zipf 0.8", s.hit_keys, 0.8, s.hit_accesses),
        zipf_trace("zipf 1.0", s.hit_keys, 1.0, s.hit_accesses),
        scan_trace(s.hit_keys, s.hit_accesses),
    ];
    let universe = traces
        .iter()
        .flat_map(|t| t.accesses.iter().max())
        .max()
        .map_or(0, |&m| m as usize + 1);
    let keys = Keys::new(universe);
    for trace in &traces {
        for pct in CAPACITIES {
            let capacity = s.hit_keys as u64 * pct / 100;
            eprintln!("hit ratio: {} at capacity {pct}% ({capacity})", trace.name);
            let mut v = Replay {
                trace,
                capacity,
                variant: format!("capacity {pct}%"),
                keys: &keys,
                value: &value,
                results,
            };
            each_policy(&mut v);
        }
    }
}

fn zipf_trace(name: &'static str, n: usize, s: f64, len: usize) -> Trace {
    let zipf = Zipf::new(n, s);
    let scatter = Scatter::new(n, 7);
    let mut rng = Rng::new(0xBEEF);
    Trace {
        name,
        accesses: (0..len)
            .map(|_| scatter.map(zipf.sample(&mut rng)) as u32)
            .collect(),
    }
}

/// Zipf 0.9 over `n` keys for three accesses in four; the fourth is a key never seen
/// before or after (a scan). Halfway through, the popular keys change.
fn scan_trace(n: usize, len: usize) -> Trace {
    let zipf = Zipf::new(n, 0.9);
    let before = Scatter::new(n, 11);
    let after = Scatter::new(n, 13);
    let mut rng = Rng::new(0xFEED);
    let mut next_one_time = n as u32;
    let accesses = (0..len)
        .map(|i| {
            if rng.below(4) == 0 {
                next_one_time += 1;
                next_one_time - 1
            } else {
                let hot = if i < len / 2 { &before } else { &after };
                hot.map(zipf.sample(&mut rng)) as u32
            }
        })
        .collect();
    Trace {
        name: "scan-polluted",
        accesses,
    }
}

struct Replay<'a> {
    trace: &'a Trace,
    capacity: u64,
    variant: String,
    keys: &'a Keys,
    value: &'a [u8],
    results: &'a mut Results,
}

impl CacheVisitor for Replay<'_> {
    fn visit<A: KvAdapter>(&mut self) {
        let spec = CacheSpec {
            capacity: self.capacity,
            ttl: None,
            must_evict: true,
        };
        let Some(cache) = A::build(&spec) else {
            return;
        };
        let mut hits = 0u64;
        for &k in &self.trace.accesses {
            hits += u64::from(cache.get_or_insert(self.keys.get(k as usize), self.value));
        }
        let ratio = 100.0 * hits as f64 / self.trace.accesses.len() as f64;
        self.results.push(
            SECTION,
            self.trace.name,
            &self.variant,
            &A::name(),
            A::ours(),
            Summary::single(ratio),
            "%",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_trace_has_a_quarter_one_time_keys_and_shifts() {
        let n = 1000;
        let t = scan_trace(n, 40_000);
        let one_time = t.accesses.iter().filter(|&&k| k as usize >= n).count();
        assert!((9_000..11_000).contains(&one_time), "{one_time}");
        let mut seen = std::collections::HashSet::new();
        assert!(t
            .accesses
            .iter()
            .filter(|&&k| k as usize >= n)
            .all(|k| seen.insert(*k)));
        let top = |part: &[u32]| {
            let mut c = std::collections::HashMap::new();
            for &k in part.iter().filter(|&&k| (k as usize) < n) {
                *c.entry(k).or_insert(0) += 1;
            }
            c.into_iter().max_by_key(|&(_, v)| v).unwrap().0
        };
        assert_ne!(top(&t.accesses[..20_000]), top(&t.accesses[20_000..]));
    }
}
