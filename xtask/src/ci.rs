//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use anyhow::{bail, Context, Result};

use crate::cmd::{cargo, display, exec, fresh_dir, root};
use crate::fuzz::Build;

/// Rounds of the SIGKILL crash test in CI (the default of `cargo xtask crash-test` is 200).
const CRASH_TEST_ROUNDS: &str = "20";

/// Seconds each fuzz target runs in the CI smoke.
const FUZZ_SMOKE_SECONDS: u64 = 20;

pub(crate) fn run(args: &[String]) -> Result<()> {
    let skip_fuzz = args.iter().any(|a| a == "--no-fuzz");

    exec(cargo().args(["fmt", "--all", "--check"]))?;
    crate::tidy::run()?;
    exec(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    exec(cargo().args(["test", "--workspace", "--all-targets"]))?;
    exec(cargo().args(["test", "--workspace", "--doc"]))?;
    readme_main_job()?;
    exec(
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // Keeps the benchmark harness working; writes under target/, never docs/.
    crate::bench::run(&["--quick".to_owned()])?;

    crate::crash::run(&["--rounds".to_owned(), CRASH_TEST_ROUNDS.to_owned()])?;

    if skip_fuzz {
        eprintln!("fuzz smoke: skipped (--no-fuzz)");
    } else if Build::Stable.available() {
        for target in crate::fuzz::targets()? {
            crate::fuzz::campaign(&target, FUZZ_SMOKE_SECONDS, Build::Stable)?;
        }
    } else if std::env::var_os("CI").is_some() {
        bail!(
            "fuzz smoke: cargo-fuzz is missing (`cargo install cargo-fuzz`; .ci/run installs it)"
        );
    } else {
        eprintln!("fuzz smoke: skipped (no cargo-fuzz here: `cargo install cargo-fuzz`)");
    }
    Ok(())
}

/// The README's main job (the `quickstart` example), run twice on a fresh directory:
/// each run must succeed and the second must find what the first wrote.
fn readme_main_job() -> Result<()> {
    let dir = root().join("target/ci-quickstart");
    fresh_dir(&dir)?;
    for run in 1..=2 {
        let mut cmd = cargo();
        cmd.args([
            "run",
            "-q",
            "-p",
            "kv-store",
            "--example",
            "quickstart",
            "--",
        ])
        .arg(&dir);
        eprintln!("$ {} (run {run})", display(&cmd));
        let out = cmd.output().context("running the quickstart example")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "the quickstart example failed ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let want = match run {
            1 => "nothing to recover: a new store",
            _ => "the last run left: hello from run 1",
        };
        if !stdout.contains(want) {
            bail!("run {run} of the quickstart example did not print {want:?}:\n{stdout}");
        }
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(())
}
