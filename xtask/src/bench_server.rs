//! The "Server" section of `cargo xtask bench`: `kv-server` against `redis-server`,
//! both started here on loopback ports and driven by `redis-benchmark` in the same run,
//! interleaved (round 1 of kv, then redis; round 2 of redis, then kv; ...): SET, GET
//! and INCR with 50 clients at pipeline 1 and 16, (a) without fsync (kv `--sync no`, redis
//! `appendonly yes` + `appendfsync no`) and (b) durable (kv `--sync always`, redis
//! `appendfsync always`); then memory per key after loading the same keys into each.
//!
//! Its table goes into the report kv-bench wrote (before its "Notes"), so a full run
//! puts it in `docs/benchmarks.md` and `--quick` (CI) in `target/bench-report/`.
//! Without the tools it is skipped, except under `CI`, where that is an error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd::{cargo, exec, fresh_dir};

/// The name `--only` matches against.
pub(crate) const NAME: &str = "server";

/// The redis-benchmark tests run.
const TESTS: &[&str] = &["set", "get", "incr"];
const PIPELINES: &[u32] = &[1, 16];
const CLIENTS: u32 = 50;
/// Distinct keys the benchmark draws from, and the value size (kv-bench's).
const KEYSPACE: u32 = 100_000;
const VALUE_LEN: usize = 100;

struct Scale {
    rounds: usize,
    /// Requests per redis-benchmark run: (no fsync, durable) × (pipeline 1, 16).
    requests: [[u64; 2]; 2],
    /// Keys loaded for the memory figure.
    mem_keys: usize,
}

const FULL: Scale = Scale {
    rounds: 3,
    requests: [[200_000, 1_000_000], [50_000, 200_000]],
    mem_keys: 1_000_000,
};

const QUICK: Scale = Scale {
    rounds: 1,
    requests: [[5_000, 10_000], [500, 2_000]],
    mem_keys: 20_000,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    NoFsync,
    Durable,
}

impl Durability {
    fn label(self) -> &'static str {
        match self {
            Self::NoFsync => "no fsync (kv --sync no, redis appendfsync no)",
            Self::Durable => "durable (kv --sync always, redis appendfsync always)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Self::NoFsync => "no fsync",
            Self::Durable => "durable",
        }
    }
}

/// A server process, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_kv(bin: &Path, dir: &Path, sync: &str) -> Result<Server> {
    fresh_dir(dir)?;
    let mut child = Command::new(bin)
        .args(["--port", "0", "--sync", sync, "--dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .context("reading kv-server's startup line")?;
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "on")
        .nth(1)
        .and_then(|a| a.trim_end_matches(';').rsplit(':').next()?.parse().ok());
    let server = Server {
        child,
        port: port.unwrap_or(0),
    };
    if server.port == 0 {
        bail!("kv-server printed no address: {line:?}");
    }
    Ok(server)
}

fn start_redis(dir: &Path, fsync: Option<&str>) -> Result<Server> {
    fresh_dir(dir)?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ])
    .args(["--daemonize", "no", "--databases", "1"])
    .arg("--dir")
    .arg(dir);
    match fsync {
        Some(policy) => cmd.args(["--appendonly", "yes", "--appendfsync", policy]),
        None => cmd.args(["--appendonly", "no"]),
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting redis-server")?;
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("redis-server did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(server)
}

/// One redis-benchmark run's figures.
#[derive(Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn benchmark(port: u16, test: &str, pipeline: u32, requests: u64) -> Result<Run> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", test])
        .args(["-c", &CLIENTS.to_string(), "-P", &pipeline.to_string()])
        .args(["-n", &requests.to_string(), "-r", &KEYSPACE.to_string()])
        .args(["-d", &VALUE_LEN.to_string(), "--csv"])
        .stdin(Stdio::null())
        .output()
        .context("running redis-benchmark")?;
    if !out.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("\"{}\"", test.to_uppercase())))
        .with_context(|| format!("no {test} row in redis-benchmark's output:\n{text}"))?;
    let fields: Vec<f64> = row
        .split(',')
        .skip(1)
        .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
        .collect();
    // rps, avg, min, p50, p95, p99, max
    if fields.len() < 6 {
        bail!("unexpected redis-benchmark row {row:?}");
    }
    Ok(Run {
        rps: fields[0],
        p50_ms: fields[3],
        p99_ms: fields[5],
    })
}

