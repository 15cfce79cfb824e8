//! Torn and damaged tails: truncating or zeroing the last records at every byte
//! offset, garbage tails, flipped bits with valid records after them, records from
//! another log, damage in older segments, and what each recovery mode does.

mod common;

use common::{append, open_sim, put, replay_all};
use kv_wal::{
    Corruption, Error, Op, OwnedOp, Record, RecoveryMode, SegmentId, Seq, SimStorage, SyncPolicy,
};

const SEG: u64 = 4096;

/// A log of `n` records on a fresh disk (closed), its records, and the byte offset of
/// each record's start plus the end of the last, read from the sim.
fn log_with(n: u64, len: usize) -> (SimStorage, Vec<Record>) {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(&sim, SEG, SyncPolicy::Never, RecoveryMode::TolerateTornTail).unwrap();
    for i in 0..n {
        append(&wal, &put(i, len), 100 + i).unwrap();
    }
    wal.close().unwrap();
    let records = replay_all(&wal);
    (sim, records)
}

/// The starting offsets of the records in a single-segment log (64-byte header, each
/// record padded to 8 bytes), found by walking the length fields.
fn offsets(bytes: &[u8], count: usize) -> Vec<usize> {
    let mut offs = vec![64usize];
    for _ in 0..count {
        let at = *offs.last().unwrap();
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        offs.push((at + 8 + len).div_ceil(8) * 8);
    }
    offs
}

fn first_name() -> String {
    SegmentId(1).file_name()
}

/// Opens `bytes` as the only segment, expects `expected` records, and checks that the
/// log takes a new record right after them.
fn expect_prefix(bytes: &[u8], mode: RecoveryMode, expected: &[Record]) -> kv_wal::OpenReport {
    let sim = SimStorage::new();
    sim.set_file(&first_name(), bytes);
    let (wal, report) = open_sim(&sim, SEG, SyncPolicy::EveryWrite, mode)
        .unwrap_or_else(|e| panic!("open failed: {e}"));
    assert_eq!(replay_all(&wal), expected);
    let next = expected.last().map_or(Seq(1), |r| r.seq.next());
    let seq = wal.append(&Op::Delete { key: b"new" }, 1).unwrap();
    assert_eq!(seq, next);
    let after = replay_all(&wal);
    assert_eq!(after.len(), expected.len() + 1);
    assert_eq!(
        after.last().unwrap().op,
        OwnedOp::Delete {
            key: b"new".to_vec()
        }
    );
    // And it survives a reopen, strictly checked.
    let crashed = sim.crash(kv_wal::CrashMode::DropUnsynced);
    drop(wal);
    let (wal, _) = open_sim(
        &crashed,
        SEG,
        SyncPolicy::EveryWrite,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    assert_eq!(replay_all(&wal), after);
    report
}

#[test]
fn truncating_or_zeroing_the_last_records_at_every_offset_keeps_the_prefix() {
    let (sim, records) = log_with(6, 40);
    let bytes = sim.file(&first_name()).unwrap();
    let offs = offsets(&bytes, records.len());
    let end = offs[records.len()];
    // Every byte offset from the start of the second-to-last record to the end.
    for cut in offs[records.len() - 2]..=end {
        let whole = offs.iter().skip(1).filter(|&&o| o <= cut).count();
        // Records whose bytes (up to the length they claim) are all before the cut.
        let survive = (0..records.len())
            .filter(|&i| {
                let len = u32::from_le_bytes(bytes[offs[i] + 4..offs[i] + 8].try_into().unwrap());
                offs[i] + 8 + len as usize <= cut
            })
            .count();
        assert!(survive >= whole);

        let truncated = &bytes[..cut];
        let report = expect_prefix(
            truncated,
            RecoveryMode::TolerateTornTail,
            &records[..survive],
        );
        assert_eq!(report.records, survive as u64);

        let mut zeroed = bytes.clone();
        zeroed[cut..].fill(0);
        let report = expect_prefix(&zeroed, RecoveryMode::TolerateTornTail, &records[..survive]);
        let torn = cut.saturating_sub(offs[survive]);
        let nonzero = zeroed[offs[survive].min(cut)..cut].iter().any(|&b| b != 0);
        assert_eq!(
            report.discarded_bytes > 0,
            nonzero,
            "cut {cut}, torn {torn}"
        );
        if nonzero {
            assert_eq!(
                report.discarded_at,
                Some((SegmentId(1), offs[survive] as u64))
            );
            // The same damage is an error when nothing may be lost.
            let strict = SimStorage::new();
            strict.set_file(&first_name(), &zeroed);
            let err = open_sim(
                &strict,
                SEG,
                SyncPolicy::Never,
                RecoveryMode::AbsoluteConsistency,
            )
            .unwrap_err();
            assert!(
                matches!(err, Error::Corrupt { offset, kind: Corruption::TornTail { .. }, .. } if offset == offs[survive] as u64),
                "{err}"
            );
        }
    }
}

#[test]
fn garbage_tails_are_discarded_and_zero_filled() {
    let (sim, records) = log_with(5, 100);
    let bytes = sim.file(&first_name()).unwrap();
    let end = offsets(&bytes, records.len())[records.len()];
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng as u8
    };
    for fill in ["zeros", "ones", "random", "short random"] {
        let mut b = bytes.clone();
        let stop = if fill == "short random" {
            end + 37
        } else {
            b.len()
        };
        for x in &mut b[end..stop] {
            *x = match fill {
                "zeros" => 0,
                "ones" => 0xff,
                _ => random(),
            };
        }
        let report = expect_prefix(&b, RecoveryMode::TolerateTornTail, &records);
        let dirty = b[end..].iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
        assert_eq!(report.discarded_bytes, dirty as u64, "{fill}");
        let report = expect_prefix(&b, RecoveryMode::SalvageValid, &records);
        assert_eq!(report.discarded_bytes, dirty as u64, "{fill}");
    }
}

