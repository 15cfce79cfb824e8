//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use anyhow::Result;

use crate::cmd::{cargo, exec, have_cargo_fuzz};

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
    } else if have_cargo_fuzz() {
        for target in crate::fuzz::targets()? {
            crate::fuzz::campaign(&target, FUZZ_SMOKE_SECONDS)?;
        }
    } else {
        eprintln!("fuzz smoke: skipped (no `cargo +nightly fuzz` on this machine)");
    }
    Ok(())
}
