//! `kv stats DIR`: entries, bytes, segments, snapshots, sequence range and log
//! metrics, from the store opened read-only (it works beside a running store).

use std::path::Path;

use kv_store::RecoveryMode;
use serde_json::json;

use crate::app::{Ctx, Outcome};
use crate::inspect::{inspect, total_bytes};
use crate::output::{json_line, line, size};
use crate::progress::Progress;
use crate::Result;

pub(crate) fn run(ctx: &mut Ctx<'_>, dir: &Path) -> Result<Outcome> {
    let counting = Progress::spinner(ctx.progress, "entries and records");
    // As the store would open; a damaged directory that the store refuses still gets
    // its figures, from the salvaging recovery (the problems are counted).
    let (store, health) = match crate::cmd_hand::open_reader(dir, RecoveryMode::default()) {
        Ok(store) => (store, None),
        Err(crate::Error::Store(e)) if crate::error::is_damage(&e) => (
            crate::cmd_hand::open_reader(dir, RecoveryMode::SalvageValid)?,
            Some(e.to_string()),
        ),
        Err(e) => return Err(e),
    };
    counting.finish();
    let progress = Progress::bytes(ctx.progress, total_bytes(dir), "stats");
    let found = inspect(dir, &progress)?;
    progress.finish();
    let problems = found.problems();

    let rec = store.recovery().clone();
    let (mut entries, mut key_bytes, mut value_bytes, mut with_ttl) = (0u64, 0u64, 0u64, 0u64);
    for (key, value) in store.iter()? {
        entries += 1;
        key_bytes += key.len() as u64;
        value_bytes += value.len() as u64;
        with_ttl += u64::from(store.info(&key)?.is_some_and(|i| i.expires_at.is_some()));
    }
    let snapshot_seq = rec.snapshot.as_ref().map(|_| rec.snapshot_seq);
    let last_seq = store.metrics().last_seq;
    let r = rec.replayed;
    let expired = rec.expired_dropped;
    store.close()?;

    if ctx.cli.json {
        let snapshots: Vec<_> = found.snapshots.iter().map(|s| s.to_json()).collect();
        let v = json!({
            "dir": dir.display().to_string(),
            "entries": entries,
            "entries_with_ttl": with_ttl,
            "expired_dropped": expired,
            "key_bytes": key_bytes,
            "value_bytes": value_bytes,
            "snapshots": snapshots,
            "snapshot_used": rec.snapshot.as_ref().map(|p| p.display().to_string()),
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
            "opens": health.is_none(),
        });
        json_line(ctx.out, &v)?;
        return Ok(Outcome::Done);
    }

    let mut rows: Vec<(&str, String)> = vec![
        ("directory", dir.display().to_string()),
        (
            "entries",
            format!(
                "{entries} live ({with_ttl} with a TTL, {expired} expired not counted); keys {}, values {}",
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
        match (&health, problems.len()) {
            (None, 0) => "clean".to_owned(),
            (None, n) => format!(
                "opens with every acknowledged write; {n} file problem(s) it does not need: see `kv verify`"
            ),
            (Some(e), n) => format!(
                "DAMAGED: the store does not open ({e}); {n} file problem(s); figures above are \
                 what salvaging would keep: see `kv verify`"
            ),
        },
    ));
    for (name, value) in rows {
        line(ctx.out, &format!("{name:<10} {value}"))?;
    }
    Ok(Outcome::Done)
}
