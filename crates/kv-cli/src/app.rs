//! Running a command line: parse, dispatch, print the error, choose the exit status.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::Result;

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Success: exit status 0.
    Done,
    /// A negative answer (key absent, damage found): exit status 1.
    No,
}

/// What a command works with: the parsed line and the standard streams.
pub(crate) struct Ctx<'a> {
    pub(crate) cli: &'a Cli,
    pub(crate) out: &'a mut dyn Write,
    pub(crate) input: &'a mut dyn Read,
    /// Whether stdout is a terminal (`get` then ends the value with a newline).
    pub(crate) out_is_terminal: bool,
    /// Whether progress bars may be shown.
    pub(crate) progress: bool,
}

/// Runs `kv` with `args` (the first is the program name) on the process's standard
/// streams, printing errors to stderr; returns the exit status.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let stdout = std::io::stdout();
    let out_is_terminal = stdout.is_terminal();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut input = std::io::stdin().lock();
    let code = run_with(args, &mut out, &mut input, out_is_terminal);
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("kv: cannot write: {e}");
            2
        }
        _ => code,
    }
}

/// Runs `kv` with `args`, writing results to `out` and reading `set` values and
/// `load -` input from `input`; errors go to stderr. Returns the exit status: 0, 1 for
/// a negative answer, 2 for an error (clap's usage errors too).
pub fn run_with<I, T>(
    args: I,
    out: &mut dyn Write,
    input: &mut dyn Read,
    out_is_terminal: bool,
) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            if e.use_stderr() {
                let _ = e.print();
            } else {
                // --help and --version go to the caller's stdout.
                let _ = write!(out, "{}", e.render());
            }
            return code;
        }
    };
    let mut ctx = Ctx {
        cli: &cli,
        out,
        input,
        out_is_terminal,
        progress: crate::progress::Progress::enabled(cli.quiet),
    };
    match dispatch(&mut ctx) {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::No) => 1,
        Err(e) if e.is_broken_pipe() => 0,
        Err(e) => {
            eprintln!("kv: {e}");
            2
        }
    }
}

fn dispatch(ctx: &mut Ctx<'_>) -> Result<Outcome> {
    let dir = ctx.cli.data_dir();
    match &ctx.cli.command {
        Command::Stats { .. } => crate::cmd_stats::run(ctx, &dir),
        Command::Verify { .. } => crate::cmd_verify::run(ctx, &dir),
        Command::Dump {
            format,
            output,
            salvage,
            ..
        } => crate::cmd_dump::run(ctx, &dir, *format, output.as_deref(), *salvage),
        Command::Load { batch, .. } => {
            let cli = ctx.cli;
            let file = cli.load_file().unwrap_or(std::path::Path::new("-"));
            crate::cmd_load::run(ctx, &dir, file, *batch)
        }
        Command::Compact { .. } => crate::cmd_compact::run(ctx, &dir),
        Command::Repair { backup, .. } => crate::cmd_repair::run(ctx, &dir, backup.as_deref()),
        _ => crate::cmd_hand::run(ctx, &dir),
    }
}
