//! The log's records in the compact form replay applies: each key's operations
//! routed to its overlay part, their keys and values copied into one buffer per chunk
//! (no allocation per key kept past the reading thread).

use kv_wal::{OwnedBatchOp, OwnedOp, Record};

/// Bytes gathered in a chunk before it is handed to its part.
const CHUNK_BYTES: usize = 1 << 20;
/// Operations gathered in a chunk before it is handed to its part.
const CHUNK_OPS: usize = 8192;

/// What one operation does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Sets the value and expiry (a put alone or in a batch).
    Put,
    /// Removes the key (a delete alone or in a batch).
    Delete,
    /// Changes the expiry of a live key.
    Expire,
    /// Removes the key if its version is `version`.
    Evict,
    /// Removes every key (sent to every part).
    Clear,
}

/// One operation of a record; its key and value are ranges of its chunk's bytes.
#[derive(Debug, Clone)]
pub(crate) struct LogOp {
    pub(crate) kind: Kind,
    /// The record's sequence number (every operation of a batch shares it).
    pub(crate) seq: u64,
    /// The record's timestamp, in milliseconds.
    pub(crate) ts: u64,
    pub(crate) key_start: usize,
    pub(crate) key_len: usize,
    pub(crate) value_start: usize,
    pub(crate) value_len: usize,
    pub(crate) expires_at: Option<u64>,
    /// The evicted version (only for [`Kind::Evict`]).
    pub(crate) version: u64,
}

/// Operations of one part in log order, with the bytes of their keys and values.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(crate) bytes: Vec<u8>,
    pub(crate) ops: Vec<LogOp>,
}

impl Chunk {
    /// An empty chunk with room for a full one.
    fn with_room() -> Self {
        Chunk {
            bytes: Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
            ops: Vec::with_capacity(CHUNK_OPS),
        }
    }

    fn push(
        &mut self,
        kind: Kind,
        (seq, ts): (u64, u64),
        key: &[u8],
        value: &[u8],
        expires_at: Option<u64>,
        version: u64,
    ) {
        let key_start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let value_start = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.ops.push(LogOp {
            kind,
            seq,
            ts,
            key_start,
            key_len: key.len(),
            value_start,
            value_len: value.len(),
            expires_at,
            version,
        });
    }

    fn is_full(&self) -> bool {
        self.bytes.len() >= CHUNK_BYTES || self.ops.len() >= CHUNK_OPS
    }

    /// The key of `op` (one of this chunk's).
    #[cfg(test)]
    pub(crate) fn key(&self, op: &LogOp) -> &[u8] {
        &self.bytes[op.key_start..op.key_start + op.key_len]
    }
}

/// A hash of `key` of its own, independent of the maps' hashers: its high half picks
/// the part ([`part_of`]), the whole indexes the part's overlay.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6b76_2d72_6563_6f76).hash_one(key)
}

/// Which of `n` parts a key of hash `hash` belongs to.
pub(crate) fn part_of(hash: u64, n: usize) -> usize {
    ((hash >> 32) % n as u64) as usize
}

/// Gathers the log's records, operation by operation, into one chunk per part.
pub(crate) struct Router {
    chunks: Vec<Chunk>,
}

impl Router {
    /// A router over `n` parts (at least one).
    pub(crate) fn new(n: usize) -> Self {
        Router {
            chunks: (0..n.max(1)).map(|_| Chunk::default()).collect(),
        }
    }

