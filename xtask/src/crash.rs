//! `cargo xtask crash-test [--rounds N]`: kill a writing child with SIGKILL, reopen,
//! and check that every acknowledged write survived.
//!
//! The child is kv-store's `crash_child` example. In `write` mode it opens a store
//! under sync-every-write (or the policy `--sync` names: SIGKILL is a process crash,
//! not a power loss, so the page cache keeps every acknowledged write under every
//! policy) and runs several threads, each on its own keys, doing puts, deletes,
//! batches, conditional sets (`nx`, `xx`) and increments of counters; before each
//! operation it prints `B <thread> <n> <op>`, and
//! after the operation returned, `A <thread> <n>` (each line flushed). The parent
//! kills it at a random moment, then runs it in `dump` mode, which reopens (recovers)
//! the store and prints every entry. Per thread, the recovered keys must equal the
//! state after all acknowledged operations, or that state plus the one operation that
//! was in flight, applied whole: so no acknowledged write is lost or stale, no deleted
//! key is back, a batch is all-or-nothing, a counter equals the acknowledged
//! increments (or one more, the one in flight), and a conditional set the model
//! refuses is never visible. The verified state is the baseline of
//! the next round, in the same directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};

use crate::cmd::{cargo, exec, root};

const DEFAULT_ROUNDS: u32 = 200;
const DEFAULT_THREADS: u32 = 4;
/// The longest a child writes before it is killed.
const MAX_RUN_MS: u64 = 250;

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut rounds = DEFAULT_ROUNDS;
    let mut threads = DEFAULT_THREADS;
    let mut seed = None;
    let mut release = false;
    let mut sync = "every".to_owned();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            let v = it.next().with_context(|| format!("{name} needs a value"))?;
            v.parse()
                .with_context(|| format!("{name}: `{v}` is not a whole number"))
        };
        match arg.as_str() {
            "--rounds" => rounds = u32::try_from(value("--rounds")?)?,
            "--threads" => threads = u32::try_from(value("--threads")?)?.max(1),
            "--seed" => seed = Some(value("--seed")?),
            "--release" => release = true,
            "--sync" => {
                sync = it
                    .next()
                    .context("--sync needs every, interval or never")?
                    .clone();
                ensure!(
                    ["every", "interval", "never"].contains(&sync.as_str()),
                    "--sync: `{sync}` is not every, interval or never"
                );
            }
            other => bail!("crash-test: unexpected argument `{other}`"),
        }
    }
    let seed = seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    eprintln!(
        "crash-test: {rounds} rounds, {threads} threads, seed {seed} (--seed {seed} repeats it)"
    );

    let mut build = cargo();
    build.args(["build", "-p", "kv-store", "--example", "crash_child"]);
    if release {
        build.arg("--release");
    }
    exec(&mut build)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let child = target_dir
        .join(if release { "release" } else { "debug" })
        .join("examples")
        .join("crash_child");
    ensure!(
        child.is_file(),
        "the child binary is not at {}",
        child.display()
    );

    let work = target_dir.join("crash-test").join(seed.to_string());
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;
    let dir = work.join("data");

    let mut rng = Rng(seed | 1);
    let mut state = BTreeMap::new();
    let started = Instant::now();
    let mut acked_total = 0usize;
    for round in 0..rounds {
        let round_seed = rng.next();
        let kill_after = Duration::from_millis(rng.below(MAX_RUN_MS));
        let lines = run_writer(&child, &dir, round, threads, round_seed, &sync, kill_after)
            .with_context(|| format!("round {round}: the writer"))?;
        let history = History::parse(&lines, threads)
            .with_context(|| format!("round {round}: the writer's output"))?;
        acked_total += history.acked;
        let recovered =
            dump(&child, &dir, round).with_context(|| format!("round {round}: reopening"))?;
        check(&state, &history, &recovered, threads).with_context(|| {
            format!(
                "round {round} (seed {seed}, killed after {kill_after:?}): recovered state is wrong; data kept in {}",
                dir.display()
            )
        })?;
        state = recovered;
        if round % 20 == 19 || round + 1 == rounds {
            eprintln!(
                "crash-test: {} rounds ok, {acked_total} acknowledged operations checked, {} keys live, {:.1} s",
                round + 1,
                state.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    std::fs::remove_dir_all(&work).ok();
    eprintln!("crash-test: ok");
    Ok(())
}

/// Runs the child in write mode and kills it with SIGKILL `kill_after` after it said
/// it is ready; returns every line it printed.
fn run_writer(
    child: &Path,
    dir: &Path,
    round: u32,
    threads: u32,
    seed: u64,
    sync: &str,
    kill_after: Duration,
) -> Result<Vec<String>> {
    let mut proc = Command::new(child)
        .arg("write")
        .arg(dir)
        .arg(round.to_string())
        .arg(threads.to_string())
        .arg(seed.to_string())
        .arg(sync)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", child.display()))?;
    let stdout = proc.stdout.take().context("no stdout")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || -> std::io::Result<Vec<String>> {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if line == "ready" {
                let _ = ready_tx.send(());
            }
            lines.push(line);
        }
        Ok(lines)
    });
    // Opening (recovery) is not what is being timed: the clock starts at "ready".
    let ready = ready_rx.recv_timeout(Duration::from_secs(60));
    if ready.is_ok() {
        std::thread::sleep(kill_after);
    }
    // `Child::kill` sends SIGKILL on Unix: no destructor, no flush, no close runs.
    let _ = proc.kill();
    let status = proc.wait()?;
    let lines = reader.join().expect("reader thread panicked")?;
    if ready.is_err() {
        bail!("the writer never became ready (exit {status}); output: {lines:?}");
    }
    Ok(lines)
}

