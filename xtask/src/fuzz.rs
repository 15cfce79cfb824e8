//! `cargo xtask fuzz <target> [--seconds N]`: a cargo-fuzz campaign on nightly, with
//! AddressSanitizer. CI's smoke (`cargo xtask ci`) runs the same targets on the stable
//! toolchain instead (see [`Build::Stable`]), so that it runs on a machine with no nightly.
//!
//! The committed corpus in `fuzz/corpus/<target>` is the seed; inputs the fuzzer finds
//! interesting are written to a scratch directory so the committed corpus only grows
//! by a deliberate commit.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use std::process::Command;

use crate::cmd::{exec, root};

const DEFAULT_SECONDS: u64 = 60;

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut target = None;
    let mut seconds = DEFAULT_SECONDS;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = it.next().context("--seconds needs a value")?;
                seconds = value
                    .parse()
                    .with_context(|| format!("--seconds: `{value}` is not a whole number"))?;
            }
            other if target.is_none() && !other.starts_with('-') => target = Some(other.to_owned()),
            other => bail!("fuzz: unexpected argument `{other}`"),
        }
    }
    let known = targets()?;
    let Some(target) = target else {
        bail!("fuzz: name a target, one of: {}", known.join(", "));
    };
    if !known.contains(&target) {
        bail!("fuzz: no target `{target}`; known: {}", known.join(", "));
    }
    if !Build::Nightly.available() {
        bail!("fuzz: campaigns need `cargo +nightly fuzz` (rustup toolchain install nightly; cargo install cargo-fuzz)");
    }
    campaign(&target, seconds, Build::Nightly)
}

/// How a target is built.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Build {
    /// `cargo +nightly fuzz`, with AddressSanitizer: campaigns.
    Nightly,
    /// `cargo fuzz --sanitizer none` on the default (stable) toolchain, with
    /// `RUSTC_BOOTSTRAP=1` letting it pass cargo-fuzz's nightly-only flags: CI's smoke.
    /// Without the sanitizer it still finds panics, hangs, overflows (debug assertions
    /// are on) and runaway allocations; the crates' unsafe code is the mmap module.
    Stable,
}

impl Build {
    /// `cargo [+nightly] fuzz`, started by the rustup proxy (not `$CARGO`: only the
    /// proxy understands `+nightly`).
    fn cargo_fuzz(self) -> Command {
        let mut cmd = Command::new("cargo");
        cmd.env_remove("RUSTUP_TOOLCHAIN");
        match self {
            Build::Nightly => {
                cmd.args(["+nightly", "fuzz"]);
            }
            Build::Stable => {
                cmd.env("RUSTC_BOOTSTRAP", "1").arg("fuzz");
            }
        }
        cmd
    }

    /// Whether cargo-fuzz runs here this way.
    pub(crate) fn available(self) -> bool {
        self.cargo_fuzz()
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    }
}

/// The fuzz targets, from `fuzz/fuzz_targets/*.rs`.
pub(crate) fn targets() -> Result<Vec<String>> {
    let dir = root().join("fuzz").join("fuzz_targets");
    let mut names = Vec::new();
    if dir.is_dir() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "rs") {
                if let Some(stem) = path.file_stem() {
                    names.push(stem.to_string_lossy().into_owned());
                }
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Runs one target for `seconds`, seeded from the committed corpus.
pub(crate) fn campaign(target: &str, seconds: u64, build: Build) -> Result<()> {
    let committed = root().join("fuzz").join("corpus").join(target);
    let scratch: PathBuf = root().join("target").join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let mut cmd = build.cargo_fuzz();
    cmd.current_dir(root().join("fuzz")).arg("run");
    if let Build::Stable = build {
        cmd.args(["--sanitizer", "none"]);
    }
    cmd.arg(target).arg(&scratch);
    if committed.is_dir() {
        cmd.arg(&committed);
    }
    cmd.args([
        "--",
        &format!("-max_total_time={seconds}"),
        "-rss_limit_mb=2048",
    ]);
    exec(&mut cmd)
}
