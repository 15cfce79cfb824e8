//! Opening a store: lock the directory (unless read-only), load the newest valid
//! snapshot, replay the log after it through the one fold ([`crate::replay`]), drop
//! what expired, and bring the map within its limits.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kv_core::Cache;
use kv_wal::{Seq, Wal, WalOptions};

use crate::dir_lock::DirLock;
use crate::fsutil::{ensure_dir, narrow_dir};
use crate::replay::Replayer;
use crate::report::Limits;
use crate::{Error, Options, RecoveryMode, RecoveryReport, Result};

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The owner: takes the lock, repairs a torn log tail, writes.
    Owner,
    /// A reader beside a possibly running owner: no lock, nothing written.
    ReadOnly,
}

/// What opening found and built.
pub(crate) struct Opened {
    pub(crate) cache: Cache,
    pub(crate) report: RecoveryReport,
    pub(crate) wal: Option<Wal>,
    pub(crate) snaps: Option<kv_snapshot::Snapshots>,
    pub(crate) dir_lock: Option<DirLock>,
    /// The last sequence number used (records and snapshot entries).
    pub(crate) last_seq: u64,
    /// Sequence numbers of the snapshot recovery used, if any.
    pub(crate) snapshot_seqs: Vec<u64>,
}

impl Opened {
    /// An empty map with `opts`' settings; nothing found or held yet.
    fn empty(opts: &Options) -> Result<Self> {
        Ok(Opened {
            cache: Cache::new(opts.cache.clone())?,
            report: RecoveryReport::default(),
            wal: None,
            snaps: None,
            dir_lock: None,
            last_seq: 0,
            snapshot_seqs: Vec::new(),
        })
    }
}

/// How many times a read-only open starts again when a running owner's snapshot and
/// log truncation overtook it (each start sees a newer snapshot, so a few suffice
/// unless the owner snapshots continuously).
const READ_ONLY_ATTEMPTS: u32 = 8;

/// Whether `dir` now holds a snapshot newer than sequence `used` (0: none used).
fn newer_snapshot_than(dir: &Path, used: u64) -> bool {
    kv_snapshot::list_dir(dir).is_ok_and(|l| l.snapshots.iter().any(|f| f.sequence.get() > used))
}

/// Opens the data in `opts.dir` (if any) into a new map.
pub(crate) fn open(opts: &Options, access: Access) -> Result<Opened> {
    let started = Instant::now();
    let mut opened = Opened::empty(opts)?;
    let Some(dir) = &opts.dir else {
        return Ok(opened);
    };
    match access {
        Access::Owner => {
            ensure_dir(dir)?;
            // Nothing in the directory is read or written before the lock is held.
            opened.dir_lock = Some(DirLock::acquire(dir)?);
            narrow_dir(dir);
        }
        Access::ReadOnly => {
            if !dir.is_dir() {
                return Err(if dir.exists() {
                    Error::NotADirectory { path: dir.clone() }
                } else {
                    Error::Io {
                        op: "open the data directory",
                        path: dir.clone(),
                        source: std::io::ErrorKind::NotFound.into(),
                    }
                });
            }
        }
    }
    let mut attempts = 1;
    loop {
        match recover(opts, dir, access, &mut opened) {
            Err(Error::LogGap { .. } | Error::LogBehindSnapshot { .. })
                if access == Access::ReadOnly
                    && attempts < READ_ONLY_ATTEMPTS
                    && newer_snapshot_than(dir, opened.report.snapshot_seq) =>
            {
                // A running owner wrote a newer snapshot and truncated the log between
                // our listing the snapshots and reading the log: start again from the
                // newer snapshot.
                // (A reader holds no lock: nothing of the failed attempt is kept.)
                attempts += 1;
                opened = Opened::empty(opts)?;
            }
            result => break result?,
        }
    }
    opened.report.duration = started.elapsed();
    let r = &opened.report;
    tracing::info!(
        target: "kv_store::recovery",
        snapshot = ?r.snapshot,
        snapshot_entries = r.snapshot_entries,
        snapshots_skipped = r.snapshots_skipped.len(),
        records_replayed = r.records_replayed,
        bytes_cut = r.bytes_cut,
        entries = r.entries,
        duration_ms = r.duration.as_secs_f64() * 1e3,
        "recovered"
    );
    Ok(opened)
}

