//! The markdown report and its SVG charts, regenerated from one run's figures.

use std::fmt::Write;

use crate::config::Options;
use crate::limits;
use crate::machine::Machine;
use crate::results::{fmt_num, Measurement, Results};
use crate::suite::{durable, hit_ratio, inmem, memory};
use crate::svg::{Chart, Series};
use crate::targets::{self, row_keys, Check};

/// Writes the report and its charts where `opts` says.
pub(crate) fn write(
    opts: &Options,
    machine: &Machine,
    r: &Results,
    seconds: f64,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.charts_dir)?;
    if let Some(parent) = opts.report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let charts = charts(r);
    for (file, chart) in &charts {
        std::fs::write(opts.charts_dir.join(file), chart.render())?;
    }
    let md = markdown(opts, machine, r, &targets::evaluate(r), &charts, seconds);
    std::fs::write(&opts.report, md)?;
    eprintln!("report: {}", opts.report.display());
    Ok(())
}

/// The charts worth drawing from `r`, with their file names.
fn charts(r: &Results) -> Vec<(String, Chart)> {
    let mut out = Vec::new();
    let mut add = |file: &str, title: &str, unit: &str, section: &str, scale: f64, log: bool| {
        let rows = row_keys(r, section);
        if rows.is_empty() {
            return;
        }
        let groups = rows
            .iter()
            .map(|(w, v)| format!("{}\n{}", short(w), short(v)))
            .collect();
        let series = contenders(r, section)
            .into_iter()
            .map(|(name, ours)| Series {
                values: rows
                    .iter()
                    .map(|(w, v)| r.median(section, w, v, &name).map(|x| x / scale))
                    .collect(),
                name,
                ours,
            })
            .collect();
        out.push((
            file.to_owned(),
            Chart {
                title: title.to_owned(),
                unit: unit.to_owned(),
                groups,
                series,
                log,
            },
        ));
    };
    add(
        "inmem-throughput.svg",
        "In-memory throughput by workload and threads (higher is better)",
        "ops/s",
        inmem::SECTION,
        1.0,
        false,
    );
    add(
        "hit-ratio.svg",
        "Hit ratio by trace and capacity (higher is better)",
        "hit ratio %",
        hit_ratio::SECTION,
        1.0,
        false,
    );
    add(
        "persistent.svg",
        "Persistent sets by sync mode and threads (log scale, higher is better)",
        "sets/s",
        durable::SECTION,
        1.0,
        true,
    );
    out
}

/// Chart labels: "1 thread" → "1T", "capacity 10%" → "10%", "sets, sync never" →
/// "sync never", "batches of 1000, sync every batch" → "batches of 1000".
fn short(label: &str) -> String {
    label
        .replace(" threads", "T")
        .replace(" thread", "T")
        .replace("capacity ", "")
        .replace("sets, sync ", "sync ")
        .replace(", sync every batch", "")
}

/// The contenders of a section, in order of first appearance, with whether each is ours.
fn contenders(r: &Results, section: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for m in r.items.iter().filter(|m| m.section == section) {
        if !out.iter().any(|(n, _)| *n == m.contender) {
            out.push((m.contender.clone(), m.ours));
        }
    }
    out
}

/// A figure in the unit's natural scale.
pub(crate) fn fmt_value(m: &Measurement, v: f64) -> String {
    match m.unit {
        "%" => format!("{v:.2}%"),
        "B/s" => format!("{:.0} MB/s", v / 1e6),
        "ns" if v >= 1e6 => format!("{:.2} ms", v / 1e6),
        "ns" => format!("{:.1} µs", v / 1e3),
        "s" => format!("{v:.3} s"),
        "B" if v >= 1e6 => format!("{:.1} MB", v / 1e6),
        "B" if v >= 1e4 => format!("{:.0} KB", v / 1e3),
        "B" => format!("{v:.1} B"),
        _ => fmt_num(v),
    }
}

fn cell(m: &Measurement) -> String {
    let s = &m.summary;
    if s.runs > 1 {
        format!(
            "{} ({}–{})",
            fmt_value(m, s.median),
            fmt_value(m, s.min),
            fmt_value(m, s.max)
        )
    } else {
        fmt_value(m, s.median)
    }
}

