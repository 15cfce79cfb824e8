//! `kv load [DIR] FILE`: bulk import of JSON lines (as `kv dump` writes them) through
//! batches, each one log record, all or nothing.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use kv_store::{Batch, Options, Store, SyncPolicy, Timestamp};
use serde_json::json;

use crate::app::{Ctx, Outcome};
use crate::datadir::{self, Need};
use crate::output::{json_line, line};
use crate::progress::Progress;
use crate::{Error, Result};

/// A batch is also cut when its keys and values reach this many bytes, so that one
/// log record stays far below a segment's size.
const BATCH_BYTES: usize = 4 << 20;

/// What a load did.
#[derive(Debug, Default)]
struct Loaded {
    entries: u64,
    batches: u64,
    expired: u64,
    lines: u64,
}

pub(crate) fn run(ctx: &mut Ctx<'_>, dir: &Path, file: &Path, batch: u64) -> Result<Outcome> {
    datadir::check(dir, Need::MayCreate)?;
    let mut opened;
    let (input, total): (&mut dyn Read, Option<u64>) = if file == Path::new("-") {
        (&mut *ctx.input, None)
    } else {
        opened = File::open(file).map_err(Error::io("open", file))?;
        let len = opened.metadata().ok().map(|m| m.len());
        (&mut opened, len)
    };
    // A big import is followed by a snapshot at close, so the next open is fast.
    let store = Store::open(
        Options::new()
            .dir(dir)
            .sync(SyncPolicy::EveryWrite)
            .background_workers(false),
    )?;
    let progress = match total {
        Some(t) => Progress::bytes(ctx.progress, t, "load"),
        None => Progress::spinner(ctx.progress, "bytes read"),
    };
    let mut done = Loaded::default();
    let result = load(&store, input, batch, &progress, &mut done);
    progress.finish();
    if result.is_err() && done.entries > 0 {
        eprintln!(
            "kv: {} entries in {} batches were loaded before the error",
            done.entries, done.batches
        );
    }
    let closed = store.close();
    result?;
    closed?;
    if ctx.cli.json {
        json_line(
            ctx.out,
            &json!({
                "dir": dir.display().to_string(),
                "entries": done.entries,
                "batches": done.batches,
                "expired_skipped": done.expired,
                "lines": done.lines,
            }),
        )?;
    } else {
        line(
            ctx.out,
            &format!(
                "loaded {} entries in {} batch(es) into {} ({} already expired, skipped)",
                done.entries,
                done.batches,
                dir.display(),
                done.expired
            ),
        )?;
    }
    Ok(Outcome::Done)
}

fn load(
    store: &Store,
    input: &mut dyn Read,
    batch_len: u64,
    progress: &Progress,
    done: &mut Loaded,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::new();
    let mut batch = Batch::new();
    let mut batch_bytes = 0usize;
    let mut first_line = 1;
    let now = datadir::now_ms();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(Error::io("read", "the input"))?;
        if n == 0 {
            break;
        }
        progress.inc(n as u64);
        done.lines += 1;
        let lineno = done.lines;
        let text = std::str::from_utf8(&buf).map_err(|_| Error::Input {
            line: lineno,
            reason:
                "not UTF-8 (JSON lines are UTF-8; binary keys and values go in key_hex / value_hex)"
                    .to_owned(),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let entry = crate::jsonl::decode(text).map_err(|reason| Error::Input {
            line: lineno,
            reason,
        })?;
        // Checked line by line, so that a key or value the store refuses is reported
        // at its own line, not as a refused batch.
        store
            .validate(&entry.key, &entry.value)
            .map_err(|e| Error::Input {
                line: lineno,
                reason: e.to_string(),
            })?;
        if batch.is_empty() {
            first_line = lineno;
        }
        match entry.expires_at_ms {
            Some(at) if at <= now => {
                done.expired += 1;
                continue;
            }
            Some(at) => batch.put_with_expiry(&entry.key, &entry.value, Timestamp::from_millis(at)),
            None => batch.put(&entry.key, &entry.value),
        };
        batch_bytes += entry.key.len() + entry.value.len();
        if batch.len() as u64 >= batch_len || batch_bytes >= BATCH_BYTES {
            apply(store, &batch, first_line, lineno, done)?;
            batch = Batch::new();
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        apply(store, &batch, first_line, done.lines, done)?;
    }
    Ok(())
}

fn apply(store: &Store, batch: &Batch, first: u64, last: u64, done: &mut Loaded) -> Result<()> {
    // Every line was valid on its own (checked as read): what is refused here is the
    // batch as a whole (a full store, say).
    store.apply(batch).map_err(|e| Error::Refused {
        first,
        last,
        source: e,
    })?;
    done.entries += batch.len() as u64;
    done.batches += 1;
    Ok(())
}