fn recover(opts: &Options, dir: &Path, access: Access, opened: &mut Opened) -> Result<()> {
    let mode = opts.persistence_mode();
    let cache = &opened.cache;
    let report = &mut opened.report;
    let mut replayer = Replayer::new(cache);

    // The newest snapshot that verifies goes into the map; a damaged one is cleared
    // out again and the next older one tried.
    let listed = match access {
        Access::Owner => {
            let snaps = crate::snapshotting::open_snapshots(opts, dir)?;
            let list = crate::snapshotting::list(&snaps)?;
            opened.snaps = Some(snaps);
            list
        }
        Access::ReadOnly => kv_snapshot::list_dir(dir)
            .map_err(Error::snapshot("listing the snapshots"))?
            .snapshots
            .into_iter()
            .map(|f| (f.sequence.get(), f.path))
            .collect(),
    };
    let mut snapshot_seq = 0;
    for (seq, path) in listed {
        match load_snapshot(&path, &mut replayer) {
            Ok(entries) => {
                snapshot_seq = seq;
                report.snapshot = Some(path);
                report.snapshot_seq = seq;
                report.snapshot_entries = entries;
                opened.snapshot_seqs.push(seq);
                break;
            }
            // A snapshot a running owner removed between listing and opening.
            Err(Error::Snapshot { source, .. })
                if access == Access::ReadOnly && source.is_not_found() => {}
            Err(e @ Error::Snapshot { .. }) => {
                tracing::warn!(
                    target: "kv_store::recovery",
                    file = %path.display(),
                    error = %e,
                    "snapshot unusable; falling back to an older one"
                );
                report.snapshots_skipped.push((path, e.to_string()));
                cache.clear();
                replayer = Replayer::new(cache);
            }
            Err(e) => return Err(e),
        }
    }

    let has_log = mode.uses_wal() || crate::snapshotting::wal_present(dir);
    if has_log {
        let skipped = report.snapshots_skipped.len();
        let log = match access {
            Access::Owner => replay_owned_log(opts, dir, snapshot_seq, skipped, &mut replayer)?,
            Access::ReadOnly => {
                replay_log_read_only(opts, dir, snapshot_seq, skipped, &mut replayer)?
            }
        };
        report.bytes_cut = log.bytes_cut;
        report.cut_at = log.cut_at;
        for d in &log.covered {
            tracing::warn!(
                target: "kv_store::recovery",
                file = %d.file,
                offset = d.offset,
                damage = %d.kind,
                "damaged log records that the snapshot covers: recovery does not need them; the segment goes at the next log truncation"
            );
        }
        report.covered_damage = log
            .covered
            .iter()
            .map(|d| format!("{} at offset {}: {}", d.file, d.offset, d.kind))
            .collect();
        opened.last_seq = log.last_seq;
        if access == Access::Owner && mode.uses_wal() {
            opened.wal = log.wal;
        } else if let Some(w) = log.wal {
            // A snapshot-only store opened on a directory with a log: the log's
            // content is now in memory and the next snapshot covers it.
            w.close()
                .map_err(Error::wal("closing the log of an earlier mode"))?;
        }
    } else if report.snapshot.is_none()
        && !report.snapshots_skipped.is_empty()
        && opts.recovery != RecoveryMode::SalvageValid
    {
        // Every snapshot is damaged and there is no log to rebuild from.
        return Err(Error::LogGap {
            snapshot_seq: 0,
            log_first_seq: 0,
            snapshots_skipped: report.snapshots_skipped.len(),
        });
    }
    report.records_replayed = replayer.counts.records();
    report.replayed = replayer.counts;
    opened.last_seq = opened.last_seq.max(snapshot_seq).max(replayer.max_version);

    report.expired_dropped = cache.hooks().drop_expired();
    report.limits = bring_within_limits(opts, cache, access, opened.wal.as_ref())?;
    report.entries = cache.len() as u64;
    Ok(())
}

/// Loads one snapshot into the map through the replayer; returns its entry count. On
/// an error the map may hold part of it: the caller clears it.
fn load_snapshot(path: &Path, replayer: &mut Replayer<'_>) -> Result<u64> {
    let ctx = Error::snapshot("reading a snapshot");
    // Read with "now" at the epoch, so that no entry is skipped: expiry is applied
    // after the log, which may still revive an entry.
    let mut reader = kv_snapshot::SnapshotReader::open(path, 0).map_err(ctx)?;
    // The map's shards are sized once for the whole snapshot instead of growing
    // (rehashing) as it loads: the entry count is covered by the header's checksum,
    // and bounded by what the file can hold all the same.
    let count = reader.header().entry_count.min(reader.file_len() / 16);
    replayer.reserve(usize::try_from(count).unwrap_or(usize::MAX));
    let mut n = 0;
    while let Some(entry) = reader.next_ref() {
        let entry = entry.map_err(Error::snapshot("reading a snapshot"))?;
        replayer.snapshot_entry(&entry)?;
        n += 1;
    }
    reader
        .verify()
        .map_err(Error::snapshot("reading a snapshot"))?;
    Ok(n)
}

