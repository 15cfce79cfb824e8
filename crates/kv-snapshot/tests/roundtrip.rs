//! Property: any set of entries writes and reads back equal, minus the expired ones.

mod common;

use kv_snapshot::{Access, SnapshotEntry, SnapshotOptions, SnapshotReader, Snapshots};
use proptest::prelude::*;

fn entry_strategy() -> impl Strategy<Value = SnapshotEntry> {
    let value = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 4_000..70_000),
    ];
    (
        prop::collection::vec(any::<u8>(), 0..40),
        value,
        prop::option::of(0u64..200),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<Option<(u64, u64, u8)>>(),
    )
        .prop_map(
            |(key, value, expires_at, created, updated, version, access)| SnapshotEntry {
                key,
                value,
                expires_at,
                created,
                updated,
                version,
                access: access.map(|(accessed, count, lfu)| Access {
                    accessed,
                    count,
                    lfu,
                }),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn entries_round_trip(
        entries in prop::collection::vec(entry_strategy(), 0..40),
        seq in any::<u64>(),
        now in 0u64..100,
        later in 0u64..100,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(dir.path(), SnapshotOptions::default().buffer_size(4096)).unwrap();
        let mut w = snaps.begin(seq, now).unwrap();
        for e in &entries {
            let written = w.push(e).unwrap();
            prop_assert_eq!(written, !e.as_entry_ref().is_expired(now));
        }
        let done = w.finish().unwrap();
        let live: Vec<_> = entries.iter().filter(|e| !e.as_entry_ref().is_expired(now)).cloned().collect();
        prop_assert_eq!(done.header.entry_count, live.len() as u64);
        prop_assert_eq!(done.expired_skipped, (entries.len() - live.len()) as u64);
        prop_assert_eq!(std::fs::metadata(&done.path).unwrap().len(), done.bytes);

        // All-or-nothing load at the writer's time returns exactly what was written.
        let loaded = snaps.load_latest(now).unwrap().unwrap();
        prop_assert_eq!(loaded.header.sequence.get(), seq);
        prop_assert_eq!(loaded.header.created_ms, now);
        prop_assert_eq!(&loaded.entries, &live);

        // A streaming read later skips what expired since, and verifies.
        let t = now + later;
        let mut reader = SnapshotReader::open(&done.path, t).unwrap();
        let mut got = Vec::new();
        while let Some(e) = reader.next_ref() {
            got.push(e.unwrap().to_entry());
        }
        prop_assert!(reader.is_verified());
        let expected: Vec<_> = live.iter().filter(|e| !e.as_entry_ref().is_expired(t)).cloned().collect();
        prop_assert_eq!(reader.expired_skipped(), (live.len() - expected.len()) as u64);
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn an_empty_snapshot_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(dir.path(), 0, 5, &[]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 48 + 24);
    let reader = SnapshotReader::open(&path, 5).unwrap();
    let summary = reader.verify().unwrap();
    assert_eq!(summary.entries, 0);
    assert_eq!(summary.header.entry_count, 0);
}

#[test]
fn a_value_larger_than_the_buffer_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let big = common::entry(1, 3 << 20, None);
    let small = common::entry(2, 10, Some(1_000));
    let path = common::write(
        dir.path(),
        9,
        0,
        &[small.clone(), big.clone(), small.clone()],
    );
    let got: Result<Vec<_>, _> = SnapshotReader::open(&path, 0).unwrap().collect();
    assert_eq!(got.unwrap(), vec![small.clone(), big, small]);
}

#[test]
fn every_fill_level_of_the_last_chunk_round_trips() {
    // Record sizes 60..85 bytes and 60..80 records put the end of the data, and the
    // footer after it, at every position around the first 4 KiB chunk boundary.
    let dir = tempfile::tempdir().unwrap();
    let snaps = Snapshots::open(
        dir.path(),
        SnapshotOptions::default().buffer_size(4096).keep(1),
    )
    .unwrap();
    let mut seq = 0;
    for value_len in 0..25 {
        for n in 60..80 {
            let entries: Vec<_> = (0..n).map(|i| common::entry(i, value_len, None)).collect();
            seq += 1;
            let mut w = snaps.begin(seq, 0).unwrap();
            for e in &entries {
                w.push(e).unwrap();
            }
            let done = w.finish().unwrap();
            assert_eq!(std::fs::metadata(&done.path).unwrap().len(), done.bytes);
            let loaded = snaps.load_latest(0).unwrap().unwrap();
            assert_eq!(loaded.entries, entries, "value_len {value_len}, n {n}");
        }
    }
}
