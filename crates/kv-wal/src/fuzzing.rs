//! Checks the fuzz targets drive (feature `fuzzing`): arbitrary bytes never panic, and
//! what recovery accepts is exactly a prefix of valid records.
//!
//! Both functions panic (the fuzzer's signal) only when a property is broken; the
//! inputs themselves may be anything.

use std::sync::Arc;

use crate::codec::{decode_payload, encode, probe, Probe, Seed, BODY_FIXED, FRAME_LEN};
use crate::header::HEADER_LEN;
use crate::sim::SimStorage;
use crate::{LogId, Op, Record, RecoveryMode, SegmentId, Seq, SyncPolicy, Wal, WalOptions};

/// The segment size of logs opened by [`replay_bytes`].
const SEGMENT_SIZE: u64 = 4096;

/// Splits a fuzz input into segment files: the first byte's two low bits plus one are
/// the number of files; every file but the last is preceded by its length (`u32`,
/// little-endian, clamped to what is left); the last file takes the rest. If the first
/// byte's high bit is set, every checksum that can be found is then recomputed (see
/// [`fix_checksums`]), so the fuzzer reaches what lies behind them.
pub fn split_segments(data: &[u8]) -> Vec<Vec<u8>> {
    let Some((&first, mut rest)) = data.split_first() else {
        return Vec::new();
    };
    let n = usize::from(first & 3) + 1;
    let mut files = Vec::with_capacity(n);
    for _ in 1..n {
        let Some(len) = rest.get(..4) else { break };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        rest = &rest[4..];
        let len = len.min(rest.len());
        files.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    files.push(rest.to_vec());
    if first & 0x80 != 0 {
        files.iter_mut().for_each(|f| fix_checksums(f));
    }
    files
}

/// Rewrites the header checksum of a segment file and the checksum of every record
/// found by following the length fields from the first record on (with the log and
/// segment ids its header names), leaving every other byte alone.
pub fn fix_checksums(file: &mut [u8]) {
    if (file.len() as u64) < HEADER_LEN {
        return;
    }
    let crc = crc32fast::hash(&file[..60]);
    file[60..64].copy_from_slice(&crc.to_le_bytes());
    let u64_at = |b: &[u8], i: usize| {
        let mut a = [0; 8];
        a.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(a)
    };
    let seed = Seed::new(LogId(u64_at(file, 16)), SegmentId(u64_at(file, 24)));
    let mut off = HEADER_LEN as usize;
    while off + FRAME_LEN as usize <= file.len() {
        let len = u32::from_le_bytes([file[off + 4], file[off + 5], file[off + 6], file[off + 7]])
            as usize;
        let end = off + FRAME_LEN as usize + len;
        if (len as u64) < BODY_FIXED || end > file.len() {
            break;
        }
        let crc = seed.checksum(&file[off + 4..end]);
        file[off..off + 4].copy_from_slice(&crc.to_le_bytes());
        off = end.div_ceil(8) * 8;
    }
}

/// The inverse of [`split_segments`], for building corpus files.
pub fn join_segments(files: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![(files.len().max(1) - 1) as u8];
    for (i, f) in files.iter().enumerate() {
        if i + 1 < files.len() {
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

/// Opens `data` (split by [`split_segments`] into `wal-1.log`, `wal-2.log`, ...) as a
/// log in every [`RecoveryMode`] and checks: no panic; whatever opens replays a
/// sequence of records each byte-for-byte where the file has it (a prefix of the valid
/// records, for the strict modes); the log then takes an append; and the modes agree
/// (a stricter mode that opens finds the same records as a laxer one).
pub fn replay_bytes(data: &[u8]) {
    let files = split_segments(data);
    let mut results = Vec::new();
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateTornTail,
        RecoveryMode::SalvageValid,
    ] {
        let sim = SimStorage::new();
        for (i, f) in files.iter().enumerate() {
            sim.set_file(&SegmentId(i as u64 + 1).file_name(), f);
        }
        results.push(check_open(&sim, &files, mode));
    }
    if let (Some(strict), Some(tolerant)) = (&results[0], &results[1]) {
        assert_eq!(strict, tolerant, "absolute and tolerant recovery disagree");
    }
    if let (Some(tolerant), Some(salvage)) = (&results[1], &results[2]) {
        assert_eq!(tolerant, salvage, "tolerant and salvage recovery disagree");
    }
}

fn check_open(sim: &SimStorage, files: &[Vec<u8>], mode: RecoveryMode) -> Option<Vec<Record>> {
    let options = WalOptions::default()
        .segment_size(SEGMENT_SIZE)
        .sync(SyncPolicy::Never)
        .recovery(mode)
        .storage(Arc::new(sim.clone()));
    let (wal, report) = Wal::open("fuzz", options).ok()?;
    let log = wal.log_id();
    let mut records = Vec::new();
    let mut next_offset: Option<(SegmentId, u64)> = None;
    let mut replay = wal.replay_from(Seq(0)).expect("replay of an opened log");
    while let Some(found) = replay.next_found() {
        let (seg, offset, record) = found.expect("replay of an opened log fails");
        if let Some(prev) = records.last().map(|r: &Record| r.seq) {
            if mode == RecoveryMode::SalvageValid {
                assert!(record.seq > prev, "sequence not increasing");
            } else {
                assert_eq!(record.seq, prev.next(), "sequence gap");
            }
        }
        let original = files
            .get((seg.0 - 1) as usize)
            .expect("replayed a segment that was not in the input");
        if mode != RecoveryMode::SalvageValid {
            // Records are contiguous from the header on within a segment, but for
            // durable markers (which replay skips).
            let mut expected = match next_offset {
                Some((s, off)) if s == seg => off,
                _ => HEADER_LEN,
            };
            while expected < offset {
                match probe(original, expected, &Seed::new(log, seg)) {
                    Probe::Valid(f) if f.is_marker() => expected = f.next,
                    _ => break,
                }
            }
            assert_eq!(offset, expected, "records not contiguous");
        }
        let durable = original
            .get(offset as usize + 25..offset as usize + 29)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let framed = frame(&record, durable, log, seg);
        let unpadded = FRAME_LEN as usize
            + u32::from_le_bytes([framed[4], framed[5], framed[6], framed[7]]) as usize;
        assert_eq!(
            original.get(offset as usize..offset as usize + unpadded),
            Some(&framed[..unpadded]),
            "a replayed record is not what the file holds"
        );
        next_offset = Some((seg, offset + framed.len() as u64));
        records.push(record);
    }
    assert_eq!(
        records.len() as u64,
        report.records,
        "report disagrees with replay"
    );

    // The log takes an append after whatever it recovered, and replays it last.
    let op = Op::Put {
        key: b"fuzz",
        value: b"after recovery",
        expires_at: None,
    };
    if let Ok(seq) = wal.append(&op, 7) {
        let again: Vec<Record> = wal
            .replay_from(Seq(0))
            .expect("replay after append")
            .collect::<Result<_, _>>()
            .expect("replay after append fails");
        assert_eq!(&again[..records.len()], &records[..]);
        assert_eq!(again.len(), records.len() + 1);
        let last = &again[records.len()];
        assert_eq!((last.seq, &last.op), (seq, &op.to_owned_op()));
    }
    Some(records)
}

/// `record` framed as the log writes it, with the durable mark `durable` (which a
/// [`Record`] does not keep).
fn frame(record: &Record, durable: u32, log: LogId, segment: SegmentId) -> Vec<u8> {
    let mut scratch = Vec::new();
    let op = record.op.as_op(&mut scratch);
    let mut buf = Vec::new();
    encode(
        &op,
        record.seq,
        record.timestamp_ms,
        durable,
        &Seed::new(log, segment),
        &mut buf,
    );
    buf
}

/// Decodes `data` as a framed record and, from its second byte on, as the payload of
/// record type `data[0]`; whatever decodes must re-encode to the same bytes.
pub fn decode_record(data: &[u8]) {
    let seed = Seed::new(LogId(1), SegmentId(1));
    if let Probe::Valid(f) = probe(data, 0, &seed) {
        if let Ok(record) = f.decode() {
            // At offset 0 a valid record's durable mark can only be 0.
            let durable = u32::try_from(f.durable).expect("a mark at offset 0 is 0");
            let framed = frame(&record, durable, LogId(1), SegmentId(1));
            let unpadded = f.next.min(framed.len() as u64) as usize;
            let len = FRAME_LEN as usize
                + u32::from_le_bytes([framed[4], framed[5], framed[6], framed[7]]) as usize;
            assert!(unpadded >= len);
            assert_eq!(&data[..len], &framed[..len], "re-encoding differs");
        }
    }
    let Some((&ty, payload)) = data.split_first() else {
        return;
    };
    if let Ok(op) = decode_payload(ty, payload) {
        let mut scratch = Vec::new();
        let mut buf = Vec::new();
        encode(&op.as_op(&mut scratch), Seq(9), 3, 0, &seed, &mut buf);
        let body = (FRAME_LEN + BODY_FIXED) as usize;
        assert_eq!(buf[FRAME_LEN as usize], ty, "type differs");
        assert_eq!(&buf[body..body + payload.len()], payload, "payload differs");
        let Probe::Valid(f) = probe(&buf, 0, &seed) else {
            panic!("an encoded record does not validate")
        };
        assert_eq!(f.decode().map(|r| r.op), Ok(op), "round trip differs");
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::{BatchOp, CrashMode};

    fn corpus(target: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target)
    }

    fn files(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out: Vec<_> = std::fs::read_dir(corpus(target))
            .unwrap_or_else(|e| panic!("reading the {target} corpus: {e}"))
            .map(|e| {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_committed_wal_replay_corpus_replays() {
        let inputs = files("wal_replay");
        assert!(inputs.len() >= 6, "corpus missing");
        for (path, bytes) in inputs {
            eprintln!("{}", path.display());
            replay_bytes(&bytes);
        }
    }

    #[test]
    fn the_hole_seeds_open_as_their_names_say() {
        let open = |name: &str| {
            let bytes = std::fs::read(corpus("wal_replay").join(name)).unwrap();
            let files = split_segments(&bytes);
            let sim = SimStorage::new();
            for (i, f) in files.iter().enumerate() {
                sim.set_file(&SegmentId(i as u64 + 1).file_name(), f);
            }
            check_open(&sim, &files, RecoveryMode::TolerateTornTail).map(|r| r.len())
        };
        // Unsynced when a whole sector of it was lost: the log ends before it (records
        // at 64, 264, 304, 368 and 416 are whole; the one at 464 runs into 512..1024).
        assert_eq!(open("power-loss-hole"), Some(5));
        // A zeroed record followed by valid ones and a clean close's marker: durable.
        assert_eq!(open("fixed-hole"), None);
        // Durable before the records after it were written: corruption.
        assert_eq!(open("fixed-durable-hole"), None);
        assert_eq!(open("durable-flipped-bit"), None);
        // Nothing after it says it was durable: cut like a power loss (the rule's limit).
        assert_eq!(open("crashed-flipped-bit"), Some(1));
        for seed in 0..3 {
            assert!(open(&format!("scrambled-{seed}")).is_some());
        }
    }

    #[test]
    fn the_committed_wal_record_corpus_decodes() {
        let inputs = files("wal_record");
        assert!(inputs.len() >= 6, "corpus missing");
        for (path, bytes) in inputs {
            eprintln!("{}", path.display());
            decode_record(&bytes);
        }
    }

    #[test]
    fn the_checker_sees_the_records_of_a_valid_log_and_refuses_a_damaged_one() {
        let one = segments(4, 512, 20);
        for mode in [
            RecoveryMode::AbsoluteConsistency,
            RecoveryMode::TolerateTornTail,
            RecoveryMode::SalvageValid,
        ] {
            let sim = SimStorage::new();
            sim.set_file(&SegmentId(1).file_name(), &one[0]);
            let records = check_open(&sim, &one, mode).expect("a valid log opens");
            let seqs: Vec<u64> = records.iter().map(|r| r.seq.0).collect();
            assert_eq!(seqs, vec![1, 2, 3, 4]);
        }
        let mut flipped = one.clone();
        flipped[0][64 + 20] ^= 1;
        let sim = SimStorage::new();
        sim.set_file(&SegmentId(1).file_name(), &flipped[0]);
        assert!(check_open(&sim, &flipped, RecoveryMode::TolerateTornTail).is_none());
    }

    #[test]
    fn fixing_checksums_revalidates_a_damaged_record() {
        let mut one = segments(4, 512, 20);
        let mut damaged = one[0].clone();
        damaged[64 + 50] ^= 1; // inside the first record's value
        fix_checksums(&mut damaged);
        let sim = SimStorage::new();
        sim.set_file(&SegmentId(1).file_name(), &damaged);
        let records = check_open(
            &sim,
            std::slice::from_ref(&damaged),
            RecoveryMode::AbsoluteConsistency,
        )
        .expect("checksums fixed");
        assert_eq!(records.len(), 4);
        // Fixing a valid file changes nothing.
        let before = one[0].clone();
        fix_checksums(&mut one[0]);
        assert_eq!(one[0], before);
        let mut input = join_segments(&one);
        input[0] |= 0x80;
        assert_eq!(split_segments(&input), one);
    }

    #[test]
    fn split_and_join_are_inverse() {
        let files = vec![b"abc".to_vec(), vec![], b"z".to_vec()];
        assert_eq!(split_segments(&join_segments(&files)), files);
        assert_eq!(split_segments(&[]), Vec::<Vec<u8>>::new());
        assert_eq!(split_segments(&[3, 9, 9]), vec![vec![9, 9]]);
    }

    /// A small log's segment files after some appends, on the simulated disk.
    fn segments(n: u64, segment_size: u64, value: usize) -> Vec<Vec<u8>> {
        segments_with(
            n,
            segment_size,
            value,
            SyncPolicy::Never,
            CrashMode::DropUnsynced,
        )
    }

    /// As [`segments`], with a sync policy (which sets each record's durable mark) and
    /// a crash that leaves the disk (after a close, unless `Never` and no close).
    fn segments_with(
        n: u64,
        segment_size: u64,
        value: usize,
        sync: SyncPolicy,
        crash: CrashMode,
    ) -> Vec<Vec<u8>> {
        let sim = SimStorage::new();
        let options = WalOptions::default()
            .segment_size(segment_size)
            .sync(sync)
            .storage(Arc::new(sim.clone()));
        let (wal, _) = Wal::open("corpus", options).unwrap();
        let batch = [
            BatchOp::Put {
                key: b"b1",
                value: b"v",
                expires_at: Some(5),
            },
            BatchOp::Delete { key: b"b2" },
        ];
        for i in 0..n {
            let key = format!("k{i}");
            let val = vec![i as u8; value];
            let op = match i % 5 {
                0 => Op::Put {
                    key: key.as_bytes(),
                    value: &val,
                    expires_at: None,
                },
                1 => Op::Delete {
                    key: key.as_bytes(),
                },
                2 => Op::Batch(&batch),
                3 => Op::Expire {
                    key: key.as_bytes(),
                    expires_at: Some(i),
                },
                _ => Op::Evict {
                    key: key.as_bytes(),
                    version: i,
                },
            };
            wal.append(&op, 1000 + i).unwrap();
        }
        if crash == CrashMode::DropUnsynced {
            wal.close().unwrap();
        }
        let disk = sim.crash(crash);
        disk.file_names()
            .iter()
            .map(|n| disk.file(n).unwrap())
            .collect()
    }

    #[test]
    #[ignore = "rewrites the committed fuzz corpus"]
    fn regenerate_corpus() {
        let replay = corpus("wal_replay");
        let record = corpus("wal_record");
        for d in [&replay, &record] {
            std::fs::create_dir_all(d).unwrap();
        }
        let write = |dir: &Path, name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        let one = segments(4, 512, 20);
        write(&replay, "one-segment", &join_segments(&one));
        let three = segments(20, 512, 120);
        assert!(three.len() >= 3);
        write(&replay, "three-segments", &join_segments(&three[..3]));
        let mut torn = one.clone();
        let end = torn[0].iter().rposition(|&b| b != 0).unwrap() + 1;
        torn[0][end..end + 9].copy_from_slice(b"torn tail");
        write(&replay, "torn-tail", &join_segments(&torn));
        let mut flipped = one.clone();
        flipped[0][64 + 20] ^= 1;
        write(&replay, "flipped-bit", &join_segments(&flipped));
        let mut cut = one.clone();
        cut[0].truncate(150);
        write(&replay, "truncated", &join_segments(&cut));
        write(
            &replay,
            "header-only",
            &join_segments(&[one[0][..64].to_vec()]),
        );
        write(&replay, "empty", &[]);
        // With the high bit of the first byte set, checksums are recomputed: these
        // reach the checks behind them.
        let fixed = |files: &[Vec<u8>]| {
            let mut input = join_segments(files);
            input[0] |= 0x80;
            input
        };
        let offsets = {
            let mut offs = vec![64usize];
            for _ in 0..3 {
                let at = *offs.last().unwrap();
                let len = u32::from_le_bytes(one[0][at + 4..at + 8].try_into().unwrap()) as usize;
                offs.push((at + 8 + len).div_ceil(8) * 8);
            }
            offs
        };
        let mut gap = one.clone();
        gap[0][offsets[2] + 9] += 1; // record 3 claims seq 4
        write(&replay, "fixed-seq-gap", &fixed(&gap));
        let mut undecodable = one.clone();
        undecodable[0][offsets[1] + 8] = 9; // unknown type
        write(&replay, "fixed-unknown-type", &fixed(&undecodable));
        let mut hole = one.clone();
        // Record 2 zeroed, record 3 valid, the log closed: corruption, though no sync
        // came between the records.
        hole[0][offsets[1]..offsets[2]].fill(0);
        write(&replay, "fixed-hole", &fixed(&hole));
        // A whole sector lost in the middle of unsynced records, no close: the log
        // ends at the first record with bytes in it.
        let mut lost = segments_with(12, 4096, 150, SyncPolicy::Never, CrashMode::KeepUnsynced);
        lost[0][512..1024].fill(0);
        write(&replay, "power-loss-hole", &join_segments(&lost));
        // The same with every record synced before the next: a hole in durable bytes.
        let mut durable =
            segments_with(4, 512, 20, SyncPolicy::EveryWrite, CrashMode::DropUnsynced);
        durable[0][offsets[1]..offsets[2]].fill(0);
        write(&replay, "fixed-durable-hole", &fixed(&durable));
        let mut flipped_durable =
            segments_with(4, 512, 20, SyncPolicy::EveryWrite, CrashMode::DropUnsynced);
        flipped_durable[0][offsets[1] + 30] ^= 1;
        write(
            &replay,
            "durable-flipped-bit",
            &join_segments(&flipped_durable),
        );
        // A flipped bit in a log whose writer never synced nor closed: nothing says the
        // record was durable, so it is taken for a power loss.
        let mut flipped_crashed =
            segments_with(4, 512, 20, SyncPolicy::Never, CrashMode::KeepUnsynced);
        flipped_crashed[0][offsets[1] + 30] ^= 1;
        write(
            &replay,
            "crashed-flipped-bit",
            &join_segments(&flipped_crashed),
        );
        // Pages written back out of order at a power loss, a few ways.
        for seed in 0..3 {
            let scrambled = segments_with(
                12,
                4096,
                150,
                SyncPolicy::Never,
                CrashMode::Scrambled { seed, block: 512 },
            );
            write(
                &replay,
                &format!("scrambled-{seed}"),
                &join_segments(&scrambled),
            );
        }
        write(&replay, "fixed-three-segments", &fixed(&three[..3]));

        // Record payloads: type byte then payload, and one whole framed record.
        let seed = Seed::new(LogId(1), SegmentId(1));
        let ops: [(&str, Op<'_>); 6] = [
            (
                "put",
                Op::Put {
                    key: b"key",
                    value: b"value",
                    expires_at: Some(9),
                },
            ),
            ("delete", Op::Delete { key: b"key" }),
            (
                "expire",
                Op::Expire {
                    key: b"key",
                    expires_at: None,
                },
            ),
            (
                "evict",
                Op::Evict {
                    key: b"key",
                    version: 3,
                },
            ),
            ("clear", Op::Clear),
            (
                "batch",
                Op::Batch(&[
                    BatchOp::Put {
                        key: b"a",
                        value: b"1",
                        expires_at: None,
                    },
                    BatchOp::Delete { key: b"b" },
                ]),
            ),
        ];
        for (name, op) in ops {
            let mut buf = Vec::new();
            encode(&op, Seq(1), 2, 0, &seed, &mut buf);
            let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
            let body = (FRAME_LEN + BODY_FIXED) as usize;
            let mut payload = vec![buf[FRAME_LEN as usize]];
            payload.extend_from_slice(&buf[body..FRAME_LEN as usize + len]);
            write(&record, &format!("payload-{name}"), &payload);
            write(&record, &format!("framed-{name}"), &buf);
        }
    }
}