#[test]
fn a_flipped_bit_in_a_middle_record_is_an_error_not_a_tail() {
    let (sim, records) = log_with(6, 40);
    let bytes = sim.file(&first_name()).unwrap();
    let offs = offsets(&bytes, records.len());
    for (victim, &start) in offs.iter().enumerate().take(records.len() - 1) {
        for at in [start, start + 5, start + 30] {
            let mut b = bytes.clone();
            b[at] ^= 0x04;
            for mode in [
                RecoveryMode::AbsoluteConsistency,
                RecoveryMode::TolerateTornTail,
            ] {
                let s = SimStorage::new();
                s.set_file(&first_name(), &b);
                let err = open_sim(&s, SEG, SyncPolicy::Never, mode).unwrap_err();
                match &err {
                    Error::Corrupt { file, offset, .. } => {
                        assert!(file.contains(&first_name()), "{err}");
                        assert_eq!(*offset, start as u64, "{err}");
                    }
                    other => panic!("expected corruption, got {other}"),
                }
                assert!(err.to_string().contains("offset"), "{err}");
                // Opening failed: the file was not touched.
                assert_eq!(s.file(&first_name()).unwrap(), b);
            }
            // Salvage keeps every other record.
            let s = SimStorage::new();
            s.set_file(&first_name(), &b);
            let (wal, report) =
                open_sim(&s, SEG, SyncPolicy::Never, RecoveryMode::SalvageValid).unwrap();
            let mut expected = records.clone();
            expected.remove(victim);
            assert_eq!(replay_all(&wal), expected);
            assert_eq!(report.damage.len(), 2, "{:?}", report.damage); // the hole, the gap
            assert_eq!(report.damage[0].offset, start as u64);
        }
    }
    // The last record damaged: the close's durable marker after it says it was durable,
    // so that is corruption too.
    let last = offs[records.len() - 1];
    let mut b = bytes.clone();
    b[last + 30] ^= 0x04;
    let s = SimStorage::new();
    s.set_file(&first_name(), &b);
    let err = open_sim(&s, SEG, SyncPolicy::Never, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { offset, kind: Corruption::Hole { .. }, .. } if *offset == last as u64),
        "{err}"
    );
    // Without the marker (the writer stopped before closing) it is a torn tail.
    let end = offs[records.len()];
    assert_eq!(b[end + 8], 7, "a durable marker follows the last record");
    b[end..end + 32].fill(0);
    expect_prefix(
        &b,
        RecoveryMode::TolerateTornTail,
        &records[..records.len() - 1],
    );
}

