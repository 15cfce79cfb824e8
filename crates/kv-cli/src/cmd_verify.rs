//! `kv verify DIR`: every snapshot and log record checked, nothing changed; each
//! problem printed with its file and offset; and the verdict that matters: whether the
//! store opens with every acknowledged write, asked of the store's own recovery
//! (the read-only open), so that `verify` and `Store::open` never disagree.
//!
//! Exit status 0 when the store opens (damage it does not need, such as log records
//! a snapshot covers, an older snapshot or a torn tail of never-acknowledged bytes,
//! is printed as a warning); 1 when it does not (damage recovery needs).

use std::path::Path;

use kv_store::{RecoveryMode, RecoveryReport};
use serde_json::{json, Value};

use crate::app::{Ctx, Outcome};
use crate::inspect::{inspect, total_bytes, Inspection, Problem};
use crate::output::{json_line, line, size};
use crate::progress::Progress;
use crate::Result;

/// Whether the store opens, as its recovery decides.
pub(crate) enum Verdict {
    /// It opens with every acknowledged write; what recovery did.
    Opens(RecoveryReport),
    /// It does not: the error recovery gave.
    Fails(kv_store::Error),
}

/// Asks the store's recovery (read-only: nothing changed, no lock) whether `dir` opens.
pub(crate) fn verdict(dir: &Path) -> Result<Verdict> {
    match crate::cmd_hand::open_reader(dir, RecoveryMode::default()) {
        Ok(store) => {
            let report = store.recovery().clone();
            store.close()?;
            Ok(Verdict::Opens(report))
        }
        Err(crate::Error::Store(e)) if crate::error::is_damage(&e) => Ok(Verdict::Fails(e)),
        Err(e) => Err(e),
    }
}

pub(crate) fn run(ctx: &mut Ctx<'_>, dir: &Path) -> Result<Outcome> {
    let verdict = verdict(dir)?;
    let progress = Progress::bytes(ctx.progress, total_bytes(dir), "verify");
    let found = inspect(dir, &progress)?;
    progress.finish();
    let problems = found.problems();
    if ctx.cli.json {
        json_line(ctx.out, &to_json(dir, &found, &problems, &verdict))?;
    } else {
        print(ctx, &found, &problems, &verdict)?;
    }
    Ok(match verdict {
        Verdict::Opens(_) => Outcome::Done,
        Verdict::Fails(_) => Outcome::No,
    })
}

/// The report as one JSON object.
pub(crate) fn to_json(
    dir: &Path,
    found: &Inspection,
    problems: &[Problem],
    verdict: &Verdict,
) -> Value {
    let snapshots: Vec<Value> = found.snapshots.iter().map(|s| s.to_json()).collect();
    let segments: Vec<Value> = found
        .wal
        .segments
        .iter()
        .map(|s| {
            json!({
                "file": s.file,
                "id": s.id.0,
                "first_seq": s.first_seq.map(|q| q.0),
                "last_seq": s.last_seq.map(|q| q.0),
                "records": s.records,
                "used_bytes": s.used_bytes,
                "file_bytes": s.file_bytes,
            })
        })
        .collect();
    let (opens, error) = match verdict {
        Verdict::Opens(_) => (true, None),
        Verdict::Fails(e) => (false, Some(e.to_string())),
    };
    json!({
        "dir": dir.display().to_string(),
        "opens": opens,
        "error": error,
        "clean": opens && problems.is_empty(),
        "snapshots": snapshots,
        "segments": segments,
        "records": found.wal.records,
        "first_seq": found.wal.first_seq.map(|q| q.0),
        "last_seq": found.wal.last_seq.map(|q| q.0),
        "problems": problems.iter().map(Problem::to_json).collect::<Vec<_>>(),
        "temp_files": temp_files(found),
    })
}

/// Leftover temporary files of interrupted writes (snapshots and log segments).
fn temp_files(found: &Inspection) -> Vec<String> {
    let mut out: Vec<String> = found
        .snapshot_temps
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    out.extend(found.wal.temp_files.iter().cloned());
    out
}

/// One line per problem: `BAD  file at offset N (L bytes): what` (`TORN` for a torn
/// log tail, `WARN` for damage the store opens without).
pub(crate) fn problem_line(p: &Problem, needed: bool) -> String {
    let tag = match (p.torn_tail, needed) {
        (true, _) => "TORN",
        (false, true) => "BAD ",
        (false, false) => "WARN",
    };
    let len = p.len.map(|l| format!(" ({l} bytes)")).unwrap_or_default();
    format!("{tag} {} at offset {}{len}: {}", p.file, p.offset, p.what)
}

fn print(
    ctx: &mut Ctx<'_>,
    found: &Inspection,
    problems: &[Problem],
    verdict: &Verdict,
) -> Result<()> {
    let opens = matches!(verdict, Verdict::Opens(_));
    let bad = |file: &str| problems.iter().any(|p| p.file == file);
    for s in &found.snapshots {
        let file = s.path.display().to_string();
        if let Ok(r) = &s.result {
            line(
                ctx.out,
                &format!(
                    "ok   {file} ({} entries, covers sequence {}, {})",
                    r.entries,
                    s.sequence,
                    size(s.bytes)
                ),
            )?;
        } else if !bad(&file) {
            line(ctx.out, &format!("BAD  {file}"))?;
        }
    }
    for s in &found.wal.segments {
        if bad(&s.file) {
            continue;
        }
        let seqs = match (s.first_seq, s.last_seq) {
            (_, None) => "no records".to_owned(),
            (Some(a), Some(b)) => format!("sequence {a}..={b}"),
            (None, Some(b)) => format!("up to sequence {b}"),
        };
        line(
            ctx.out,
            &format!(
                "ok   {} ({} records, {seqs}, {} used)",
                s.file,
                s.records,
                size(s.used_bytes)
            ),
        )?;
    }
    for p in problems {
        line(ctx.out, &problem_line(p, !opens))?;
    }
    for t in temp_files(found) {
        line(
            ctx.out,
            &format!(
                "note {t}: leftover of an interrupted write (harmless; the next open removes it)"
            ),
        )?;
    }
    let summary = match verdict {
        Verdict::Opens(_) if problems.is_empty() => format!(
            "verify: clean: {} snapshot(s), {} log segment(s), {} record(s)",
            found.snapshots.len(),
            found.wal.segments.len(),
            found.wal.records
        ),
        Verdict::Opens(report) => {
            let mut s = format!(
                "verify: the store opens with every acknowledged write; {} file problem(s) \
                 it does not need",
                problems.len()
            );
            if report.bytes_cut > 0 {
                s.push_str(" (the torn log tail was never acknowledged; the next open cuts it)");
            }
            s.push_str("; `kv repair` rewrites the directory without them");
            s
        }
        Verdict::Fails(e) => format!(
            "verify: the store does not open: {e}\nverify: {} file problem(s); `kv repair` keeps \
             a backup and mends the directory",
            problems.len()
        ),
    };
    line(ctx.out, &summary)
}
