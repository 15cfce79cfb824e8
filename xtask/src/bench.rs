//! `cargo xtask bench [--quick] [--only NAME]`: kv against moka, quick_cache, dashmap,
//! fjall and redb, with the machine's physical limits, in one release-mode run; then
//! kv-server against redis-server (the "Server" section, `bench_server.rs`).
//!
//! The full, unfiltered run regenerates `docs/benchmarks.md` and `docs/bench/*.svg`.
//! `--quick` (every workload at a tiny scale, for CI) and `--only` runs write their
//! report to `target/bench-report/` instead, so they never overwrite the published one.

use anyhow::{bail, Context, Result};

use crate::cmd::{cargo, exec, root};

const USAGE: &str = "usage: cargo xtask bench [--quick] [--only NAME]\n\n\
    Without flags: the full run (about 16 minutes on 2 cores); rewrites docs/benchmarks.md\n\
    and docs/bench/*.svg. With a flag the report goes to target/bench-report/ instead.\n\n\
    --quick      every workload at a tiny scale\n\
    --only NAME  only the workloads whose name contains NAME; `server` is kv-server\n\
    \x20            against redis-server; `target/release/kv-bench --help` lists the others\n";

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut quick = false;
    let mut only = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => only = Some(it.next().context("--only needs a workload name")?.clone()),
            "--help" | "-h" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => bail!("bench: unexpected argument `{other}` (see cargo xtask bench --help)"),
        }
    }
    if only.as_deref() == Some(crate::bench_server::NAME) {
        // No kv-bench workload is named so: the Server section alone, into a report of
        // its own under target/.
        let root = root();
        let target = crate::bench_server::target_dir(&root);
        let report = target.join("bench-report").join("benchmarks.md");
        std::fs::create_dir_all(target.join("bench-report"))?;
        std::fs::write(
            &report,
            "# Benchmarks (`cargo xtask bench --only server`)\n",
        )?;
        return crate::bench_server::run(
            quick,
            only.as_deref(),
            &report,
            &target.join("bench-data"),
            &target,
        );
    }
    exec(cargo().args(["build", "--release", "-p", "kv-bench", "--bins"]))?;

    let root = root();
    let target = crate::bench_server::target_dir(&root);
    let exe = target
        .join("release")
        .join(format!("kv-bench{}", std::env::consts::EXE_SUFFIX));

    let mut command = String::from("cargo xtask bench");
    let mut bench = std::process::Command::new(&exe);
    bench.current_dir(&root);
    if quick {
        command.push_str(" --quick");
        bench.arg("--quick");
    }
    if let Some(name) = &only {
        command.push_str(&format!(" --only {name}"));
        bench.args(["--only", name]);
    }
    let (report, charts) = if quick || only.is_some() {
        let dir = target.join("bench-report");
        (dir.join("benchmarks.md"), dir.join("bench"))
    } else {
        (
            root.join("docs").join("benchmarks.md"),
            root.join("docs").join("bench"),
        )
    };
    bench
        .arg("--report")
        .arg(&report)
        .arg("--charts")
        .arg(&charts)
        .args(["--charts-link", "bench"])
        .arg("--data-dir")
        .arg(target.join("bench-data"))
        .args(["--command", &command]);
    exec(&mut bench)?;
    crate::bench_server::run(
        quick,
        only.as_deref(),
        &report,
        &target.join("bench-data"),
        &target,
    )
}