#[test]
fn a_record_from_another_log_is_rejected() {
    let (ours, records) = log_with(3, 40);
    let (theirs, their_records) = log_with(5, 40);
    let ob = ours.file(&first_name()).unwrap();
    let tb = theirs.file(&first_name()).unwrap();
    let oo = offsets(&ob, records.len());
    let to = offsets(&tb, their_records.len());
    // Their 4th record has the sequence number ours would need next.
    let theirs_next = &tb[to[3]..to[4]];
    assert_eq!(their_records[3].seq, Seq(4));
    let mut b = ob.clone();
    let end = oo[records.len()];
    b[end..end + theirs_next.len()].copy_from_slice(theirs_next);
    let report = expect_prefix(&b, RecoveryMode::TolerateTornTail, &records);
    assert_eq!(
        report.discarded_bytes,
        theirs_next.len() as u64 - {
            // trailing zero padding is not counted as discarded
            theirs_next.iter().rev().take_while(|&&x| x == 0).count() as u64
        }
    );
    // Copied over a middle record, with ours after it: corruption.
    let mut b = ob.clone();
    b[oo[1]..oo[2]].copy_from_slice(&tb[to[1]..to[2]]);
    let s = SimStorage::new();
    s.set_file(&first_name(), &b);
    let err = open_sim(&s, SEG, SyncPolicy::Never, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                kind: Corruption::Hole { .. },
                ..
            }
        ),
        "{err}"
    );
    // A whole segment of another log is refused.
    let two = SimStorage::new();
    two.set_file(&SegmentId(1).file_name(), &ob);
    let mut foreign = tb.clone();
    foreign[24..32].copy_from_slice(&2u64.to_le_bytes()); // pretend to be segment 2
    two.set_file(&SegmentId(2).file_name(), &foreign);
    let err = open_sim(&two, SEG, SyncPolicy::Never, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(err.is_corruption(), "{err}");
}

/// A log spread over several segments.
fn multi_segment() -> (SimStorage, Vec<Record>) {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        1024,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    for i in 0..30 {
        append(&wal, &put(i, 100), i).unwrap();
    }
    wal.close().unwrap();
    assert!(wal.stats().segments >= 4);
    (sim, replay_all(&wal))
}