/// Runs the child in dump mode: reopens the store and returns its entries.
fn dump(child: &Path, dir: &Path, round: u32) -> Result<BTreeMap<String, String>> {
    let out = Command::new(child)
        .arg("dump")
        .arg(dir)
        .arg(round.to_string())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {}", child.display()))?;
    ensure!(out.status.success(), "dump exited with {}", out.status);
    let text = String::from_utf8(out.stdout).context("dump output is not UTF-8")?;
    let mut entries = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split(' ');
        match words.next() {
            Some("K") => {
                let (Some(k), Some(v)) = (words.next(), words.next()) else {
                    bail!("bad dump line `{line}`");
                };
                ensure!(
                    entries.insert(k.to_owned(), v.to_owned()).is_none(),
                    "key {k} listed twice"
                );
            }
            Some("R") => {}
            _ => bail!("bad dump line `{line}`"),
        }
    }
    Ok(entries)
}

/// One operation of the child, as it announced it.
#[derive(Debug, Clone)]
enum Op {
    Put(String, String),
    Del(String),
    /// Puts (`Some`) and deletes (`None`), applied atomically.
    Batch(Vec<(String, Option<String>)>),
    /// Adds to the decimal counter (absent: 0).
    Incr(String, i64),
    /// Sets only if absent.
    SetIfAbsent(String, String),
    /// Sets only if present.
    SetIfPresent(String, String),
}

impl Op {
    fn parse(words: &[&str]) -> Result<Self> {
        Ok(match words {
            ["put", k, v] => Self::Put((*k).to_owned(), (*v).to_owned()),
            ["del", k] => Self::Del((*k).to_owned()),
            ["incr", k, d] => Self::Incr((*k).to_owned(), d.parse()?),
            ["nx", k, v] => Self::SetIfAbsent((*k).to_owned(), (*v).to_owned()),
            ["xx", k, v] => Self::SetIfPresent((*k).to_owned(), (*v).to_owned()),
            ["batch", ops] => Self::Batch(
                ops.split(',')
                    .map(|op| match op.strip_prefix('-') {
                        Some(k) => Ok((k.to_owned(), None)),
                        None => {
                            let (k, v) = op.split_once('=').context("batch op without `=`")?;
                            Ok((k.to_owned(), Some(v.to_owned())))
                        }
                    })
                    .collect::<Result<_>>()?,
            ),
            _ => bail!("unknown operation {words:?}"),
        })
    }

