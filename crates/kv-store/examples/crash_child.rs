//! The child process of `cargo xtask crash-test` (see `xtask/src/crash.rs`).
//!
//! `crash_child write <dir> <round> <threads> <seed> [every|interval|never]` opens a
//! store under that sync policy (default: every write) and runs `threads` writer
//! threads, thread `t` owning the keys `t<t>k<i>` (puts, deletes, batches and
//! conditional sets: `nx` only if absent, `xx` only if present) and the counters
//! `t<t>c<i>` (increments); before each operation it prints `B <t> <n> <op>`, after it
//! returned `A <t> <n>`, each line flushed. It runs until killed.
//!
//! `crash_child dump <dir> <round>` reopens (recovers) the store, prints `K <key>
//! <value>` per entry and an `R` line with the recovery figures, and closes.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kv_store::{Batch, Options, SetOptions, Store, SyncPolicy};

/// Keys per thread: small, so overwrites and deletes hit live keys often.
const KEYS_PER_THREAD: u64 = 24;
/// Counters per thread: few, so each is incremented many times.
const COUNTERS_PER_THREAD: u64 = 3;

fn options(dir: &str, sync: SyncPolicy) -> Options {
    Options::new()
        .dir(dir)
        .sync(sync)
        // Small segments and frequent snapshots, so rotation, snapshots and log
        // truncation all happen within a round and can be interrupted.
        .segment_size(64 * 1024)
        .snapshot_interval(Some(Duration::from_millis(40)))
        .compaction_threshold(50)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["write", dir, round, threads, seed] => write(
            dir,
            round.parse()?,
            threads.parse()?,
            seed.parse()?,
            SyncPolicy::EveryWrite,
        ),
        ["write", dir, round, threads, seed, sync] => {
            let sync = match *sync {
                "every" => SyncPolicy::EveryWrite,
                "interval" => SyncPolicy::Interval(Duration::from_millis(50)),
                "never" => SyncPolicy::Never,
                other => bail!("unknown sync policy `{other}`"),
            };
            write(dir, round.parse()?, threads.parse()?, seed.parse()?, sync)
        }
        ["dump", dir, round] => dump(dir, round.parse()?),
        _ => bail!(
            "usage: crash_child write <dir> <round> <threads> <seed> [every|interval|never] | dump <dir> <round>"
        ),
    }
}

fn write(dir: &str, round: u64, threads: u64, seed: u64, sync: SyncPolicy) -> Result<()> {
    let store = Store::open(options(dir, sync)).context("open")?;
    println!("ready");
    std::io::stdout().flush()?;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || writer(&store, round, t, seed ^ ((t + 1) * 0x9E37_79B9)))
        })
        .collect();
    for h in handles {
        h.join().expect("writer panicked")?;
    }
    Ok(())
}

fn say(line: String) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

fn writer(store: &Store, round: u64, t: u64, seed: u64) -> Result<()> {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for n in 0.. {
        let key = |i: u64| format!("t{t}k{i}");
        let value = |i: u64| format!("r{round}.{n}.{i}");
        match next() % 13 {
            0..=4 => {
                let (k, v) = (key(next() % KEYS_PER_THREAD), value(0));
                say(format!("B {t} {n} put {k} {v}"))?;
                store.set(k.as_bytes(), v.as_bytes())?;
            }
            10 => {
                let c = format!("t{t}c{}", next() % COUNTERS_PER_THREAD);
                let delta = (next() % 7) as i64 - 2;
                say(format!("B {t} {n} incr {c} {delta}"))?;
                store.incr(c.as_bytes(), delta)?;
            }
            11 | 12 => {
                let (k, v) = (key(next() % KEYS_PER_THREAD), value(9));
                let (name, opts) = if next() % 2 == 0 {
                    ("nx", SetOptions::new().if_absent())
                } else {
                    ("xx", SetOptions::new().if_present())
                };
                say(format!("B {t} {n} {name} {k} {v}"))?;
                store.set_with(k.as_bytes(), v.as_bytes(), &opts)?;
            }
            5..=7 => {
                let k = key(next() % KEYS_PER_THREAD);
                say(format!("B {t} {n} del {k}"))?;
                store.delete(k.as_bytes())?;
            }
            _ => {
                let mut batch = Batch::new();
                let mut text = Vec::new();
                for i in 0..2 + next() % 4 {
                    let k = key(next() % KEYS_PER_THREAD);
                    if next() % 3 == 0 {
                        batch.delete(k.as_bytes());
                        text.push(format!("-{k}"));
                    } else {
                        let v = value(i);
                        batch.put(k.as_bytes(), v.as_bytes());
                        text.push(format!("{k}={v}"));
                    }
                }
                say(format!("B {t} {n} batch {}", text.join(",")))?;
                store.apply(&batch)?;
            }
        }
        say(format!("A {t} {n}"))?;
    }
    Ok(())
}

fn dump(dir: &str, round: u64) -> Result<()> {
    // Every other round closes without a final snapshot, so the next recovery also
    // replays log records written before this open.
    let store = Store::open(
        options(dir, SyncPolicy::EveryWrite).snapshot_on_close(round.is_multiple_of(2)),
    )
    .context("reopen")?;
    let report = store.recovery().clone();
    let mut out = std::io::stdout().lock();
    for (k, v) in store.iter()? {
        writeln!(
            out,
            "K {} {}",
            String::from_utf8(k).context("key")?,
            std::str::from_utf8(&v).context("value")?
        )?;
    }
    writeln!(
        out,
        "R snapshot_entries={} replayed={} bytes_cut={} skipped={}",
        report.snapshot_entries,
        report.records_replayed,
        report.bytes_cut,
        report.snapshots_skipped.len()
    )?;
    out.flush()?;
    store.close().context("close")?;
    Ok(())
}