/// What reading the log found.
struct LogRead {
    wal: Option<Wal>,
    /// Damage to records the snapshot covers, tolerated.
    covered: Vec<kv_wal::Damage>,
    first_seq: Option<u64>,
    last_seq: u64,
    bytes_cut: u64,
    cut_at: String,
}

/// The owner's log: opened (a torn tail cut), then replayed after the snapshot.
fn replay_owned_log(
    opts: &Options,
    dir: &Path,
    snapshot_seq: u64,
    snapshots_skipped: usize,
    replayer: &mut Replayer<'_>,
) -> Result<LogRead> {
    let (wal, opened) = open_wal(opts, dir, snapshot_seq)?;
    let last_seq = wal.last_seq().0;
    // Checked before replaying: a log that does not continue the snapshot would be
    // replayed for nothing.
    let read = LogRead {
        wal: None,
        covered: opened.covered_damage,
        first_seq: opened.first_seq,
        last_seq,
        bytes_cut: opened.bytes_cut,
        cut_at: opened.cut_at,
    };
    check_continuity(opts, snapshot_seq, &read, snapshots_skipped)?;
    let records = wal
        .replay_from(Seq(snapshot_seq.saturating_add(1)))
        .map_err(Error::wal("replaying the log"))?;
    for record in records {
        let record = record.map_err(Error::wal("replaying the log"))?;
        replayer.record(&record)?;
    }
    Ok(LogRead {
        wal: Some(wal),
        ..read
    })
}

/// A reader's log: every segment read as it is now, up to its last complete record,
/// nothing written (a torn tail may be a record a running owner is writing).
fn replay_log_read_only(
    opts: &Options,
    dir: &Path,
    snapshot_seq: u64,
    snapshots_skipped: usize,
    replayer: &mut Replayer<'_>,
) -> Result<LogRead> {
    struct Visitor<'r, 'c> {
        replayer: &'r mut Replayer<'c>,
        error: Option<Error>,
    }
    impl kv_wal::ScanVisitor for Visitor<'_, '_> {
        fn record(&mut self, record: kv_wal::Record) {
            if self.error.is_none() {
                if let Err(e) = self.replayer.record(&record) {
                    self.error = Some(e);
                }
            }
        }
    }
    let mut visitor = Visitor {
        replayer,
        error: None,
    };
    let scan_opts = kv_wal::ScanOptions::new()
        .from(Seq(snapshot_seq.saturating_add(1)))
        .covered_through(Seq(snapshot_seq));
    let scan =
        kv_wal::scan_dir(dir, &scan_opts, &mut visitor).map_err(Error::wal("reading the log"))?;
    if let Some(e) = visitor.error {
        return Err(e);
    }
    if opts.recovery != RecoveryMode::SalvageValid {
        if let Some(d) = scan.problems.first() {
            return Err(Error::Wal {
                context: "reading the log",
                source: kv_wal::Error::Corrupt {
                    file: d.file.clone(),
                    offset: d.offset,
                    kind: d.kind.clone(),
                },
            });
        }
    }
    let (bytes_cut, cut_at) = match &scan.torn_tail {
        Some(t) => (t.len, format!("{} offset {}", file_name(&t.file), t.offset)),
        None => (0, String::new()),
    };
    let read = LogRead {
        wal: None,
        covered: scan.covered_damage,
        first_seq: scan.first_seq.map(|s| s.0),
        // With no record, the log stands just before its newest segment's first
        // sequence number (as an opened log's `last_seq` does); with no segment, an
        // opened log would start right after the snapshot.
        last_seq: match (scan.last_seq, scan.segments.last()) {
            (Some(last), _) => last.0,
            (None, Some(seg)) => seg.first_seq.map_or(0, |f| f.0.saturating_sub(1)),
            (None, None) => snapshot_seq,
        },
        bytes_cut,
        cut_at,
    };
    check_continuity(opts, snapshot_seq, &read, snapshots_skipped)?;
    Ok(read)
}

