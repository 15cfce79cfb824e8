//! `kv compact DIR`: a snapshot now, and truncation of the log it covers.

use std::path::Path;

use serde_json::json;

use crate::app::{Ctx, Outcome};
use crate::datadir::Need;
use crate::output::{json_line, line, size};
use crate::progress::Progress;
use crate::Result;

pub(crate) fn run(ctx: &mut Ctx<'_>, dir: &Path) -> Result<Outcome> {
    let progress = Progress::spinner(ctx.progress, "recovering");
    let store = crate::cmd_hand::open_store(dir, Need::Existing)?;
    let before = store.metrics();
    progress.message("writing the snapshot");
    let result = store.compact();
    let after = store.metrics();
    progress.finish();
    let closed = store.close();
    let info = result?;
    closed?;
    if ctx.cli.json {
        json_line(
            ctx.out,
            &json!({
                "snapshot": info.path.display().to_string(),
                "sequence": info.seq,
                "entries": info.entries,
                "bytes": info.bytes,
                "truncated_through": info.truncated_through,
                "wal_bytes_before": before.wal_bytes,
                "wal_bytes_after": after.wal_bytes,
                "wal_segments_before": before.wal_segments,
                "wal_segments_after": after.wal_segments,
            }),
        )?;
    } else {
        line(
            ctx.out,
            &format!(
                "snapshot {}: {} entries, {}, covers sequence {}",
                info.path.display(),
                info.entries,
                size(info.bytes),
                info.seq
            ),
        )?;
        line(
            ctx.out,
            &format!(
                "log: {} in {} segment(s) before, {} in {} segment(s) after",
                size(before.wal_bytes),
                before.wal_segments,
                size(after.wal_bytes),
                after.wal_segments
            ),
        )?;
    }
    Ok(Outcome::Done)
}
