//! kv-wal on its own: appends under each sync policy (the log's share of a durable
//! set), and replay speed of a log holding many records.

use std::path::Path;
use std::time::Instant;

use kv_wal::{BatchOp, Op, Seq, SyncPolicy, Wal, WalOptions};

use crate::adapter::{DurableAdapter, SyncMode};
use crate::config::Options;
use crate::keys::{self, Keys};
use crate::results::{fmt_num, Results};
use crate::stats::Summary;
use crate::suite::durable::REOPEN;

/// The name of the log-only contender.
pub(crate) const WAL: &str = "kv-wal (log only)";
/// The `--only` name of the replay workload.
pub(crate) const REPLAY: &str = "wal-replay";
/// A fixed write time: the log stores it, nothing reads it here.
const TIMESTAMP_MS: u64 = 1_700_000_000_000;

fn policy(mode: SyncMode) -> SyncPolicy {
    match mode {
        SyncMode::EveryWrite => SyncPolicy::EveryWrite,
        SyncMode::Interval(d) => SyncPolicy::Interval(d),
        SyncMode::Never => SyncPolicy::Never,
    }
}

/// A `kv_wal::Wal` with default segment size, appending one `Put` per set.
pub struct KvWalAdapter {
    wal: Wal,
}

impl DurableAdapter for KvWalAdapter {
    fn name() -> String {
        WAL.to_owned()
    }

    fn ours() -> bool {
        true
    }

    fn reads() -> bool {
        false
    }

    fn describe(mode: SyncMode) -> Option<String> {
        Some(format!("append a Put, SyncPolicy::{:?}", policy(mode)))
    }

    fn open(dir: &Path, mode: SyncMode) -> anyhow::Result<Self> {
        let (wal, _) = Wal::open(dir, WalOptions::default().sync(policy(mode)))?;
        Ok(Self { wal })
    }

    fn set(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        self.wal.append(
            &Op::Put {
                key,
                value,
                expires_at: None,
            },
            TIMESTAMP_MS,
        )?;
        Ok(())
    }

    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
        let ops: Vec<BatchOp<'_>> = items
            .iter()
            .map(|&(key, value)| BatchOp::Put {
                key,
                value,
                expires_at: None,
            })
            .collect();
        self.wal.append(&Op::Batch(&ops), TIMESTAMP_MS)?;
        Ok(())
    }

    fn get(&self, _key: &[u8]) -> anyhow::Result<bool> {
        anyhow::bail!("a log alone cannot look keys up")
    }

    fn close(self) -> anyhow::Result<()> {
        let stats = self.wal.stats();
        if stats.syncs > 0 {
            // How many records each group-commit flush covered, over all runs.
            let records = stats.last_seq.map_or(0, |s| s.0);
            eprintln!(
                "{WAL}: {records} records, {} flushes: {:.2} records per flush",
                stats.syncs,
                records as f64 / stats.syncs as f64
            );
        }
        self.wal.close()?;
        Ok(())
    }
}

/// Appends `reopen_keys` puts without sync, closes, then times opening the log (which
/// scans it to find its end) and replaying every record, in bytes of log per second.
pub(crate) fn replay(opts: &Options, results: &mut Results) -> anyhow::Result<()> {
    if !opts.selected(REPLAY) {
        return Ok(());
    }
    let n = opts.scale.reopen_keys;
    eprintln!("kv-wal: replay of {n} records");
    let keys = Keys::new(n);
    let value = keys::value();
    let dir = opts.data_dir.join("kv-wal-replay");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let wal = KvWalAdapter::open(&dir, SyncMode::Never)?;
    for i in 0..n {
        wal.set(keys.get(i), &value)?;
    }
    let bytes = wal.wal.stats().bytes;
    wal.close()?;
    let variant = format!("{} records", fmt_num(n as f64));
    let mut opens = Vec::new();
    let mut replays = Vec::new();
    for _ in 0..opts.scale.durable_runs {
        let start = Instant::now();
        let (wal, report) = Wal::open(&dir, WalOptions::default().sync(SyncPolicy::Never))?;
        let opened = start.elapsed().as_secs_f64();
        anyhow::ensure!(
            report.records == n as u64,
            "kv-wal found {} of {n} records",
            report.records
        );
        let start = Instant::now();
        let mut count = 0u64;
        for record in wal.replay_from(Seq(0))? {
            std::hint::black_box(record?);
            count += 1;
        }
        let replayed = start.elapsed().as_secs_f64();
        anyhow::ensure!(count == n as u64, "kv-wal replayed {count} of {n} records");
        wal.close()?;
        opens.push(bytes as f64 / opened);
        replays.push(bytes as f64 / replayed);
    }
    std::fs::remove_dir_all(&dir)?;
    results.push(
        REOPEN,
        "WAL open (scan to the end)",
        &variant,
        "kv-wal",
        true,
        Summary::of(&opens),
        "B/s",
    );
    results.push(
        REOPEN,
        "WAL replay",
        &variant,
        "kv-wal",
        true,
        Summary::of(&replays),
        "B/s",
    );
    results.push(
        REOPEN,
        "WAL size",
        &variant,
        "kv-wal",
        true,
        Summary::single(bytes as f64),
        "B",
    );
    Ok(())
}
