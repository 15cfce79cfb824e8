//! `kv repair DIR`: a backup copy first, then the store's tolerant recovery modes (cut
//! a torn tail, or salvage every record that verifies into a fresh snapshot), and a
//! report of what was dropped.

use std::path::{Path, PathBuf};

use kv_store::{Options, RecoveryMode, Store, SyncPolicy};
use serde_json::json;

use crate::app::{Ctx, Outcome};
use crate::cmd_verify::problem_line;
use crate::datadir::{self, Need};
use crate::inspect::{inspect, total_bytes, Problem};
use crate::output::{json_line, line, size};
use crate::progress::Progress;
use crate::{Error, Result};

pub(crate) fn run(ctx: &mut Ctx<'_>, dir: &Path, backup: Option<&Path>) -> Result<Outcome> {
    datadir::check(dir, Need::Existing)?;
    let lock = datadir::lock_shared(dir)?;
    let checking = Progress::bytes(ctx.progress, total_bytes(dir), "check");
    let before = inspect(dir, &checking)?;
    checking.finish();
    let problems = before.problems();
    if problems.is_empty() {
        if ctx.cli.json {
            json_line(
                ctx.out,
                &json!({"dir": dir.display().to_string(), "clean": true, "repaired": false}),
            )?;
        } else {
            line(
                ctx.out,
                &format!("{}: clean, nothing to repair", dir.display()),
            )?;
        }
        return Ok(Outcome::Done);
    }

    // The backup is taken under the shared lock, so no store changes the files while
    // they are copied. The lock is then released for the store opened below (a flock
    // conflicts even within one process); a store that another process opens in
    // between makes that open fail with "locked", and the backup is simply extra.
    let to = backup
        .map(Path::to_path_buf)
        .unwrap_or_else(|| datadir::default_backup_path(dir, datadir::now_ms()));
    let copying = Progress::bytes(ctx.progress, total_bytes(dir), "backup");
    let copied = datadir::backup(dir, &to, |n| copying.inc(n))?;
    copying.finish();
    drop(lock);

    let only_tail = problems.iter().all(|p| p.torn_tail);
    let mode = if only_tail {
        RecoveryMode::TolerateTornTail
    } else {
        RecoveryMode::SalvageValid
    };
    let working = Progress::spinner(ctx.progress, "recovering");
    let store = Store::open(
        Options::new()
            .dir(dir)
            .recovery(mode)
            .sync(SyncPolicy::EveryWrite)
            .background_workers(false)
            .snapshot_on_close(false),
    )
    .map_err(|e| {
        eprintln!("kv: the backup is in {}", to.display());
        Error::from(e)
    })?;
    let rec = store.recovery().clone();
    let mut actions = Vec::new();
    if rec.bytes_cut > 0 {
        actions.push(format!(
            "cut a torn log tail of {} bytes at {}",
            rec.bytes_cut, rec.cut_at
        ));
    }
    for (path, why) in &rec.snapshots_skipped {
        actions.push(format!("skipped snapshot {}: {why}", path.display()));
    }
    // Salvaged state goes into a fresh snapshot; the damaged files it replaces are
    // then removed (they are in the backup).
    let compacted = if only_tail {
        None
    } else {
        working.message("writing a snapshot");
        match store.compact() {
            Ok(info) => Some(info),
            Err(e) => {
                let _ = store.close();
                eprintln!("kv: the backup is in {}", to.display());
                return Err(e.into());
            }
        }
    };
    store.close()?;
    if let Some(info) = &compacted {
        actions.push(format!(
            "wrote snapshot {} ({} entries, covers sequence {})",
            info.path.display(),
            info.entries,
            info.seq
        ));
        remove_replaced(dir, &info.path, info.seq, &before, &mut actions)?;
    }
    working.finish();

    let after = inspect(dir, &Progress::spinner(false, ""))?;
    let remaining = after.problems();
    let dropped: Vec<&Problem> = problems.iter().collect();
    let lost = before.records_missing(rec.snapshot_seq);
    if ctx.cli.json {
        json_line(
            ctx.out,
            &json!({
                "dir": dir.display().to_string(),
                "backup": copied.path.display().to_string(),
                "backup_files": copied.files,
                "backup_bytes": copied.bytes,
                "mode": if only_tail { "tolerate-torn-tail" } else { "salvage-valid" },
                "dropped": dropped.iter().map(|p| p.to_json()).collect::<Vec<_>>(),
                "records_lost": lost,
                "records_replayed": rec.records_replayed,
                "entries": rec.entries,
                "actions": actions,
                "clean": remaining.is_empty(),
                "problems_after": remaining.iter().map(Problem::to_json).collect::<Vec<_>>(),
            }),
        )?;
    } else {
        line(
            ctx.out,
            &format!(
                "backup: {} ({} files, {}; it holds a .gitignore, so git does not list it)",
                copied.path.display(),
                copied.files,
                size(copied.bytes)
            ),
        )?;
        line(
            ctx.out,
            &format!(
                "recovery mode: {}",
                if only_tail {
                    "tolerate torn tail"
                } else {
                    "salvage valid records"
                }
            ),
        )?;
        for p in &dropped {
            line(ctx.out, &format!("dropped: {}", problem_line(p, true)))?;
        }
        let lost_text = match (lost, &rec.snapshot) {
            (None, _) => "lost: the records of unreadable or missing log segments (how many \
                          cannot be told)"
                .to_owned(),
            (Some(0), Some(snap)) if !only_tail => format!(
                "lost: nothing (every damaged record is covered by snapshot {}, which holds \
                 the state up to sequence {})",
                snap.display(),
                rec.snapshot_seq
            ),
            (Some(0), _) => "lost: nothing".to_owned(),
            (Some(n), _) => format!("lost: {n} log record(s) in the damaged ranges"),
        };
        line(ctx.out, &lost_text)?;
        for a in &actions {
            line(ctx.out, a)?;
        }
        let how = match &rec.snapshot {
            Some(snap) => format!(
                "{} from snapshot {}, then {} log record(s) replayed after it",
                rec.snapshot_entries,
                snap.display(),
                rec.records_replayed
            ),
            None => format!("{} log record(s) replayed", rec.records_replayed),
        };
        line(
            ctx.out,
            &format!("recovered {} entries ({how})", rec.entries),
        )?;
        for p in &remaining {
            line(ctx.out, &format!("still: {}", problem_line(p, true)))?;
        }
        line(
            ctx.out,
            if remaining.is_empty() {
                "repair: done; verify is clean"
            } else {
                "repair: problems remain (see above); the backup is untouched"
            },
        )?;
    }
    Ok(if remaining.is_empty() {
        Outcome::Done
    } else {
        Outcome::No
    })
}