/// Anonymous resident memory (heap) of a process, in bytes: the log's file-backed
/// pages that kv maps are page cache, not the server's own memory, and are left out.
fn rss_anon(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no RssAnon in /proc/PID/status")?;
    Ok(kb * 1024)
}

/// Loads `n` keys of 16 bytes with 100-byte values through pipelines of SETs.
fn load(port: u16, n: usize) -> Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let value = vec![b'v'; VALUE_LEN];
    let mut start = 0;
    while start < n {
        let end = (start + 1000).min(n);
        let mut out = Vec::new();
        for i in start..end {
            let key = format!("key:{i:012}");
            out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$16\r\n");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(format!("\r\n${VALUE_LEN}\r\n").as_bytes());
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
        s.write_all(&out)?;
        let mut replies = vec![0u8; 5 * (end - start)];
        s.read_exact(&mut replies)?;
        if replies.chunks(5).any(|r| r != b"+OK\r\n") {
            bail!(
                "a SET failed while loading: {:?}",
                String::from_utf8_lossy(&replies)
            );
        }
        start = end;
    }
    Ok(())
}

/// Bytes of heap per key after loading `n` keys into a fresh server.
fn memory_per_key(server: &Server, n: usize) -> Result<f64> {
    let before = rss_anon(server.child.id())?;
    load(server.port, n)?;
    let after = rss_anon(server.child.id())?;
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    durability: Durability,
    test: &'static str,
    pipeline: u32,
    kv: Vec<Run>,
    redis: Vec<Run>,
}

