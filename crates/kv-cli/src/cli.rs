//! The command line: every command and flag, with its help text (clap derive).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// The data directory used when none is given: the README example's (`./kv-data`,
/// see `crates/kv-store/examples/quickstart.rs`).
pub const DEFAULT_DIR: &str = "./kv-data";

/// `kv`: use, inspect, verify and repair a kv data directory.
#[derive(Debug, Parser)]
#[command(
    name = "kv",
    version,
    about = "Use, inspect, verify and repair a kv data directory",
    long_about = "Use, inspect, verify and repair a kv data directory.\n\n\
        Exit status: 0 success; 1 a negative answer (key not found, damage found by \
        `verify`); 2 an error (bad usage, locked or missing directory, I/O).\n\
        stats, verify and dump never modify the directory."
)]
pub struct Cli {
    /// The data directory (created by `set` and `load` if missing).
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Print machine-readable JSON instead of text (JSON lines for listings).
    #[arg(long, global = true)]
    pub json: bool,
    /// Never show a progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the value of KEY (its bytes unchanged; a newline is added on a terminal).
    /// Exit status 1 if the key is absent.
    Get {
        /// The key (taken as raw bytes).
        key: OsString,
    },
    /// Set KEY to VALUE, or to the bytes read from stdin when VALUE is omitted. With
    /// --nx or --xx, only if the key is absent or present: exit status 1, and nothing
    /// written, when it is not.
    Set {
        /// The key (taken as raw bytes).
        key: OsString,
        /// The value (raw bytes); read from stdin, unchanged, when omitted.
        value: Option<OsString>,
        /// Expire the key after this long: a number with a unit, ms, s, m, h or d
        /// (`90s`, `15m`, `1h30m`); a bare number is seconds.
        #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
        ttl: Option<Duration>,
        /// Only if the key does not exist (Redis `SET … NX`).
        #[arg(long, conflicts_with = "xx")]
        nx: bool,
        /// Only if the key exists (Redis `SET … XX`).
        #[arg(long)]
        xx: bool,
        /// Print the value the key had before (nothing if it had none), as Redis
        /// `SET … GET`.
        #[arg(long)]
        get: bool,
    },
    /// Add DELTA (default 1) to the integer stored at KEY (absent counts as 0; the TTL
    /// is kept) and print the new value. Exit status 2 if the value is not an integer
    /// or the result would overflow (nothing written).
    Incr {
        /// The key (taken as raw bytes).
        key: OsString,
        /// How much to add (may be negative).
        #[arg(default_value_t = 1, allow_negative_numbers = true)]
        delta: i64,
    },
    /// Subtract DELTA (default 1) from the integer stored at KEY, as `incr` adds.
    Decr {
        /// The key (taken as raw bytes).
        key: OsString,
        /// How much to subtract (may be negative).
        #[arg(default_value_t = 1, allow_negative_numbers = true)]
        delta: i64,
    },
    /// Append VALUE to the value of KEY (creating it if absent) and print the new
    /// length.
    Append {
        /// The key (taken as raw bytes).
        key: OsString,
        /// The bytes to append (raw).
        value: OsString,
    },
    /// Delete the keys. Exit status 1 if none of them existed.
    Del {
        /// The keys (taken as raw bytes).
        #[arg(required = true)]
        keys: Vec<OsString>,
    },
    /// Print the time KEY has left (`persistent` if it never expires). Exit status 1 if
    /// the key is absent.
    Ttl {
        /// The key (taken as raw bytes).
        key: OsString,
    },
    /// Make KEY expire after DURATION (or never, with --persist). Exit status 1 if the
    /// key is absent.
    Expire {
        /// The key (taken as raw bytes).
        key: OsString,
        /// How long from now: a number with a unit, ms, s, m, h or d; a bare number is
        /// seconds.
        #[arg(value_parser = crate::duration::parse, required_unless_present = "persist")]
        duration: Option<Duration>,
        /// Remove the key's expiry instead.
        #[arg(long, conflicts_with = "duration")]
        persist: bool,
    },
    /// Print `true` if KEY exists (exit status 0), else `false` (exit status 1).
    Exists {
        /// The key (taken as raw bytes).
        key: OsString,
    },
    /// List the live keys, sorted, one per line (raw bytes).
    Keys {
        /// Only keys starting with these bytes.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<OsString>,
        /// Separate keys with NUL bytes instead of newlines (for keys holding newlines).
        #[arg(long, short = '0')]
        null: bool,
    },
    /// List live entries, sorted by key: `key<TAB>value` with non-printable bytes
    /// escaped, or JSON lines with --json.
    Scan {
        /// Only keys starting with these bytes.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<OsString>,
        /// At most this many entries.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Show entries, bytes, segments, snapshots, sequence range and log metrics.
    /// Read-only.
    Stats {
        /// The data directory (default: --dir).
        #[arg(value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// Check every log record and snapshot checksum without changing anything; print
    /// each problem with its file and offset. Exit status 1 if anything is damaged.
    Verify {
        /// The data directory (default: --dir).
        #[arg(value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// Write every live entry to stdout (or --output), sorted by key. Read-only.
    Dump {
        /// The data directory (default: --dir).
        #[arg(value_name = "DIR")]
        path: Option<PathBuf>,
        /// jsonl: one JSON object per entry, what `kv load` reads; text: `key<TAB>value`
        /// with non-printable bytes escaped.
        #[arg(long, value_enum, default_value_t = DumpFormat::Jsonl)]
        format: DumpFormat,
        /// Write to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Dump a damaged directory anyway: every record that verifies, as the
        /// salvaging recovery would keep them (by default damage is an error).
        #[arg(long)]
        salvage: bool,
    },
    /// Import JSON lines (as `kv dump` writes them) from FILE (`-` for stdin), in
    /// batches, into the data directory (--dir, or DIR given before FILE).
    Load {
        /// `[DIR] FILE`: the data directory (default: --dir; created if missing), then
        /// the JSON-lines file (`-` reads stdin).
        #[arg(value_name = "[DIR] FILE", num_args = 1..=2, required = true)]
        paths: Vec<PathBuf>,
        /// Entries per batch (each batch is one log record, all or nothing).
        #[arg(long, value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        batch: u64,
    },
    /// Take a snapshot now and truncate the log it covers.
    Compact {
        /// The data directory (default: --dir).
        #[arg(value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// Copy the directory to a backup, then cut a torn log tail or salvage every valid
    /// record (the tolerant recovery modes) and report what was dropped.
    Repair {
        /// The data directory (default: --dir).
        #[arg(value_name = "DIR")]
        path: Option<PathBuf>,
        /// Where to put the backup (default: `<DIR>.backup-<unix seconds>` beside it).
        /// Must not exist.
        #[arg(long, value_name = "PATH")]
        backup: Option<PathBuf>,
    },
}

/// The formats of `kv dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    /// One JSON object per line: `{"key":..,"value":..,"expires_at_ms":..}`; bytes that
    /// are not UTF-8 go in `key_hex` / `value_hex`. What `kv load` reads.
    Jsonl,
    /// `key<TAB>value[<TAB>expires_at_ms=N]`, non-printable bytes escaped as `\xNN`.
    Text,
}

impl Cli {
    /// The data directory of a maintenance command: its DIR argument, else `--dir`.
    pub fn data_dir(&self) -> PathBuf {
        let path = match &self.command {
            Command::Stats { path }
            | Command::Verify { path }
            | Command::Dump { path, .. }
            | Command::Compact { path }
            | Command::Repair { path, .. } => path.clone(),
            Command::Load { paths, .. } if paths.len() == 2 => Some(paths[0].clone()),
            _ => None,
        };
        path.unwrap_or_else(|| self.dir.clone())
    }

    /// The input file of `kv load` (its last path argument).
    pub fn load_file(&self) -> Option<&std::path::Path> {
        match &self.command {
            Command::Load { paths, .. } => paths.last().map(PathBuf::as_path),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_everything_has_help() {
        Cli::command().debug_assert();
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
            for arg in sub.get_arguments() {
                if arg.get_id() == "help" || arg.get_id() == "version" {
                    continue;
                }
                assert!(
                    arg.get_help().is_some(),
                    "{} {} has no help",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn positional_dir_wins_over_the_flag_and_the_default_is_the_readme_directory() {
        let cli = Cli::try_parse_from(["kv", "stats"]).unwrap();
        assert_eq!(cli.data_dir(), PathBuf::from("./kv-data"));
        let cli = Cli::try_parse_from(["kv", "--dir", "/a", "stats", "/b"]).unwrap();
        assert_eq!(cli.data_dir(), PathBuf::from("/b"));
        let cli = Cli::try_parse_from(["kv", "get", "k", "--dir", "/a"]).unwrap();
        assert_eq!(cli.data_dir(), PathBuf::from("/a"));
        assert!(Cli::try_parse_from(["kv", "expire", "k"]).is_err());
        assert!(Cli::try_parse_from(["kv", "expire", "k", "--persist"]).is_ok());
        assert!(Cli::try_parse_from(["kv", "set", "k", "--ttl", "soon"]).is_err());
        assert!(Cli::try_parse_from(["kv", "set", "--nx", "--xx", "k", "v"]).is_err());
        assert!(Cli::try_parse_from(["kv", "decr", "k", "-5"]).is_ok());
        // `load` takes --dir like every other command, and DIR before FILE still works.
        let cli = Cli::try_parse_from(["kv", "--dir", "/a", "load", "in.jsonl"]).unwrap();
        assert_eq!(cli.data_dir(), PathBuf::from("/a"));
        assert_eq!(cli.load_file(), Some(PathBuf::from("in.jsonl").as_path()));
        let cli = Cli::try_parse_from(["kv", "load", "/b", "in.jsonl"]).unwrap();
        assert_eq!(cli.data_dir(), PathBuf::from("/b"));
        assert_eq!(cli.load_file(), Some(PathBuf::from("in.jsonl").as_path()));
        assert!(Cli::try_parse_from(["kv", "load"]).is_err());
        assert!(Cli::try_parse_from(["kv", "load", "a", "b", "c"]).is_err());
    }
}
