//! `kv stats DIR`: entries, bytes, segments, snapshots, sequence range and log
//! metrics, read without changing anything.

use std::path::Path;

use serde_json::json;

use crate::app::{Ctx, Outcome};
use crate::datadir::{self, Need};
use crate::inspect::{inspect, total_bytes};
use crate::output::{json_line, line, size};
use crate::progress::Progress;
use crate::Result;

pub(crate) fn run(ctx: &mut Ctx<'_>, dir: &Path) -> Result<Outcome> {
    datadir::check(dir, Need::Existing)?;
    let _lock = datadir::lock_shared(dir)?;
    let now = datadir::now_ms();
    let progress = Progress::bytes(ctx.progress, total_bytes(dir), "stats");
    let found = inspect(dir, &progress)?;
    progress.finish();
    // Salvage: a damaged directory still gets its figures (the problems are counted).
    let counting = Progress::spinner(ctx.progress, "entries and records");
    let state = crate::replay::rebuild(dir, now, true, &counting)?;
    counting.finish();
    let problems = found.problems();

    let entries = state.entries.len() as u64;
    let key_bytes: u64 = state.entries.keys().map(|k| k.len() as u64).sum();
    let value_bytes: u64 = state.entries.values().map(|e| e.value.len() as u64).sum();
    let with_ttl = state
        .entries
        .values()
        .filter(|e| e.expires_at.is_some())
        .count() as u64;
    let snapshot_seq = state.snapshot.as_ref().map(|(_, s)| *s);
    let last_seq = found
        .wal
        .last_seq
        .map(|s| s.0)
        .max(snapshot_seq)
        .unwrap_or(0);
    let r = state.replayed;

    if ctx.cli.json {
        let snapshots: Vec<_> = found
            .snapshots
            .iter()
            .map(|s| {
                json!({
                    "file": s.path.display().to_string(),
                    "sequence": s.sequence,
                    "bytes": s.bytes,
                    "entries": s.result.as_ref().ok().map(|r| r.entries),
                    "ok": s.result.is_ok(),
                })
            })
            .collect();
        let v = json!({
            "dir": dir.display().to_string(),
            "entries": entries,
            "entries_with_ttl": with_ttl,
            "expired_dropped": state.expired,
            "key_bytes": key_bytes,
            "value_bytes": value_bytes,
            "snapshots": snapshots,
            "snapshot_used": state.snapshot.as_ref().map(|(p, _)| p.display().to_string()),
            "snapshot_seq": snapshot_seq,
            "wal": {
                "segments": found.wal.segments.len(),
                "records": found.wal.records,
                "used_bytes": found.wal.used_bytes(),
                "file_bytes": found.wal.file_bytes(),
                "first_seq": found.wal.first_seq.map(|s| s.0),
                "last_seq": found.wal.last_seq.map(|s| s.0),
            },
            "last_seq": last_seq,
            "replayed": {
                "puts": r.puts, "deletes": r.deletes, "expires": r.expires,
                "evictions": r.evictions, "clears": r.clears, "batches": r.batches,
                "batch_ops": r.batch_ops,
            },
            "problems": problems.len(),
        });
        json_line(ctx.out, &v)?;
        return Ok(Outcome::Done);
    }

    let mut rows: Vec<(&str, String)> = vec![
        ("directory", dir.display().to_string()),
        (
            "entries",
            format!(
                "{entries} live ({with_ttl} with a TTL, {} expired not counted); keys {}, values {}",
                state.expired,
                size(key_bytes),
                size(value_bytes)
            ),
        ),
    ];
    let snaps = if found.snapshots.is_empty() {
        "none".to_owned()
    } else {
        let list: Vec<String> = found
            .snapshots
            .iter()
            .map(|s| {
                let name = s.path.file_name().unwrap_or_default().to_string_lossy();
                match &s.result {
                    Ok(r) => format!("{name} ({} entries, {})", r.entries, size(s.bytes)),
                    Err(_) => format!("{name} (DAMAGED, {})", size(s.bytes)),
                }
            })
            .collect();
        format!("{}: {}", found.snapshots.len(), list.join(", "))
    };
    rows.push(("snapshots", snaps));
    rows.push((
        "log",
        format!(
            "{} segment(s), {} record(s), {} used, {} on disk",
            found.wal.segments.len(),
            found.wal.records,
            size(found.wal.used_bytes()),
            size(found.wal.file_bytes())
        ),
    ));
    let log_range = match (found.wal.first_seq, found.wal.last_seq) {
        (Some(a), Some(b)) => format!("log {a}..={b}"),
        _ => "log empty".to_owned(),
    };
    let snap = snapshot_seq.map_or("no snapshot".to_owned(), |s| {
        format!("snapshot covers ..={s}")
    });
    rows.push(("sequence", format!("{snap}; {log_range}; last {last_seq}")));
    rows.push((
        "since snap",
        format!(
            "{} put, {} delete, {} batch ({} ops), {} expire, {} evict, {} clear",
            r.puts, r.deletes, r.batches, r.batch_ops, r.expires, r.evictions, r.clears
        ),
    ));
    rows.push((
        "health",
        if problems.is_empty() {
            "clean".to_owned()
        } else {
            format!("{} problem(s): see `kv verify`", problems.len())
        },
    ));
    for (name, value) in rows {
        line(ctx.out, &format!("{name:<10} {value}"))?;
    }
    Ok(Outcome::Done)
}
