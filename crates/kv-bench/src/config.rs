//! Command-line options and the two scales a run can take (quick and full).

use std::path::PathBuf;

/// Sizes and durations of one run; `full()` is the published run, `quick()` the CI smoke.
#[derive(Debug, Clone)]
pub struct Scale {
    /// True for the quick scale.
    pub quick: bool,
    /// Keys in the in-memory workloads (all present, Zipf 0.99).
    pub keys: usize,
    /// Length of each thread's pre-generated key stream: the most operations one
    /// thread performs in one timed run.
    pub ops_per_thread: usize,
    /// About how long one timed in-memory run lasts (slow contenders walk a shorter
    /// prefix of the same stream).
    pub run_seconds: f64,
    /// Timed runs per in-memory figure (the median and range are reported).
    pub runs: usize,
    /// Timed runs per fill figure: each is a child process filling a fresh cache with
    /// every key, so a run costs far more than `run_seconds`.
    pub fill_runs: usize,
    /// Key universe of the churn workload.
    pub churn_keys: usize,
    /// Capacity of the churn workload.
    pub churn_capacity: u64,
    /// Key universe of the hit-ratio workloads.
    pub hit_keys: usize,
    /// Accesses in one hit-ratio trace.
    pub hit_accesses: usize,
    /// Entries inserted to measure memory per entry.
    pub mem_entries: usize,
    /// Seconds of each timed durable run.
    pub durable_seconds: f64,
    /// Timed runs per durable figure.
    pub durable_runs: usize,
    /// Keys written before a reopen is timed.
    pub reopen_keys: usize,
    /// Bytes of the sequential disk bandwidth test.
    pub seq_bytes: u64,
    /// Seconds of the fdatasync-rate test.
    pub fsync_seconds: f64,
    /// Bytes of the memory copy test buffer.
    pub memcpy_bytes: usize,
}

impl Scale {
    /// The published run: the sizes, bounded to well under 15 minutes on 2 cores.
    pub fn full() -> Self {
        Self {
            quick: false,
            keys: 1_000_000,
            ops_per_thread: 2_000_000,
            run_seconds: 0.4,
            runs: 9,
            fill_runs: 5,
            churn_keys: 1_000_000,
            churn_capacity: 100_000,
            hit_keys: 1_000_000,
            hit_accesses: 3_000_000,
            mem_entries: 1_000_000,
            durable_seconds: 1.5,
            durable_runs: 3,
            reopen_keys: 1_000_000,
            seq_bytes: 1 << 30,
            fsync_seconds: 2.0,
            memcpy_bytes: 256 << 20,
        }
    }

    /// Every workload at a tiny scale: checks the harness works, in well under a minute.
    pub fn quick() -> Self {
        Self {
            quick: true,
            keys: 20_000,
            ops_per_thread: 40_000,
            run_seconds: 0.005,
            runs: 5,
            fill_runs: 3,
            churn_keys: 20_000,
            churn_capacity: 2_000,
            hit_keys: 20_000,
            hit_accesses: 60_000,
            mem_entries: 20_000,
            durable_seconds: 0.05,
            durable_runs: 1,
            reopen_keys: 5_000,
            seq_bytes: 16 << 20,
            fsync_seconds: 0.1,
            memcpy_bytes: 16 << 20,
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The scale of the run.
    pub scale: Scale,
    /// Only workloads whose name contains this.
    pub only: Option<String>,
    /// Where the markdown report goes; charts go to `charts_dir`.
    pub report: PathBuf,
    /// Where the SVG charts go.
    pub charts_dir: PathBuf,
    /// How the charts are linked from the report (relative to the report).
    pub charts_link: String,
    /// Scratch directory on the disk under test (emptied as needed).
    pub data_dir: PathBuf,
    /// The command that produced the run, as printed in the report.
    pub command: String,
}

/// The names `--only` matches against (a name selects every workload containing it).
pub const WORKLOADS: &str = "limits, get, get75-set25, set, incr, churn, churn-ttl, fill, \
    hit-ratio, memory, durable-sets, durable-batch, durable-latency, durable-incr, reopen, \
    wal-replay, snapshot";

/// What `kv-bench --help` prints.
pub fn usage() -> String {
    format!(
        "usage: kv-bench [--quick] [--only NAME] [--report FILE] [--charts DIR] \
         [--charts-link PREFIX] [--data-dir DIR] [--command TEXT]\n\n\
         Runs kv against its peers and writes a markdown report (default \
         target/bench-report/benchmarks.md). Usually started by `cargo xtask bench`.\n\n\
         --quick          every workload at a tiny scale\n\
         --only NAME      only the workloads whose name contains NAME\n\
         --report FILE    where the report goes\n\
         --charts DIR     where its SVG charts go (default: bench/ beside the report)\n\
         --charts-link P  how the report links the charts (default: bench)\n\
         --data-dir DIR   scratch directory on the disk under test (default: target/bench-data)\n\
         --command TEXT   the command the report says produced it\n\n\
         Workloads: {WORKLOADS}.\n"
    )
}

impl Options {
    /// Parses `--quick`, `--only NAME`, `--report FILE`, `--charts DIR`, `--charts-link
    /// PREFIX`, `--data-dir DIR`, `--command TEXT`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut quick = false;
        let mut only = None;
        let mut report = None;
        let mut charts_dir = None;
        let mut charts_link = None;
        let mut data_dir = None;
        let mut command = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
            };
            match arg.as_str() {
                "--quick" => quick = true,
                "--only" => only = Some(value("--only")?),
                "--report" => report = Some(PathBuf::from(value("--report")?)),
                "--charts" => charts_dir = Some(PathBuf::from(value("--charts")?)),
                "--charts-link" => charts_link = Some(value("--charts-link")?),
                "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
                "--command" => command = Some(value("--command")?),
                other => anyhow::bail!("unexpected argument `{other}`"),
            }
        }
        let report = report.unwrap_or_else(|| PathBuf::from("target/bench-report/benchmarks.md"));
        let charts_dir = charts_dir.unwrap_or_else(|| {
            report
                .parent()
                .map(|p| p.join("bench"))
                .unwrap_or_else(|| PathBuf::from("bench"))
        });
        Ok(Self {
            scale: if quick { Scale::quick() } else { Scale::full() },
            only,
            report,
            charts_dir,
            charts_link: charts_link.unwrap_or_else(|| "bench".to_owned()),
            data_dir: data_dir.unwrap_or_else(|| PathBuf::from("target/bench-data")),
            command: command.unwrap_or_else(|| "kv-bench".to_owned()),
        })
    }

    /// True when the workload called `name` should run.
    pub fn selected(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|o| name.contains(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_and_filters_by_substring() {
        let o = Options::parse(&args(&["--quick", "--only", "churn"])).unwrap();
        assert!(o.scale.quick);
        assert!(o.selected("churn-ttl"));
        assert!(!o.selected("get"));
        let all = Options::parse(&[]).unwrap();
        assert!(!all.scale.quick);
        assert!(all.selected("anything"));
        assert!(Options::parse(&args(&["--only"])).is_err());
        assert!(Options::parse(&args(&["--bogus"])).is_err());
    }
}