    fn apply(&self, state: &mut BTreeMap<String, String>) -> Result<()> {
        match self {
            Self::Put(k, v) => {
                state.insert(k.clone(), v.clone());
            }
            Self::Incr(k, d) => {
                let old: i64 = match state.get(k) {
                    Some(v) => v
                        .parse()
                        .with_context(|| format!("counter {k} holds {v}"))?,
                    None => 0,
                };
                state.insert(k.clone(), (old + d).to_string());
            }
            Self::SetIfAbsent(k, v) => {
                state.entry(k.clone()).or_insert_with(|| v.clone());
            }
            Self::SetIfPresent(k, v) => {
                if let Some(old) = state.get_mut(k) {
                    old.clone_from(v);
                }
            }
            Self::Del(k) => {
                state.remove(k);
            }
            Self::Batch(ops) => {
                for (k, v) in ops {
                    match v {
                        Some(v) => state.insert(k.clone(), v.clone()),
                        None => state.remove(k),
                    };
                }
            }
        }
        Ok(())
    }
}

/// Each thread's acknowledged operations, in order, and the one it had in flight.
#[derive(Debug, Default)]
struct History {
    acked_ops: Vec<Vec<Op>>,
    in_flight: Vec<Option<Op>>,
    acked: usize,
}

impl History {
    fn parse(lines: &[String], threads: u32) -> Result<Self> {
        let n = threads as usize;
        let mut h = History {
            acked_ops: vec![Vec::new(); n],
            in_flight: vec![None; n],
            acked: 0,
        };
        let mut begun: Vec<Option<(u64, Op)>> = vec![None; n];
        // A killed child may leave a half line at the very end: ignore only that one.
        let complete = lines.len().saturating_sub(1);
        for (i, line) in lines.iter().enumerate() {
            let words: Vec<&str> = line.split(' ').collect();
            let parsed = match words.as_slice() {
                ["ready"] => Ok(()),
                ["B", t, seq, op @ ..] => (|| {
                    let t: usize = t.parse()?;
                    let seq: u64 = seq.parse()?;
                    let op = Op::parse(op)?;
                    ensure!(t < n, "thread {t} out of range");
                    ensure!(begun[t].is_none(), "thread {t} began two operations");
                    begun[t] = Some((seq, op));
                    Ok(())
                })(),
                ["A", t, seq] => (|| {
                    let t: usize = t.parse()?;
                    let seq: u64 = seq.parse()?;
                    ensure!(t < n, "thread {t} out of range");
                    let Some((b, op)) = begun[t].take() else {
                        bail!("thread {t} acknowledged {seq} without beginning it")
                    };
                    ensure!(b == seq, "thread {t} acknowledged {seq} but began {b}");
                    h.acked_ops[t].push(op);
                    h.acked += 1;
                    Ok(())
                })(),
                _ => Err(anyhow::anyhow!("unrecognised")),
            };
            if let Err(e) = parsed {
                if i >= complete {
                    break;
                }
                bail!("line {i} `{line}`: {e}");
            }
        }
        for (t, b) in begun.into_iter().enumerate() {
            h.in_flight[t] = b.map(|(_, op)| op);
        }
        Ok(h)
    }
}

/// The thread that owns a key (`t<t>k<i>`) or a counter (`t<t>c<i>`), see the child.
fn owner(key: &str) -> Option<usize> {
    key.strip_prefix('t')?
        .split_once(['k', 'c'])?
        .0
        .parse()
        .ok()
}

fn check(
    before: &BTreeMap<String, String>,
    history: &History,
    recovered: &BTreeMap<String, String>,
    threads: u32,
) -> Result<()> {
    for (k, _) in recovered.iter().chain(before.iter()) {
        ensure!(
            owner(k).is_some_and(|t| t < threads as usize),
            "unexpected key {k}"
        );
    }
    for t in 0..threads as usize {
        let mine = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .filter(|(k, _)| owner(k) == Some(t))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let mut acked = mine(before);
        for op in &history.acked_ops[t] {
            op.apply(&mut acked)?;
        }
        let got = mine(recovered);
        if got == acked {
            continue;
        }
        if let Some(op) = &history.in_flight[t] {
            let mut with = acked.clone();
            op.apply(&mut with)?;
            if got == with {
                continue;
            }
            bail!(
                "thread {t}: recovered {} but the acknowledged state is {} (or, with the in-flight {op:?}, {})",
                diff(&got, &acked),
                describe(&acked),
                describe(&with)
            );
        }
        bail!(
            "thread {t}: recovered differs from the acknowledged state: {}",
            diff(&got, &acked)
        );
    }
    Ok(())
}

