//! `kv`: the command-line tool to use, inspect, verify and repair a kv data directory.
//!
//! Every trusted storage engine ships a tool to look inside its files and mend them;
//! this is kv's. The binary is `kv` (`src/main.rs`); this library is its whole
//! implementation, so that tests and other tools can run it in-process with [`run`].
//!
//! - **Working by hand**: `kv [--dir DIR] get|set|del|ttl|expire|exists|keys|scan`
//!   through [`kv_store::Store`]. `--dir` defaults to `./kv-data`, the directory of the
//!   README's example. Keys and values are bytes: arguments are taken as raw bytes,
//!   `set` reads the value from stdin when none is given, and `get` writes the value's
//!   bytes unchanged.
//! - **Inspecting without changing anything**: `kv stats`, `kv verify` and `kv dump`
//!   read the files directly with kv-wal's [`kv_wal::scan_dir`] and kv-snapshot's
//!   [`kv_snapshot::list_dir`] and [`kv_snapshot::SnapshotReader`], under a shared lock
//!   (so no store can open the directory meanwhile), and never open a file for
//!   writing.
//! - **Maintenance**: `kv load` (JSON lines, through batches), `kv compact` (snapshot
//!   and log truncation now), `kv repair` (a backup copy, then the tolerant recovery
//!   modes, reporting what was dropped).
//! - **Exit status**, as grep's: 0 success (found, clean); 1 a negative answer (key
//!   not found, damage found by `verify`); 2 an error (bad usage, locked or missing
//!   directory, I/O).
//! - Long work shows a progress bar on a terminal (stderr) and nothing when piped;
//!   `--json` prints machine-readable reports.
//!
//! ```
//! let tmp = tempfile::tempdir().unwrap();
//! let dir = tmp.path().join("data");
//! let dir = dir.to_str().unwrap();
//! assert_eq!(kv_cli::run(["kv", "--dir", dir, "set", "greeting", "hello"]), 0);
//! assert_eq!(kv_cli::run(["kv", "--dir", dir, "exists", "greeting"]), 0);
//! assert_eq!(kv_cli::run(["kv", "--dir", dir, "exists", "nobody"]), 1);
//! assert_eq!(kv_cli::run(["kv", "verify", dir]), 0);
//! assert_eq!(kv_cli::run(["kv", "verify", "/no/such/dir"]), 2);
//! ```
#![forbid(unsafe_code)]

mod app;
mod cli;
mod cmd_compact;
mod cmd_dump;
mod cmd_hand;
mod cmd_load;
mod cmd_repair;
mod cmd_stats;
mod cmd_verify;
mod datadir;
mod duration;
mod error;
mod inspect;
mod jsonl;
mod output;
mod progress;

pub use app::{run, run_with};
pub use cli::{Cli, Command, DumpFormat, DEFAULT_DIR};
pub use error::Error;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
