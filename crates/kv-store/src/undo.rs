//! Undoing a write the map refused after the log took it: the keys' current states
//! logged again, so that recovery ends where memory is.

use kv_core::hooks::Write;
use kv_core::{Entry, Timestamp};
use kv_wal::{BatchOp as WalOp, Op};

use crate::store::Inner;
use crate::write::Stamp;
use crate::{Error, Result};

/// A key and its live entry (with the value handle), if any.
type Current<'k> = (&'k [u8], Option<(Entry, kv_core::Value)>);

impl Inner {
    /// The map refused a write the log already holds (it was full and may not
    /// evict). The map is unchanged, so the keys' current states are logged again, as
    /// one batch record after the refused one, and applied with that record's
    /// sequence number: recovery then ends in the same state as memory. The caller
    /// holds the stripes of `keys` and the gate.
    pub(crate) fn compensate(&self, keys: &[&[u8]], stamp: Stamp) -> Result<()> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        let current: Vec<Current<'_>> = keys
            .iter()
            .map(|k| {
                (
                    *k,
                    self.cache.hooks().peek(k).map(|e| {
                        let v = e.value();
                        (e, v)
                    }),
                )
            })
            .collect();
        let ops: Vec<WalOp<'_>> = current
            .iter()
            .map(|(key, entry)| match entry {
                Some((e, v)) => WalOp::Put {
                    key,
                    value: v,
                    expires_at: e.expires_at().map(Timestamp::as_millis),
                },
                None => WalOp::Delete { key },
            })
            .collect();
        let seq = wal
            .append(&Op::Batch(&ops), stamp.now.as_millis())
            .map_err(Error::wal("logging the undo of a refused write"))?;
        // Under the interval and never policies a power loss could keep the refused
        // record and lose its undo: the refused write would come back, which is no
        // prefix of the history. Sync both now (refusals are rare: a full map with
        // no eviction).
        if self.opts.sync != crate::SyncPolicy::EveryWrite {
            wal.sync()
                .map_err(Error::wal("syncing the undo of a refused write"))?;
        }
        let restamp = Stamp {
            seq: seq.0,
            now: stamp.now,
        };
        for (key, entry) in &current {
            if let Some((e, v)) = entry {
                let write = Write::default()
                    .expires_at(e.expires_at())
                    .version(restamp.seq)
                    .created(e.created())
                    .updated(restamp.now);
                // Rewriting a live entry with its own value needs no room.
                self.cache.hooks().insert(key, v, write)?;
            }
        }
        Ok(())
    }
}