    /// Adds `record`'s operations to their parts' chunks (a clear to every part) and
    /// hands each chunk that filled up to `full` with its part's index. The record's
    /// own buffers are freed here, on the reading thread.
    pub(crate) fn add(&mut self, record: Record, full: &mut impl FnMut(usize, Chunk)) {
        let at = (record.seq.0, record.timestamp_ms);
        let n = self.chunks.len();
        let mut one = |chunks: &mut [Chunk], kind, key: &[u8], value: &[u8], exp, version| {
            // One part needs no hash here (its overlay hashes the key itself).
            let p = if n == 1 { 0 } else { part_of(key_hash(key), n) };
            chunks[p].push(kind, at, key, value, exp, version);
            if chunks[p].is_full() {
                full(p, std::mem::replace(&mut chunks[p], Chunk::with_room()));
            }
        };
        match record.op {
            OwnedOp::Put {
                key,
                value,
                expires_at,
            } => one(&mut self.chunks, Kind::Put, &key, &value, expires_at, 0),
            OwnedOp::Delete { key } => one(&mut self.chunks, Kind::Delete, &key, &[], None, 0),
            OwnedOp::Expire { key, expires_at } => {
                one(&mut self.chunks, Kind::Expire, &key, &[], expires_at, 0)
            }
            OwnedOp::Evict { key, version } => {
                one(&mut self.chunks, Kind::Evict, &key, &[], None, version)
            }
            OwnedOp::Clear => {
                for p in 0..n {
                    self.chunks[p].push(Kind::Clear, at, &[], &[], None, 0);
                    if self.chunks[p].is_full() {
                        full(
                            p,
                            std::mem::replace(&mut self.chunks[p], Chunk::with_room()),
                        );
                    }
                }
            }
            OwnedOp::Batch(ops) => {
                for op in ops {
                    match op {
                        OwnedBatchOp::Put {
                            key,
                            value,
                            expires_at,
                        } => one(&mut self.chunks, Kind::Put, &key, &value, expires_at, 0),
                        OwnedBatchOp::Delete { key } => {
                            one(&mut self.chunks, Kind::Delete, &key, &[], None, 0)
                        }
                        // Replay applies no other batch operation.
                        _ => {}
                    }
                }
            }
            // Replay applies no other operation.
            _ => {}
        }
    }

    /// Hands every chunk still holding operations to `full`.
    pub(crate) fn flush(&mut self, full: &mut impl FnMut(usize, Chunk)) {
        for (p, chunk) in self.chunks.iter_mut().enumerate() {
            if !chunk.ops.is_empty() {
                full(p, std::mem::take(chunk));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kv_wal::{OwnedBatchOp, OwnedOp, Record, Seq};

    use super::{key_hash, part_of, Kind, Router};

    #[test]
    fn a_batch_is_split_by_key_and_a_clear_reaches_every_part() {
        let mut router = Router::new(3);
        let keys: Vec<Vec<u8>> = (0..30u8).map(|i| vec![b'k', i]).collect();
        let ops = keys
            .iter()
            .map(|k| OwnedBatchOp::Put {
                key: k.clone(),
                value: k.repeat(3),
                expires_at: Some(9),
            })
            .collect();
        let mut got = Vec::new();
        let mut sink = |p, c| got.push((p, c));
        router.add(
            Record {
                seq: Seq(7),
                timestamp_ms: 70,
                op: OwnedOp::Batch(ops),
            },
            &mut sink,
        );
        router.add(
            Record {
                seq: Seq(8),
                timestamp_ms: 80,
                op: OwnedOp::Clear,
            },
            &mut sink,
        );
        router.flush(&mut sink);
        assert_eq!(got.len(), 3);
        let mut seen = 0;
        for (p, chunk) in &got {
            let (last, puts) = chunk.ops.split_last().unwrap();
            assert_eq!((last.kind, last.seq, last.ts), (Kind::Clear, 8, 80));
            for op in puts {
                let key = chunk.key(op);
                assert_eq!(part_of(key_hash(key), 3), *p);
                assert_eq!((op.kind, op.seq, op.ts), (Kind::Put, 7, 70));
                assert_eq!(op.expires_at, Some(9));
                let value = &chunk.bytes[op.value_start..op.value_start + op.value_len];
                assert_eq!(value, key.repeat(3).as_slice());
                seen += 1;
            }
        }
        assert_eq!(seen, keys.len());
    }
}
