//! `kv verify DIR`: every snapshot and log record checked, nothing changed; each
//! problem printed with its file and offset.

use std::path::Path;

use serde_json::{json, Value};

use crate::app::{Ctx, Outcome};
use crate::datadir::{self, Need};
use crate::inspect::{inspect, total_bytes, Inspection, Problem};
use crate::output::{json_line, line, size};
use crate::progress::Progress;
use crate::Result;

pub(crate) fn run(ctx: &mut Ctx<'_>, dir: &Path) -> Result<Outcome> {
    datadir::check(dir, Need::Existing)?;
    let _lock = datadir::lock_shared(dir)?;
    let progress = Progress::bytes(ctx.progress, total_bytes(dir), "verify");
    let found = inspect(dir, &progress)?;
    progress.finish();
    let problems = found.problems();
    if ctx.cli.json {
        json_line(ctx.out, &to_json(dir, &found, &problems))?;
    } else {
        print(ctx, &found, &problems)?;
    }
    Ok(if problems.is_empty() {
        Outcome::Done
    } else {
        Outcome::No
    })
}

/// The report as one JSON object (also used by `kv repair`).
pub(crate) fn to_json(dir: &Path, found: &Inspection, problems: &[Problem]) -> Value {
    let snapshots: Vec<Value> = found
        .snapshots
        .iter()
        .map(|s| {
            json!({
                "file": s.path.display().to_string(),
                "sequence": s.sequence,
                "bytes": s.bytes,
                "ok": s.result.is_ok(),
                "entries": s.result.as_ref().ok().map(|r| r.entries),
            })
        })
        .collect();
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
    json!({
        "dir": dir.display().to_string(),
        "clean": problems.is_empty(),
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

/// One line per problem: `BAD  file at offset N (L bytes): what`.
pub(crate) fn problem_line(p: &Problem) -> String {
    let tag = if p.torn_tail { "TORN" } else { "BAD " };
    let len = p.len.map(|l| format!(" ({l} bytes)")).unwrap_or_default();
    format!("{tag} {} at offset {}{len}: {}", p.file, p.offset, p.what)
}

fn print(ctx: &mut Ctx<'_>, found: &Inspection, problems: &[Problem]) -> Result<()> {
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
        line(ctx.out, &problem_line(p))?;
    }
    for t in temp_files(found) {
        line(
            ctx.out,
            &format!(
                "note {t}: leftover of an interrupted write (harmless; the next open removes it)"
            ),
        )?;
    }
    let summary = if problems.is_empty() {
        format!(
            "verify: clean: {} snapshot(s), {} log segment(s), {} record(s)",
            found.snapshots.len(),
            found.wal.segments.len(),
            found.wal.records
        )
    } else {
        let torn = problems.iter().filter(|p| p.torn_tail).count();
        let mut s = format!("verify: {} problem(s) found", problems.len());
        if torn > 0 {
            s.push_str(" (a torn log tail is cut by the next open)");
        }
        s.push_str("; `kv repair` keeps a backup and mends the directory");
        s
    };
    line(ctx.out, &summary)
}
