//! One benchmark run from start to report: limits, workloads, targets, markdown.

use std::time::Instant;

use crate::config::Options;
use crate::machine::Machine;
use crate::results::Results;
use crate::suite::{durable, fill, hit_ratio, inmem, memory};
use crate::{limits, ours, report};

/// Runs every workload `opts` selects and writes the report; returns the figures.
pub fn run(opts: &Options) -> anyhow::Result<Results> {
    let start = Instant::now();
    std::fs::create_dir_all(&opts.data_dir)?;
    let machine = Machine::probe(&opts.data_dir);
    eprintln!(
        "kv-bench: {} scale, {} × {} cores, data in {}",
        if opts.scale.quick { "quick" } else { "full" },
        machine.cpu,
        machine.cores,
        opts.data_dir.display()
    );
    let mut results = Results::default();
    if opts.selected(limits::NAME) {
        limits::run(&opts.data_dir, &opts.scale, &mut results)?;
    }
    inmem::run(opts, &mut results);
    fill::run(opts, &mut results)?;
    hit_ratio::run(opts, &mut results);
    memory::run(opts, &mut results)?;
    durable::run(opts, &mut results)?;
    ours::kv_store::wal_only_reopen(opts, &mut results)?;
    ours::kv_wal::replay(opts, &mut results)?;
    ours::kv_snapshot::run(opts, &mut results)?;
    report::write(opts, &machine, &results, start.elapsed().as_secs_f64())?;
    eprintln!("kv-bench: done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(results)
}
