//! Damage a snapshot covers (issue 13 #4): with `WalOptions::covered_through(S)`,
//! damage that lost only records at or below S is tolerated in every recovery mode,
//! reported in `OpenReport::covered_damage`, skipped by replays, and gone at the
//! first truncation that covers its segment; damage to a record above S stays an
//! error. The read-only scan judges the same way.

mod common;

use std::sync::Arc;

use common::{append, put, replay_all};
use kv_wal::{
    scan_dir, verify_dir, Corruption, CrashMode, Error, OpenReport, Record, RecoveryMode,
    ScanOptions, SegmentId, Seq, SimStorage, SyncPolicy, Wal, WalOptions,
};

const SEG: u64 = 1024;

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::TolerateTornTail,
    RecoveryMode::SalvageValid,
];

fn options(sim: &SimStorage, mode: RecoveryMode, covered: u64) -> WalOptions {
    WalOptions::default()
        .segment_size(SEG)
        .sync(SyncPolicy::EveryWrite)
        .recovery(mode)
        .covered_through(Seq(covered))
        .storage(Arc::new(sim.clone()))
}

fn open(sim: &SimStorage, mode: RecoveryMode, covered: u64) -> kv_wal::Result<(Wal, OpenReport)> {
    Wal::open("sim", options(sim, mode, covered))
}

/// A closed log of `n` records over several segments, every record synced.
fn log(n: u64) -> (SimStorage, Vec<Record>) {
    let sim = SimStorage::new();
    let (wal, _) = open(&sim, RecoveryMode::TolerateTornTail, 0).unwrap();
    for i in 0..n {
        append(&wal, &put(i, 100), i).unwrap();
    }
    wal.close().unwrap();
    let records = replay_all(&wal);
    (sim, records)
}

/// The start offsets of the records in a segment's bytes.
fn starts(bytes: &[u8]) -> Vec<usize> {
    let mut at = 64usize;
    let mut out = Vec::new();
    while at + 8 <= bytes.len() && bytes[at + 4..at + 8] != [0; 4] {
        out.push(at);
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at = (at + 8 + len).div_ceil(8) * 8;
    }
    out
}

/// The sequence numbers of segment `name`'s records.
fn seqs_in(sim: &SimStorage, name: &str) -> Vec<u64> {
    let bytes = sim.file(name).unwrap();
    starts(&bytes)
        .into_iter()
        .map(|o| u64::from_le_bytes(bytes[o + 9..o + 17].try_into().unwrap()))
        .filter(|&s| s != 0)
        .collect()
}