/// After a salvage wrote `snapshot` (covering everything up to `seq`), removes the
/// log segments that hold nothing after it and the snapshots that did not verify, so
/// that the directory verifies clean. Nothing is removed unless the new snapshot
/// itself verifies.
fn remove_replaced(
    dir: &Path,
    snapshot: &Path,
    seq: u64,
    before: &crate::inspect::Inspection,
    actions: &mut Vec<String>,
) -> Result<()> {
    kv_snapshot::SnapshotReader::open(snapshot, 0).and_then(kv_snapshot::SnapshotReader::verify)?;
    let log = kv_wal::verify_dir(dir)?;
    if !log.is_clean() {
        let newer: Vec<&kv_wal::SegmentSummary> = log
            .segments
            .iter()
            .filter(|s| s.last_seq.is_some_and(|l| l.0 > seq))
            .collect();
        if newer.is_empty() {
            for s in &log.segments {
                remove(Path::new(&s.file))?;
                actions.push(format!(
                    "removed log segment {} (its valid records are in the snapshot)",
                    s.file
                ));
            }
        }
    }
    for s in before.snapshots.iter().filter(|s| s.result.is_err()) {
        let still_bad = s.path.exists()
            && kv_snapshot::SnapshotReader::open(&s.path, 0)
                .and_then(kv_snapshot::SnapshotReader::verify)
                .is_err();
        if still_bad {
            remove(&s.path)?;
            actions.push(format!("removed damaged snapshot {}", s.path.display()));
        }
    }
    sync_dir(dir)
}

fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(Error::io("remove", PathBuf::from(path)))
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(Error::io("sync", dir))
}
