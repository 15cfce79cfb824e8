//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use kv_wal::{
    OwnedBatchOp, OwnedOp, Record, RecoveryMode, Seq, SimStorage, SyncPolicy, Wal, WalOptions,
};
use proptest::prelude::*;

/// Options for a log on the simulated disk.
pub fn sim_options(sim: &SimStorage, segment_size: u64, sync: SyncPolicy) -> WalOptions {
    WalOptions::default()
        .segment_size(segment_size)
        .sync(sync)
        .storage(Arc::new(sim.clone()))
}

/// Opens a log on `sim` in `mode`.
pub fn open_sim(
    sim: &SimStorage,
    segment_size: u64,
    sync: SyncPolicy,
    mode: RecoveryMode,
) -> kv_wal::Result<(Wal, kv_wal::OpenReport)> {
    Wal::open("sim", sim_options(sim, segment_size, sync).recovery(mode))
}

/// Every record of the log.
pub fn replay_all(wal: &Wal) -> Vec<Record> {
    wal.replay_from(Seq(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Appends an owned op.
pub fn append(wal: &Wal, op: &OwnedOp, ts: u64) -> kv_wal::Result<Seq> {
    let mut scratch = Vec::new();
    wal.append(&op.as_op(&mut scratch), ts)
}

/// A put of `len` bytes.
pub fn put(i: u64, len: usize) -> OwnedOp {
    OwnedOp::Put {
        key: format!("key-{i}").into_bytes(),
        value: vec![(i % 251) as u8; len],
        expires_at: (i % 3 == 0).then_some(i * 1000),
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn expiry() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(any::<u64>())
}

/// Any operation, values up to `max` bytes.
pub fn any_op(max: usize) -> impl Strategy<Value = OwnedOp> {
    let batch_op = prop_oneof![
        (bytes(16), bytes(max / 4), expiry()).prop_map(|(key, value, expires_at)| {
            OwnedBatchOp::Put {
                key,
                value,
                expires_at,
            }
        }),
        bytes(16).prop_map(|key| OwnedBatchOp::Delete { key }),
    ];
    prop_oneof![
        4 => (bytes(24), bytes(max), expiry()).prop_map(|(key, value, expires_at)| OwnedOp::Put {
            key,
            value,
            expires_at
        }),
        1 => bytes(24).prop_map(|key| OwnedOp::Delete { key }),
        1 => (bytes(24), expiry()).prop_map(|(key, expires_at)| OwnedOp::Expire { key, expires_at }),
        1 => (bytes(24), any::<u64>()).prop_map(|(key, version)| OwnedOp::Evict { key, version }),
        1 => Just(OwnedOp::Clear),
        1 => prop::collection::vec(batch_op, 0..6).prop_map(OwnedOp::Batch),
    ]
}

/// Appends an owned op without waiting for it to be durable.
pub fn append_nowait(wal: &Wal, op: &OwnedOp, ts: u64) -> kv_wal::Result<Seq> {
    let mut scratch = Vec::new();
    wal.append_nowait(&op.as_op(&mut scratch), ts)
}