/// One table per section: a row per (workload, variant), a column per contender, then
/// the ratio of our first contender to each peer.
fn table(r: &Results, section: &str, higher_is_better: bool) -> String {
    let rows = row_keys(r, section);
    if rows.is_empty() {
        return "_Not measured in this run._\n".to_owned();
    }
    let cols = contenders(r, section);
    let ours: Vec<&(String, bool)> = cols.iter().filter(|(_, o)| *o).collect();
    let peers: Vec<&(String, bool)> = cols.iter().filter(|(_, o)| !*o).collect();
    let mut s = String::new();
    s.push_str("| workload | variant |");
    for (name, o) in &cols {
        if *o {
            let _ = write!(s, " **{name}** |");
        } else {
            let _ = write!(s, " {name} |");
        }
    }
    let primary = ours.first().map(|(n, _)| n.clone());
    if let Some(p) = &primary {
        for (peer, _) in &peers {
            let _ = write!(s, " {p} vs {peer} |");
        }
    }
    s.push('\n');
    let n = 2 + cols.len() + if primary.is_some() { peers.len() } else { 0 };
    s.push_str(&"| --- ".repeat(n));
    s.push_str("|\n");
    for (w, v) in &rows {
        let _ = write!(s, "| {w} | {v} |");
        for (name, _) in &cols {
            match r.find(section, w, v, name) {
                Some(m) => {
                    let _ = write!(s, " {} |", cell(m));
                }
                None => s.push_str(" n/a |"),
            }
        }
        if let Some(p) = &primary {
            for (peer, _) in &peers {
                match (r.median(section, w, v, p), r.median(section, w, v, peer)) {
                    (Some(a), Some(b)) if b > 0.0 && a > 0.0 => {
                        let ratio = if higher_is_better { a / b } else { b / a };
                        let _ = write!(s, " {ratio:.2}x |");
                    }
                    _ => s.push_str(" — |"),
                }
            }
        }
        s.push('\n');
    }
    s
}

/// Our durable figures as a fraction of the physical limit each is bound by.
fn fractions(r: &Results) -> String {
    use crate::adapter::SyncMode;
    use crate::ours::STORE;
    let every = durable::sets_workload(SyncMode::EveryWrite);
    let one = inmem::threads_label(1);
    let fsync = r
        .median(durable::SECTION, &every, &one, crate::disk_limit::DISK)
        .or_else(|| r.median(limits::SECTION, limits::FSYNC, "one thread", "disk"));
    let seq_w = r.median(
        limits::SECTION,
        limits::SEQ_WRITE,
        "1 MiB writes, then fsync",
        "disk",
    );
    let seq_r = r.median(
        limits::SECTION,
        limits::SEQ_READ,
        "1 MiB reads after fadvise(DONTNEED)",
        "disk",
    );
    let first = |section: &str, workload: &str, who: &str| {
        r.items
            .iter()
            .find(|m| m.section == section && m.workload == workload && m.contender == who)
            .map(|m| m.summary.median)
    };
    // (our figure, its value, the limit's name, the limit, the unit of both)
    type Row<'a> = (String, Option<f64>, &'a str, Option<f64>, &'a str);
    let rows: Vec<Row<'_>> = vec![
        (
            format!("{STORE}: {every}, 1 thread"),
            r.median(durable::SECTION, &every, &one, STORE),
            "4 KiB overwrite + fdatasync",
            fsync,
            "ops/s",
        ),
        (
            "kv-wal (log only): sets, sync every write, 1 thread".to_owned(),
            r.median(durable::SECTION, &every, &one, crate::ours::kv_wal::WAL),
            "4 KiB overwrite + fdatasync",
            fsync,
            "ops/s",
        ),
        (
            format!("{STORE}: recovery from the log"),
            first(durable::REOPEN, "recovery from the log", STORE),
            "sequential read (cold)",
            seq_r,
            "B/s",
        ),
        (
            "kv-wal: replay".to_owned(),
            first(durable::REOPEN, "WAL replay", "kv-wal"),
            "sequential read (cold)",
            seq_r,
            "B/s",
        ),
        (
            "kv-snapshot: write".to_owned(),
            first(durable::REOPEN, "snapshot write", "kv-snapshot"),
            "sequential write",
            seq_w,
            "B/s",
        ),
        (
            "kv-snapshot: load (cold cache)".to_owned(),
            first(durable::REOPEN, "snapshot load (cold cache)", "kv-snapshot"),
            "sequential read (cold)",
            seq_r,
            "B/s",
        ),
    ];
    let show = |v: f64, unit: &str| {
        if unit == "B/s" {
            format!("{:.0} MB/s", v / 1e6)
        } else {
            format!("{}/s", fmt_num(v))
        }
    };
    let mut s = String::from(
        "| our figure | value | bound by | limit | fraction |\n| --- | --- | --- | --- | --- |\n",
    );
    let mut any = false;
    for (name, ours, limit_name, limit, unit) in rows {
        if let (Some(o), Some(l)) = (ours, limit) {
            any = true;
            let _ = writeln!(
                s,
                "| {name} | {} | {limit_name} | {} | {:.2} |",
                show(o, unit),
                show(l, unit),
                o / l
            );
        }
    }
    if any {
        s
    } else {
        "_Not measured in this run._\n".to_owned()
    }
}