fn file_name(path: &str) -> String {
    PathBuf::from(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// The log must continue right after the snapshot used (or start at 1 when none was),
/// and must not end before it.
fn check_continuity(
    opts: &Options,
    snapshot_seq: u64,
    log: &LogRead,
    snapshots_skipped: usize,
) -> Result<()> {
    // A log that ends before the snapshot would hand out sequence numbers the
    // snapshot already covers, and the next recovery would skip those writes. (A
    // snapshot syncs the log before it is renamed into place, so only files changed
    // by hand lead here.)
    if log.last_seq < snapshot_seq {
        return Err(Error::LogBehindSnapshot {
            snapshot_seq,
            log_last_seq: log.last_seq,
        });
    }
    // Records are missing: a snapshot fallback whose log was truncated, or files
    // removed by hand.
    let missing = match log.first_seq {
        Some(first) => first > snapshot_seq.saturating_add(1),
        None => log.last_seq > snapshot_seq,
    };
    if missing && opts.recovery != RecoveryMode::SalvageValid {
        return Err(Error::LogGap {
            snapshot_seq,
            log_first_seq: log.first_seq.unwrap_or(log.last_seq.saturating_add(1)),
            snapshots_skipped,
        });
    }
    Ok(())
}

/// Recovery loads everything that was acknowledged, whatever the limits now; then the
/// eviction policy brings the map within them (the owner logs those evictions, so the
/// next recovery agrees), or, with `EvictionPolicy::None` (and for a reader), the
/// store stays over its limit and refuses new keys until deletes bring it under.
fn bring_within_limits(
    opts: &Options,
    cache: &Cache,
    access: Access,
    wal: Option<&Wal>,
) -> Result<Limits> {
    let over = cache.len() > cache.max_entries()
        || cache.max_bytes().is_some_and(|max| cache.bytes() > max);
    if !over {
        return Ok(Limits::Within);
    }
    if access == Access::ReadOnly || cache.eviction_policy() == kv_core::EvictionPolicy::None {
        tracing::warn!(
            target: "kv_store::recovery",
            entries = cache.len(),
            max_entries = cache.max_entries(),
            bytes = cache.bytes(),
            max_bytes = ?cache.max_bytes(),
            "recovered more than the limits allow; new keys are refused until deletes bring the store under them"
        );
        return Ok(Limits::Over {
            entries: cache.len() as u64,
            bytes: cache.bytes(),
        });
    }
    let evicted = cache.hooks().evict_to_limits();
    if let Some(wal) = wal {
        let now = opts.clock.now().as_millis();
        for e in &evicted {
            wal.append(
                &kv_wal::Op::Evict {
                    key: e.key(),
                    version: e.version(),
                },
                now,
            )
            .map_err(Error::wal("logging an eviction made after recovery"))?;
        }
    }
    tracing::info!(
        target: "kv_store::recovery",
        evicted = evicted.len(),
        policy = %cache.eviction_policy(),
        "recovered more than the limits allow; evicted down to them"
    );
    Ok(Limits::Evicted {
        entries: evicted.len() as u64,
    })
}

/// What recovery needs from opening the log.
pub(crate) struct WalOpened {
    pub(crate) bytes_cut: u64,
    pub(crate) cut_at: String,
    pub(crate) first_seq: Option<u64>,
    pub(crate) covered_damage: Vec<kv_wal::Damage>,
}

pub(crate) fn open_wal(opts: &Options, dir: &Path, snapshot_seq: u64) -> Result<(Wal, WalOpened)> {
    let mut wo = WalOptions::default()
        .sync(opts.sync)
        .recovery(opts.recovery)
        // A new log continues after the snapshot it starts from, and damage to the
        // records that snapshot covers does not stop recovery, which needs none of them.
        .first_seq(Seq(snapshot_seq.saturating_add(1)))
        .covered_through(Seq(snapshot_seq));
    if let Some(size) = opts.segment_size {
        wo = wo.segment_size(size);
    }
    #[cfg(feature = "sim")]
    if let Some(storage) = &opts.wal_storage {
        wo = wo.storage(std::sync::Arc::clone(storage));
    }
    let (wal, report) = Wal::open(dir, wo).map_err(Error::wal("opening the log"))?;
    let cut_at = match report.discarded_at {
        Some((segment, offset)) => format!("{} offset {offset}", segment.file_name()),
        None => String::new(),
    };
    if !report.damage.is_empty() {
        tracing::warn!(
            target: "kv_store::recovery",
            ranges = report.damage.len(),
            "salvage mode skipped damaged log ranges"
        );
    }
    Ok((
        wal,
        WalOpened {
            bytes_cut: report.discarded_bytes,
            cut_at,
            first_seq: report.first_seq.map(|s| s.0),
            covered_damage: report.covered_damage,
        },
    ))
}