/// The records above `covered`, replayed.
fn records_after(wal: &Wal, covered: u64) -> Vec<Record> {
    wal.replay_from(Seq(covered + 1))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A copy of `sim` with `edit` applied to file `name`.
fn damaged(sim: &SimStorage, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> SimStorage {
    let s = sim.crash(CrashMode::KeepUnsynced);
    let mut bytes = s.file(name).unwrap();
    edit(&mut bytes);
    s.set_file(name, &bytes);
    s
}

/// Opens `sim` covered through `covered` in every mode and checks that each opens,
/// reports one covered damage in `file` at `offset`, and replays every record above
/// `covered` exactly.
fn tolerated(sim: &SimStorage, covered: u64, all: &[Record], file: &str, offset: u64) {
    for mode in MODES {
        let s = sim.crash(CrashMode::KeepUnsynced);
        let (wal, report) =
            open(&s, mode, covered).unwrap_or_else(|e| panic!("{mode:?} refused: {e}"));
        assert_eq!(report.covered_damage.len(), 1, "{mode:?}: {report:?}");
        let d = &report.covered_damage[0];
        assert!(d.file.ends_with(file) && d.offset == offset, "{d:?}");
        assert!(report.damage.is_empty(), "{mode:?}: {report:?}");
        let after = records_after(&wal, covered);
        assert_eq!(after[..], all[covered as usize..], "{mode:?}");
        // The log takes appends.
        let seq = append(&wal, &put(999, 10), 0).unwrap();
        assert_eq!(seq, all.last().unwrap().seq.next());
    }
}

/// The same damage without the snapshot's cover, or with one stopping a record short,
/// is what it always was: an error in the strict modes.
fn refused(sim: &SimStorage, covered: u64) {
    for c in [0, covered - 1] {
        for mode in [
            RecoveryMode::AbsoluteConsistency,
            RecoveryMode::TolerateTornTail,
        ] {
            let s = sim.crash(CrashMode::KeepUnsynced);
            let err = open(&s, mode, c).unwrap_err();
            assert!(err.is_corruption(), "{mode:?} covered {c}: {err}");
        }
    }
}

#[test]
fn a_flipped_bit_in_a_covered_record_of_an_older_segment_is_tolerated_until_truncation() {
    let (sim, all) = log(30);
    let names = sim.file_names();
    let first = seqs_in(&sim, &names[0]);
    let offset = starts(&sim.file(&names[0]).unwrap())[1];
    // The second record of the first segment is damaged; the snapshot covers through
    // the first segment's last record.
    let sim = damaged(&sim, &names[0], |b| b[offset + 40] ^= 1);
    let covered = *first.last().unwrap();
    tolerated(&sim, covered, &all, &names[0], offset as u64);
    refused(&sim, first[1]);

    // The first truncation through the snapshot's sequence removes the segment, and
    // the log opens cleanly without the cover from then on.
    let (wal, _) = open(&sim, RecoveryMode::TolerateTornTail, covered).unwrap();
    assert_eq!(wal.truncate_through(Seq(covered)).unwrap(), 1);
    assert!(!sim.file_names().contains(&names[0]));
    wal.close().unwrap();
    drop(wal);
    let (_, report) = open(&sim, RecoveryMode::AbsoluteConsistency, 0).unwrap();
    assert!(report.covered_damage.is_empty());
    assert_eq!(report.first_seq, Some(Seq(covered + 1)));
}

#[test]
fn records_lost_at_the_end_of_an_older_segment_are_tolerated_when_covered() {
    let (sim, all) = log(30);
    let names = sim.file_names();
    let first = seqs_in(&sim, &names[0]);
    let last = *starts(&sim.file(&names[0]).unwrap()).last().unwrap();
    // Zeroed: the segment's records end one early, a sequence gap before the next.
    let zeroed = damaged(&sim, &names[0], |b| b[last..].fill(0));
    tolerated(
        &zeroed,
        *first.last().unwrap(),
        &all,
        &names[0],
        last as u64,
    );
    refused(&zeroed, *first.last().unwrap());
    // Garbage instead: damage at the end of a segment that is not the last.
    let garbage = damaged(&sim, &names[0], |b| b[last + 20] ^= 0x55);
    tolerated(
        &garbage,
        *first.last().unwrap(),
        &all,
        &names[0],
        last as u64,
    );
    refused(&garbage, *first.last().unwrap());
}

#[test]
fn an_unusable_header_of_a_covered_segment_is_tolerated_and_truncated() {
    let (sim, all) = log(30);
    let names = sim.file_names();
    let second = seqs_in(&sim, &names[1]);
    let covered = *second.last().unwrap();
    let sim = damaged(&sim, &names[1], |b| b[0] = b'X');
    for mode in MODES {
        let s = sim.crash(CrashMode::KeepUnsynced);
        let (wal, report) = open(&s, mode, covered).unwrap();
        assert_eq!(report.covered_damage.len(), 1, "{report:?}");
        assert!(matches!(
            report.covered_damage[0].kind,
            Corruption::BadMagic { .. }
        ));
        let after = records_after(&wal, covered);
        assert_eq!(after[..], all[covered as usize..]);
        // A replay from the start skips what is lost, and reads the rest.
        let everything = replay_all(&wal);
        assert!(everything.iter().all(|r| !second.contains(&r.seq.0)));
        assert_eq!(everything.len(), all.len() - second.len());
        assert_eq!(wal.truncate_through(Seq(covered)).unwrap(), 2);
        assert!(!s.file_names().contains(&names[1]));
    }
    let err = open(&sim, RecoveryMode::TolerateTornTail, covered - 1).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { file, offset: 0, .. } if file.ends_with(&names[1])),
        "{err}"
    );
}