fn describe(m: &BTreeMap<String, String>) -> String {
    format!("{} keys", m.len())
}

fn diff(got: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> String {
    let mut out = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => out.push(format!("{k} lost (want {v})")),
            Some(g) if g != v => out.push(format!("{k}={g} stale (want {v})")),
            _ => {}
        }
    }
    for (k, g) in got {
        if !want.contains_key(k) {
            out.push(format!("{k}={g} is back"));
        }
    }
    out.truncate(10);
    out.join(", ")
}

/// xorshift64*: enough randomness for kill times, with a printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn acknowledged_and_in_flight_operations_are_told_apart() {
        let h = History::parse(
            &lines("ready\nB 0 0 put t0k1 a\nA 0 0\nB 1 0 batch t1k1=x,-t1k2\nB 0 1 del t0k1"),
            2,
        )
        .unwrap();
        assert_eq!(h.acked, 1);
        assert!(matches!(h.in_flight[0], Some(Op::Del(_))));
        assert!(matches!(h.in_flight[1], Some(Op::Batch(_))));
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_a_torn_middle_line_is_not() {
        assert!(History::parse(&lines("ready\nB 0 0 put t0k1 a\nA 0"), 1).is_ok());
        assert!(History::parse(&lines("ready\nB 0 0 pu\nA 0 0"), 1).is_err());
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn the_check_accepts_exactly_the_acknowledged_state_or_the_in_flight_op_whole() {
        let before = map(&[("t0k1", "old"), ("t0k2", "keep")]);
        let h = History::parse(
            &lines("ready\nB 0 0 put t0k1 new\nA 0 0\nB 0 1 batch t0k3=x,-t0k2"),
            1,
        )
        .unwrap();
        let acked = map(&[("t0k1", "new"), ("t0k2", "keep")]);
        let with = map(&[("t0k1", "new"), ("t0k3", "x")]);
        check(&before, &h, &acked, 1).unwrap();
        check(&before, &h, &with, 1).unwrap();
        // Lost write, stale value, half a batch, a deleted key back: all rejected.
        assert!(check(&before, &h, &map(&[("t0k2", "keep")]), 1).is_err());
        assert!(check(&before, &h, &map(&[("t0k1", "old"), ("t0k2", "keep")]), 1).is_err());
        assert!(check(
            &before,
            &h,
            &map(&[("t0k1", "new"), ("t0k2", "keep"), ("t0k3", "x")]),
            1
        )
        .is_err());
        let after_del = History::parse(&lines("B 0 0 del t0k2\nA 0 0"), 1).unwrap();
        assert!(check(&before, &after_del, &before, 1).is_err());
    }

    #[test]
    fn counters_count_acknowledged_increments_and_refused_sets_stay_invisible() {
        let before = map(&[("t0c0", "5"), ("t0k1", "old")]);
        let h = History::parse(
            &lines("B 0 0 incr t0c0 2\nA 0 0\nB 0 1 nx t0k1 new\nA 0 1\nB 0 2 incr t0c0 3"),
            1,
        )
        .unwrap();
        // 5 + 2 acknowledged, the in-flight +3 whole or not at all; `nx` on a present
        // key changed nothing.
        check(&before, &h, &map(&[("t0c0", "7"), ("t0k1", "old")]), 1).unwrap();
        check(&before, &h, &map(&[("t0c0", "10"), ("t0k1", "old")]), 1).unwrap();
        assert!(check(&before, &h, &map(&[("t0c0", "5"), ("t0k1", "old")]), 1).is_err());
        assert!(check(&before, &h, &map(&[("t0c0", "7"), ("t0k1", "new")]), 1).is_err());
    }
}