fn markdown(
    opts: &Options,
    m: &Machine,
    r: &Results,
    checks: &[Check],
    charts: &[(String, Chart)],
    seconds: f64,
) -> String {
    let mut s = String::new();
    let chart = |s: &mut String, file: &str| {
        if charts.iter().any(|(f, _)| f == file) {
            let _ = writeln!(s, "![{file}]({}/{file})\n", opts.charts_link);
        }
    };
    s.push_str("# Benchmarks\n\n");
    s.push_str("<!-- Generated by `cargo xtask bench`; edit crates/kv-bench/src/report.rs, not this file. -->\n\n");
    s.push_str(
        "kv side by side with the stores a user would pick instead — moka, quick_cache and \
         dashmap in memory; fjall and redb on disk — measured in the same process run, \
         so ratios hold on a noisy shared machine. The disk's and memory's physical limits \
         are measured in the same run too.\n\n",
    );
    s.push_str(
        "How to read the tables: each figure is the median of the runs, with the range in \
         brackets. A column `ours vs peer` says how many times better our first contender \
         is: our figure ÷ theirs where higher is better (throughput, hit ratio, bandwidth), \
         theirs ÷ ours where lower is better (latency, time, bytes); above 1.00x we lead.\n\n",
    );
    s.push_str("## Machine and command\n\n");
    let _ = writeln!(s, "| | |\n| --- | --- |");
    let _ = writeln!(s, "| command | `{}` |", opts.command);
    let _ = writeln!(s, "| date | {} (run took {:.0} s) |", m.date, seconds);
    let _ = writeln!(s, "| cpu | {} × {} cores |", m.cpu, m.cores);
    let _ = writeln!(s, "| memory | {:.1} GiB |", m.memory_gib);
    let _ = writeln!(s, "| kernel | {} |", m.kernel);
    let _ = writeln!(
        s,
        "| load average (1 min) | {} at the start, {} at the end (the machine is shared; \
         ratios from one run hold better than absolute figures) |",
        m.load_at_start,
        crate::machine::load_average()
    );
    let _ = writeln!(
        s,
        "| data directory | `{}`, {} |",
        opts.data_dir.display(),
        m.disk
    );
    let _ = writeln!(s, "| compiler | {} (release profile) |", m.rustc);
    let _ = writeln!(
        s,
        "| scale | {} |\n",
        if opts.scale.quick {
            "quick (harness check, figures meaningless)"
        } else {
            "full"
        }
    );

    s.push_str(
        "## Targets\n\nFrom the issue; ratios are from this one run. A missed target stays here as \
         missed. The in-memory runs interleave (run 1 of every contender, then run 2, ...), so a \
         ratio there is judged run by run: the median of ours ÷ the peer over the pairs of runs \
         taken back to back, which a burst of load on the shared machine skews less than the \
         ratio of the two medians (shown beside it).\n\n",
    );
    s.push_str("| target | figures | verdict |\n| --- | --- | --- |\n");
    for c in checks {
        let _ = writeln!(s, "| {} | {} | {} |", c.target, c.figure, c.verdict.label());
    }
    s.push('\n');

    s.push_str("## Physical limits\n\nThe ceiling any store on this machine works under. Overwrite + fdatasync is the most \
                single-threaded durable writes per second the disk allows.\n\n");
    s.push_str(&table(r, limits::SECTION, true));

    s.push_str("\n## In-memory throughput\n\n");
    let _ = writeln!(
        s,
        "Operations per second, median of {} runs (range in brackets), {} keys of 16 B with 100-byte \
         values. get, get75-set25, set and incr draw keys from Zipf 0.99 with every key present \
         (capacity twice the keys); incr adds 1 to a counter stored as decimal ASCII (every key \
         starts at \"0\"), as one atomic read-modify-write of the contender's own: `Cache::incr` \
         and `Store::incr` for ours, `get_mut` (else `entry().and_modify().or_insert_with()`) \
         for dashmap, `entry` with a placeholder for quick_cache, `and_compute_with` for moka, \
         each parsing, adding and formatting the decimal as kv does; churn is get-or-insert over Zipf 1.0 on {} keys with capacity {} (evicting \
         constantly); churn-ttl is the same with a one-hour TTL on every entry \
         (with `kv-core (no TTL)`, the same engine without it, run interleaved as the control \
         for the TTL's cost). Key streams are \
         generated before timing; each contender gets the same streams, and each timed run lasts \
         about {} s (a slower contender walks shorter windows of the same streams; each run takes \
         the next window, after an untimed warm-up pass over the first quarter). \
         fill inserts the {} keys into an empty cache (room for twice as many, no TTL), each \
         thread its own contiguous share, in ops/s of the whole fill, median of {} runs; every \
         run is a child process of its own, so that each contender starts from a pristine heap \
         (in one process, the allocator's state after a million-entry cache is dropped slows \
         whoever fills next), which builds a fresh cache (untimed) and fills it (timed, with \
         any deferred maintenance the contender does before it holds every key: moka's \
         pending tasks).\n",
        opts.scale.runs,
        fmt_num(opts.scale.keys as f64),
        fmt_num(opts.scale.churn_keys as f64),
        fmt_num(opts.scale.churn_capacity as f64),
        opts.scale.run_seconds,
        fmt_num(opts.scale.keys as f64),
        opts.scale.fill_runs,
    );
    chart(&mut s, "inmem-throughput.svg");
    s.push_str(&table(r, inmem::SECTION, true));
    s.push_str("\nHit ratio during the churn runs:\n\n");
    s.push_str(&table(r, inmem::CHURN_HITS, true));

    s.push_str("\n## Hit ratio\n\n");
    let _ = writeln!(
        s,
        "One thread, get-or-insert, {} accesses over {} keys; capacity 1% and 10% of the keys. \
         scan-polluted: a quarter of accesses are keys seen once, the rest Zipf 0.9, and the hot \
         set changes halfway. The Redis-style references sample 5 keys per eviction and evict \
         the least recently used: `redis sampled-LRU(5)` from those 5 alone (the reference of \
         the targets), `redis LRU(5) + pool` through Redis's pool of the 16 most idle \
         candidates, as Redis ships it. get-or-insert is a get, then a set on a miss, for \
         every contender alike.\n",
        fmt_num(opts.scale.hit_accesses as f64),
        fmt_num(opts.scale.hit_keys as f64)
    );
    chart(&mut s, "hit-ratio.svg");
    s.push_str(&table(r, hit_ratio::SECTION, true));

    s.push_str("\n## Memory per entry\n\n");
    let _ = writeln!(
        s,
        "Heap bytes allocated per entry beyond the 16-byte key and 100-byte value (as requested \
         from the allocator; malloc's own rounding is not included), {} entries, TTL on where \
         the contender has one. Lower is better.\n",
        fmt_num(opts.scale.mem_entries as f64)
    );
    s.push_str(&table(r, memory::SECTION, false));

    s.push_str("\n## Persistent workloads\n\n");
    let _ = writeln!(
        s,
        "Sets of 16-byte keys and 100-byte values, uniformly random over {} keys, {} runs of {} s \
         each (median and range). Each contender at comparable durability: \
         fjall's every-write is insert then `persist(SyncData)`; redb's is one \
         `Durability::Immediate` transaction per set; sync never means the data reaches \
         the OS only (fjall's default, redb `Durability::None`). Batches commit {} sets with \
         one sync.\n",
        fmt_num(opts.scale.keys.max(opts.scale.reopen_keys) as f64),
        opts.scale.durable_runs,
        opts.scale.durable_seconds,
        durable::BATCH
    );
    s.push_str(
        "`disk: overwrite + fdatasync` is the physical limit itself, run interleaved with \
         the stores so that it meets the same contention: each set overwrites 4 KiB in \
         place and calls fdatasync (a batch: its 116 KB, one fdatasync).\n\n",
    );
    s.push_str(
        "`kv-wal (log only)` is our write-ahead log alone, appending one record per set: \
         the part of a durable set that touches the disk, for comparison with the store \
         and with the disk's fdatasync rate.\n\n",
    );
    let _ = writeln!(
        s,
        "`{}` and its control `{}`: kv-store's `Store::incr` (add 1 to a decimal counter; \
         counters start absent) and `Store::set` (the 100-byte value) on {} threads with \
         `SyncPolicy::EveryWrite`, each in its own directory, over the same key streams \
         drawn from Zipf 0.99 on the keys above (so hot keys' write stripes are contended \
         alike), their runs interleaved in alternating order.\n",
        durable::INCR_WORKLOAD,
        durable::INCR_CONTROL,
        durable::INCR_THREADS
    );
    chart(&mut s, "persistent.svg");
    s.push_str(&table(r, durable::SECTION, true));
    s.push_str("\n### Latency of single sets (one thread)\n\n");
    s.push_str(&table(r, durable::LATENCY, false));
    s.push_str("\n### Reopen, replay and snapshots\n\n");
    s.push_str(
        "Reopen: keys written in batches without sync, store closed, then open plus one read \
         of the last key timed. WAL open and replay: a log of one `Put` per key written \
         without sync, then `Wal::open` (which scans to the end) and a full `replay_from`, \
         in bytes of log per second. Snapshot write: every entry streamed, fsynced, renamed, \
         directory fsynced; snapshot load: the streaming reader over the file with the page \
         cache dropped first, every checksum verified. Compare them with the disk's \
         sequential bandwidth above. Times: lower is better; bandwidths: higher.\n\n",
    );
    s.push_str(&table(r, durable::REOPEN, false));
    s.push_str("\n### Our persistent figures against the physical limits\n\n");
    s.push_str(&fractions(r));

    if !r.notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s.push_str(
        "\n## How to run\n\n```sh\ncargo xtask bench            # the full run (≈16 minutes on 2 cores); rewrites this file\n\
         cargo xtask bench --quick    # every workload at a tiny scale; report in target/bench-report/\n\
         cargo xtask bench --only churn   # workloads whose name contains `churn`\n```\n\n\
         Workload names for `--only`: ",
    );
    let _ = writeln!(
        s,
        "{} (a name selects every workload containing it: `incr` runs incr and durable-incr).",
        crate::config::WORKLOADS
    );
    s
}

