//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! ```text
//! cargo xtask ci                      fmt, clippy, tests, doc tests, rustdoc, tidy, fuzz smoke
//! cargo xtask tidy                    checks the crate dependency arrows and unsafe policy
//! cargo xtask fuzz <target> [--seconds N]   runs a cargo-fuzz campaign (nightly)
//! cargo xtask crash-test [--rounds N]       SIGKILLs a writing store, checks recovery
//! cargo xtask bench [--quick] [--only NAME]  kv vs moka, quick_cache, dashmap, fjall, redb;
//!                                            kv-server vs redis-server
//! ```

mod bench;
mod bench_server;
mod ci;
mod cmd;
mod crash;
mod fuzz;
mod tidy;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        print_help();
        return Ok(());
    };
    match task.as_str() {
        "bench" => bench::run(rest),
        "ci" => ci::run(rest),
        "tidy" => tidy::run(),
        "fuzz" => fuzz::run(rest),
        "crash-test" => crash::run(rest),
        "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => {
            print_help();
            bail!("unknown task `{other}`")
        }
    }
}

fn print_help() {
    eprintln!(
        "usage: cargo xtask <task>\n\n\
         tasks:\n  \
         ci                         fmt, clippy, tests, doc tests, rustdoc, tidy, fuzz smoke\n  \
         tidy                       dependency arrows and unsafe policy\n  \
         fuzz <target> [--seconds N] cargo-fuzz campaign on nightly (default 60 s)\n  \
         crash-test [--rounds N]    SIGKILL a writing store, reopen, check (default 200)\n  \
         bench [--quick] [--only NAME]  benchmarks vs the peers (and kv-server vs redis-server);\n                             \
         full run rewrites docs/benchmarks.md"
    );
}