#[test]
fn damage_in_an_older_segment_or_a_missing_segment_is_an_error() {
    let (sim, records) = multi_segment();
    let names = sim.file_names();
    // A flipped bit in the last record of the first segment: not the tail of the log.
    let first = sim.file(&names[0]).unwrap();
    let last_rec = offsets(&first, 5)
        .windows(2)
        .filter(|w| first[w[0] + 4] != 0)
        .map(|w| w[0])
        .next_back()
        .unwrap();
    let mut damaged = first.clone();
    damaged[last_rec + 20] ^= 1;
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateTornTail,
    ] {
        let s = sim.crash(kv_wal::CrashMode::KeepUnsynced);
        s.set_file(&names[0], &damaged);
        let err = open_sim(&s, 1024, SyncPolicy::Never, mode).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { file, offset, .. } if file.contains(&names[0]) && *offset == last_rec as u64),
            "{err}"
        );
    }
    let s = sim.crash(kv_wal::CrashMode::KeepUnsynced);
    s.set_file(&names[0], &damaged);
    let (wal, report) = open_sim(&s, 1024, SyncPolicy::Never, RecoveryMode::SalvageValid).unwrap();
    let got = replay_all(&wal);
    assert_eq!(got.len(), records.len() - 1);
    assert!(!report.damage.is_empty());

    // A segment in the middle goes missing: a gap, an error naming the next segment.
    let s = sim.crash(kv_wal::CrashMode::KeepUnsynced);
    kv_wal::Storage::remove(&s, &names[1]).unwrap();
    let err = open_sim(&s, 1024, SyncPolicy::Never, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { file, kind: Corruption::MissingSegment { .. }, .. } if file.contains(&names[2])),
        "{err}"
    );
    // Salvage keeps what is there, with a gap in the sequence.
    let (wal, _) = open_sim(&s, 1024, SyncPolicy::Never, RecoveryMode::SalvageValid).unwrap();
    let got = replay_all(&wal);
    assert!(got.len() < records.len());
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    let seq = wal.append(&Op::Clear, 0).unwrap();
    assert_eq!(seq, records.last().unwrap().seq.next());

    // A bad header is corruption too (salvage skips the segment).
    let s = sim.crash(kv_wal::CrashMode::KeepUnsynced);
    let mut bad = s.file(&names[1]).unwrap();
    bad[0] = b'X';
    s.set_file(&names[1], &bad);
    let err = open_sim(&s, 1024, SyncPolicy::Never, RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Corrupt {
                kind: Corruption::BadMagic { .. },
                offset: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_truncated_last_segment_header_is_corruption_but_leftover_temp_files_are_not() {
    let (sim, records) = multi_segment();
    let names = sim.file_names();
    // A leftover temporary file of an interrupted rotation is removed and ignored.
    sim.set_file(&format!("{}.tmp", SegmentId(99).file_name()), b"partial");
    sim.set_file("unrelated.txt", b"keep me");
    let (wal, report) = open_sim(
        &sim,
        1024,
        SyncPolicy::Never,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    assert_eq!(report.removed_temp_files, 1);
    assert_eq!(replay_all(&wal), records);
    assert!(sim.file("unrelated.txt").is_some());
    drop(wal);
    let last = names.last().unwrap();
    let bytes = sim.file(last).unwrap();
    sim.set_file(last, &bytes[..30]);
    let err = open_sim(
        &sim,
        1024,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Corrupt {
                kind: Corruption::ShortHeader { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn salvage_starts_a_new_segment_after_an_unusable_last_one() {
    let (sim, records) = multi_segment();
    let names = sim.file_names();
    let last = names.last().unwrap();
    let mut bad = sim.file(last).unwrap();
    bad[10] ^= 0xff; // the header's version: the checksum no longer matches
    sim.set_file(last, &bad);
    let err = open_sim(
        &sim,
        1024,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Corrupt {
                kind: Corruption::HeaderChecksum { .. },
                ..
            }
        ),
        "{err}"
    );
    let (wal, report) =
        open_sim(&sim, 1024, SyncPolicy::Never, RecoveryMode::SalvageValid).unwrap();
    assert_eq!(report.damage.len(), 1);
    let kept = replay_all(&wal);
    assert!(!kept.is_empty() && kept.len() < records.len());
    assert_eq!(kept[..], records[..kept.len()]);
    let seq = wal.append(&Op::Clear, 0).unwrap();
    assert_eq!(seq, kept.last().unwrap().seq.next());
    let new_id = SegmentId::parse_file_name(last).unwrap().next();
    assert!(sim.file_names().contains(&new_id.file_name()));
    wal.close().unwrap();
    drop(wal);
    // Salvage opens it again the same way, new record included.
    let (wal, _) = open_sim(&sim, 1024, SyncPolicy::Never, RecoveryMode::SalvageValid).unwrap();
    let again = replay_all(&wal);
    assert_eq!(again.len(), kept.len() + 1);
    assert_eq!(again.last().unwrap().op, OwnedOp::Clear);
}

#[test]
fn a_sequence_gap_at_the_end_of_an_older_segment_is_reported_where_its_records_end() {
    // Issue 13 #7: the lost records are at the end of the first segment; the error
    // named offset 0 of the second.
    let (sim, _) = multi_segment();
    let names = sim.file_names();
    let first = sim.file(&names[0]).unwrap();
    let starts: Vec<usize> = offsets(&first, 5)
        .into_iter()
        .filter(|&o| first[o + 4] != 0)
        .collect();
    // Zero the last record of the first segment: its records now end cleanly, one
    // short of where the second segment begins.
    let last = *starts.last().unwrap();
    let mut cut = first.clone();
    cut[last..].fill(0);
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateTornTail,
    ] {
        let s = sim.crash(kv_wal::CrashMode::KeepUnsynced);
        s.set_file(&names[0], &cut);
        let err = open_sim(&s, 1024, SyncPolicy::Never, mode).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { file, offset, kind: Corruption::SeqGap { .. } }
                if file.ends_with(&names[0]) && *offset == last as u64),
            "{err}"
        );
    }
    let s = sim.crash(kv_wal::CrashMode::KeepUnsynced);
    s.set_file(&names[0], &cut);
    let (_, report) = open_sim(&s, 1024, SyncPolicy::Never, RecoveryMode::SalvageValid).unwrap();
    assert_eq!(report.damage.len(), 1, "{:?}", report.damage);
    let d = &report.damage[0];
    assert!(d.file.ends_with(&names[0]), "{d:?}");
    assert_eq!(d.offset, last as u64);
    assert!(matches!(d.kind, Corruption::SeqGap { .. }), "{d:?}");
}