/// Writes nothing: a helper for tests to see the markdown without touching disk.
#[cfg(test)]
pub(crate) fn render(opts: &Options, r: &Results) -> String {
    let m = Machine::probe(std::path::Path::new("."));
    markdown(opts, &m, r, &targets::evaluate(r), &charts(r), 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;

    #[test]
    fn tables_carry_each_figure_and_our_ratio() {
        let mut r = Results::default();
        r.push(
            inmem::SECTION,
            "get",
            "2 threads",
            "kv-core",
            true,
            Summary::of(&[20e6, 21e6, 19e6]),
            "ops/s",
        );
        r.push(
            inmem::SECTION,
            "get",
            "2 threads",
            "quick_cache",
            false,
            Summary::of(&[10e6, 10e6, 10e6]),
            "ops/s",
        );
        let t = table(&r, inmem::SECTION, true);
        assert!(t.contains("**kv-core**"), "{t}");
        assert!(t.contains("20.0M (19.0M–21.0M)"), "{t}");
        assert!(t.contains("| 2.00x |"), "{t}");
        let opts = Options::parse(&["--quick".to_owned()]).unwrap();
        let md = render(&opts, &r);
        assert!(md.contains("## Targets"));
        assert!(md.contains("inmem-throughput.svg"));
        assert!(!md.contains("hit-ratio.svg"), "no chart without figures");
    }
}