#[test]
fn covered_damage_in_the_last_segment_is_sealed_at_open_so_a_truncation_removes_it() {
    let (sim, all) = log(30);
    let names = sim.file_names();
    let last = names.last().unwrap();
    let seqs = seqs_in(&sim, last);
    assert!(seqs.len() >= 2, "{seqs:?}");
    let offset = starts(&sim.file(last).unwrap())[0];
    // The first record of the last segment is damaged, a durable one (a later record
    // carries a durable mark past it): a hole, not a power loss.
    let sim = damaged(&sim, last, |b| b[offset + 40] ^= 1);
    refused(&sim, seqs[0]);
    let covered = seqs[0];
    tolerated(&sim, covered, &all, last, offset as u64);
    let (wal, report) = open(&sim, RecoveryMode::TolerateTornTail, covered).unwrap();
    assert_eq!(
        report.segments,
        names.len() + 1,
        "sealed, a new one started"
    );
    let last_id = SegmentId::parse_file_name(last).unwrap();
    assert!(sim.file_names().contains(&last_id.next().file_name()));
    // Truncating through the last record removes every segment but the new one.
    assert_eq!(
        wal.truncate_through(all.last().unwrap().seq).unwrap(),
        names.len()
    );
    assert_eq!(sim.file_names(), vec![last_id.next().file_name()]);
    assert_eq!(
        append(&wal, &put(1, 1), 0).unwrap(),
        Seq(all.len() as u64 + 1)
    );
}

#[test]
fn a_missing_covered_segment_is_tolerated() {
    let (sim, all) = log(30);
    let names = sim.file_names();
    let second = seqs_in(&sim, &names[1]);
    let covered = *second.last().unwrap();
    kv_wal::Storage::remove(&sim, &names[1]).unwrap();
    kv_wal::Storage::sync_dir(&sim).unwrap();
    for mode in MODES {
        let (wal, report) = open(&sim.crash(CrashMode::KeepUnsynced), mode, covered).unwrap();
        assert!(
            matches!(
                report.covered_damage[..],
                [kv_wal::Damage {
                    kind: Corruption::MissingSegment { .. },
                    ..
                }]
            ),
            "{mode:?}: {report:?}"
        );
        let after = records_after(&wal, covered);
        assert_eq!(after[..], all[covered as usize..]);
    }
    refused(&sim, covered);
}

#[test]
fn the_read_only_scan_reports_covered_damage_apart_from_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let options = WalOptions::default()
        .segment_size(SEG)
        .sync(SyncPolicy::EveryWrite);
    let (wal, _) = Wal::open(tmp.path(), options.clone()).unwrap();
    for i in 0..30 {
        append(&wal, &put(i, 100), i).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    let path = tmp.path().join(SegmentId(1).file_name());
    let mut bytes = std::fs::read(&path).unwrap();
    let first: Vec<usize> = starts(&bytes);
    let covered = first.len() as u64; // the first segment's records are 1..=len
    bytes[first[1] + 40] ^= 1;
    std::fs::write(&path, &bytes).unwrap();

    let plain = verify_dir(tmp.path()).unwrap();
    assert!(!plain.problems.is_empty());
    assert!(plain.covered_damage.is_empty());
    let scan = ScanOptions::new().covered_through(Seq(covered));
    let mut nothing = Nothing;
    let report = scan_dir(tmp.path(), &scan, &mut nothing).unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.covered_damage.len(), 1);
    assert_eq!(report.covered_damage[0].offset, first[1] as u64);
    assert!(!report.is_clean(), "damaged, if covered");
    // Recovery agrees, and the scan changed nothing.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    Wal::open(tmp.path(), options.clone()).unwrap_err();
    let (_, opened) = Wal::open(tmp.path(), options.covered_through(Seq(covered))).unwrap();
    assert_eq!(opened.covered_damage, report.covered_damage);
}

struct Nothing;

impl kv_wal::ScanVisitor for Nothing {}
