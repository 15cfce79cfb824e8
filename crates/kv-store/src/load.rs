//! Loading a snapshot into the map in parallel: one thread decodes and verifies,
//! the others insert, chunk by chunk.

use std::ops::Range;
use std::path::Path;

use crossbeam_channel::{bounded, Receiver, Sender};
use kv_core::hooks::BulkPut;
use kv_core::Cache;
use kv_snapshot::SnapshotReader;
use parking_lot::Mutex;

use crate::recovery::{ExpiredBase, Recovered};
use crate::write::Evicted;
use crate::{Error, Result};

/// Entries per chunk handed to an inserter.
const CHUNK: usize = 4096;

/// One decoded entry, its bytes in the chunk's buffer.
struct Item {
    key: Range<usize>,
    value: Range<usize>,
    expires_at: Option<u64>,
    created: u64,
    updated: u64,
    version: u64,
}

/// Decoded entries sharing one buffer (one allocation per chunk, not two per entry).
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    items: Vec<Item>,
}

/// What loading a snapshot put into the map.
pub(crate) struct Loaded {
    pub(crate) entries: u64,
    pub(crate) max_version: u64,
}

/// What the inserters gathered.
#[derive(Default)]
struct Gathered {
    entries: u64,
    max_version: u64,
    evicted: Evicted,
    expired: Vec<(Vec<u8>, Recovered)>,
    error: Option<Error>,
}

/// Loads one snapshot straight into the (empty) map, with exact metadata. All or
/// nothing: on an error the map may hold part of it and the caller clears it.
/// Evictions (when the limits are now lower than the snapshot's size) go to
/// `evicted`. Entries expired by now go to `expired` instead of the map: a log record
/// after the snapshot may still overwrite one (keeping its creation time) or extend
/// its expiry.
pub(crate) fn load(
    path: &Path,
    now_ms: u64,
    cache: &Cache,
    evicted: &mut Evicted,
    expired: &mut ExpiredBase,
) -> Result<Loaded> {
    let ctx = "reading a snapshot";
    // Read with "now" at the epoch so that no entry is skipped; expiry is applied
    // here instead.
    let mut reader = SnapshotReader::open(path, 0).map_err(Error::snapshot(ctx))?;
    // Size the map's shards once for the whole snapshot (the count is checked by the
    // header's checksum; bounded by what the file can hold all the same).
    let count = reader.header().entry_count;
    cache
        .hooks()
        .reserve(usize::try_from(count.min(reader.file_len() / 16)).unwrap_or(usize::MAX));
    let inserters = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let gathered = Mutex::new(Gathered::default());
    let decoded = std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = bounded::<Chunk>(inserters * 2);
        // Inserted chunks come back emptied, so the decoder refills warm buffers
        // instead of allocating (and faulting in) new ones.
        let (spent_tx, spent) = bounded::<Chunk>(inserters * 3 + 1);
        for _ in 0..inserters {
            let (rx, spent_tx) = (rx.clone(), spent_tx.clone());
            let gathered = &gathered;
            scope.spawn(move || insert_chunks(&rx, &spent_tx, cache, now_ms, gathered));
        }
        drop((rx, spent_tx));
        let mut chunk = Chunk::default();
        while let Some(entry) = reader.next_ref() {
            let e = entry.map_err(Error::snapshot(ctx))?;
            let k = chunk.bytes.len();
            chunk.bytes.extend_from_slice(e.key);
            let v = chunk.bytes.len();
            chunk.bytes.extend_from_slice(e.value);
            chunk.items.push(Item {
                key: k..v,
                value: v..chunk.bytes.len(),
                expires_at: e.expires_at,
                created: e.created,
                updated: e.updated,
                version: e.version,
            });
            // A failed send means every inserter stopped on an error, reported below.
            if chunk.items.len() == CHUNK {
                let next = spent.try_recv().unwrap_or_default();
                if tx.send(std::mem::replace(&mut chunk, next)).is_err() {
                    break;
                }
            }
        }
        if !chunk.items.is_empty() {
            let _ = tx.send(chunk);
        }
        Ok(())
        // `tx` drops here; the inserters drain the channel and end.
    });
    let g = gathered.into_inner();
    decoded?;
    if let Some(e) = g.error {
        return Err(e);
    }
    reader.verify().map_err(Error::snapshot(ctx))?;
    evicted.extend(g.evicted);
    expired.extend(g.expired);
    Ok(Loaded {
        entries: g.entries,
        max_version: g.max_version,
    })
}

fn insert_chunks(
    rx: &Receiver<Chunk>,
    spent: &Sender<Chunk>,
    cache: &Cache,
    now_ms: u64,
    gathered: &Mutex<Gathered>,
) {
    let mut mine = Gathered::default();
    for mut chunk in rx {
        if let Err(e) = insert_chunk(&chunk, cache, now_ms, &mut mine) {
            mine.error = Some(e);
            break;
        }
        chunk.bytes.clear();
        chunk.items.clear();
        // Full when the decoder has enough spare buffers: this one is freed.
        let _ = spent.try_send(chunk);
    }
    let mut g = gathered.lock();
    g.entries += mine.entries;
    g.max_version = g.max_version.max(mine.max_version);
    g.evicted.extend(mine.evicted);
    g.expired.extend(mine.expired);
    if g.error.is_none() {
        g.error = mine.error;
    }
}

/// Inserts one chunk's entries (those expired by `now_ms` go aside into `mine`).
fn insert_chunk(chunk: &Chunk, cache: &Cache, now_ms: u64, mine: &mut Gathered) -> Result<()> {
    let mut live: Vec<&Item> = Vec::with_capacity(chunk.items.len());
    for it in &chunk.items {
        mine.max_version = mine.max_version.max(it.version);
        if it.expires_at.is_some_and(|at| at <= now_ms) {
            mine.expired.push((
                chunk.bytes[it.key.clone()].to_vec(),
                Recovered {
                    value: chunk.bytes[it.value.clone()].to_vec(),
                    expires_at: it.expires_at,
                    created: it.created,
                    updated: it.updated,
                    version: it.version,
                },
            ));
        } else {
            live.push(it);
        }
    }
    // The whole chunk under one lock per shard when it fits; else one by one,
    // evicting as the limits require.
    let puts: Vec<BulkPut<'_>> = live
        .iter()
        .map(|it| BulkPut {
            key: &chunk.bytes[it.key.clone()],
            value: &chunk.bytes[it.value.clone()],
            write: crate::mem::exact_write(it.expires_at, it.created, it.updated, it.version),
        })
        .collect();
    let fitted = cache
        .hooks()
        .insert_bulk(&puts)
        .map_err(|source| Error::Replay {
            seq: live.first().map_or(0, |it| it.version),
            source,
        })?;
    if fitted {
        mine.entries += puts.len() as u64;
        return Ok(());
    }
    for it in &live {
        let ev = crate::mem::insert_exact(
            cache,
            &chunk.bytes[it.key.clone()],
            &chunk.bytes[it.value.clone()],
            it.expires_at,
            it.created,
            it.updated,
            it.version,
        )?;
        mine.evicted.extend(ev);
        mine.entries += 1;
    }
    Ok(())
}