/// Runs the section if `only` selects it, and adds its table to `report`.
pub(crate) fn run(
    quick: bool,
    only: Option<&str>,
    report: &Path,
    data_dir: &Path,
    target: &Path,
) -> Result<()> {
    if only.is_some_and(|o| !NAME.contains(o)) {
        return Ok(());
    }
    let missing: Vec<&str> = ["redis-server", "redis-benchmark"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() {
        if std::env::var_os("CI").is_some() {
            bail!(
                "bench server: {} not installed (see .ci/run)",
                missing.join(", ")
            );
        }
        eprintln!(
            "bench server: skipped, {} not installed",
            missing.join(", ")
        );
        return Ok(());
    }
    // The quick scale only checks the harness: the debug build the tests made will do.
    let mut build = cargo();
    build.args(["build", "-p", "kv-server"]);
    if !quick {
        build.arg("--release");
    }
    exec(&mut build)?;
    let bin = target
        .join(if quick { "debug" } else { "release" })
        .join(format!("kv-server{}", std::env::consts::EXE_SUFFIX));
    let scale = if quick { &QUICK } else { &FULL };
    let dir = data_dir.join("server");
    let started = Instant::now();
    let mut rows = Vec::new();
    for (d, durability) in [Durability::NoFsync, Durability::Durable]
        .into_iter()
        .enumerate()
    {
        let (kv_sync, redis_fsync) = match durability {
            Durability::NoFsync => ("no", "no"),
            Durability::Durable => ("always", "always"),
        };
        let kv = start_kv(&bin, &dir.join(format!("kv-{kv_sync}")), kv_sync)?;
        let redis = start_redis(&dir.join(format!("redis-{redis_fsync}")), Some(redis_fsync))?;
        let mut these: Vec<Row> = Vec::new();
        for &test in TESTS {
            for &pipeline in PIPELINES {
                these.push(Row {
                    durability,
                    test,
                    pipeline,
                    kv: Vec::new(),
                    redis: Vec::new(),
                });
            }
        }
        for round in 0..scale.rounds {
            for row in &mut these {
                let n = scale.requests[d][usize::from(row.pipeline > 1)];
                // Alternate who goes first, so neither always runs on a warmer machine.
                let kv_first = round % 2 == 0;
                for first in [true, false] {
                    if first == kv_first {
                        row.kv.push(benchmark(kv.port, row.test, row.pipeline, n)?);
                    } else {
                        row.redis
                            .push(benchmark(redis.port, row.test, row.pipeline, n)?);
                    }
                }
                eprintln!(
                    "bench server: {} {} -P {} round {}: kv {:.0}/s, redis {:.0}/s",
                    durability.short(),
                    row.test,
                    row.pipeline,
                    round + 1,
                    row.kv.last().map_or(0.0, |r| r.rps),
                    row.redis.last().map_or(0.0, |r| r.rps)
                );
            }
        }
        rows.extend(these);
    }
    let kv = start_kv(&bin, &dir.join("kv-mem"), "no")?;
    let kv_mem = memory_per_key(&kv, scale.mem_keys)?;
    drop(kv);
    let redis = start_redis(&dir.join("redis-mem"), None)?;
    let redis_mem = memory_per_key(&redis, scale.mem_keys)?;
    drop(redis);
    let section = render(&rows, kv_mem, redis_mem, scale, quick, started.elapsed());
    insert_section(report, &section)?;
    eprintln!(
        "bench server: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn render(
    rows: &[Row],
    kv_mem: f64,
    redis_mem: f64,
    scale: &Scale,
    quick: bool,
    took: Duration,
) -> String {
    let profile = if quick { "debug" } else { "release" };
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(2)
                .unwrap_or("")
                .trim_start_matches("v=")
                .to_owned()
        })
        .unwrap_or_default();
    let mut s = String::new();
    s.push_str("## Server\n\n");
    s.push_str(&format!(
        "`kv-server` ({profile} build) against `redis-server` {version}, both started by the bench on loopback ports and \
         driven by `redis-benchmark` (`-c {CLIENTS}`, `-r {KEYSPACE}` random keys, `-d {VALUE_LEN}`-byte values) \
         in the same run; each figure is the median of {} interleaved rounds (kv first in odd rounds, redis first in \
         even ones). kv-server uses both cores (tokio's worker threads); Redis runs its commands on one. \
         `redis-benchmark` itself runs on the same 2 cores. The section took {:.0} s{}.\n\n",
        scale.rounds,
        took.as_secs_f64(),
        if quick { " (quick scale: tiny runs, figures not meaningful)" } else { "" }
    ));
    s.push_str("| workload | durability | pipeline | kv-server ops/s | redis ops/s | kv vs redis | kv p50 / p99 ms | redis p50 / p99 ms | target ≥ 1.0x |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let kv = median(r.kv.iter().map(|x| x.rps).collect());
        let redis = median(r.redis.iter().map(|x| x.rps).collect());
        let ratio = kv / redis;
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.2}x | {:.3} / {:.3} | {:.3} / {:.3} | {} |\n",
            r.test.to_uppercase(),
            r.durability.short(),
            r.pipeline,
            kv,
            redis,
            ratio,
            median(r.kv.iter().map(|x| x.p50_ms).collect()),
            median(r.kv.iter().map(|x| x.p99_ms).collect()),
            median(r.redis.iter().map(|x| x.p50_ms).collect()),
            median(r.redis.iter().map(|x| x.p99_ms).collect()),
            if ratio >= 1.0 { "met" } else { "**missed**" },
        ));
    }
    s.push_str(&format!(
        "\nDurability: {}; {}.\n\n",
        Durability::NoFsync.label(),
        Durability::Durable.label()
    ));
    s.push_str(&format!(
        "Memory per key: heap (`RssAnon`) grown by loading {} keys of 16 B with {VALUE_LEN}-byte values into a fresh \
         server (kv `--sync no`; redis without persistence), divided by the keys. kv's log pages mapped from its \
         segment files are page cache and left out.\n\n",
        scale.mem_keys
    ));
    s.push_str("| | kv-server | redis-server | kv vs redis | target: below redis |\n| --- | --- | --- | --- | --- |\n");
    s.push_str(&format!(
        "| bytes per key | {kv_mem:.1} | {redis_mem:.1} | {:.2}x | {} |\n\n",
        redis_mem / kv_mem,
        if kv_mem < redis_mem {
            "met"
        } else {
            "**missed**"
        }
    ));
    s
}

/// Puts `section` into the report before its "## Notes" (at the end if none).
fn insert_section(report: &Path, section: &str) -> Result<()> {
    let text = std::fs::read_to_string(report).unwrap_or_default();
    let out = match text.find("\n## Notes") {
        Some(at) => format!("{}\n{}{}", &text[..at], section, &text[at + 1..]),
        None => format!("{text}\n{section}"),
    };
    if let Some(parent) = report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(report, out).with_context(|| format!("writing {}", report.display()))
}

/// The target directory, for the binary's path.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_goes_before_the_notes() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-server-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let report = dir.join("benchmarks.md");
        std::fs::write(&report, "# B\n\n## Persistent\n\nx\n\n## Notes\n\nn\n").unwrap();
        insert_section(&report, "## Server\n\ns\n\n").unwrap();
        let text = std::fs::read_to_string(&report).unwrap();
        assert_eq!(
            text,
            "# B\n\n## Persistent\n\nx\n\n## Server\n\ns\n\n## Notes\n\nn\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
