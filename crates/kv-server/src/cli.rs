//! The `kv-server` binary: its flags, the startup line, signals, and a clean close.

use std::ffi::OsString;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kv_store::{ByteCount, EvictionPolicy, Options, Store, SyncPolicy};

use crate::{Config, Error, Server};

/// The command line of `kv-server`, spelled as scripts expect (Redis's words where
/// Redis has the same setting).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kv-server",
    version,
    about = "kv served over the Redis protocol: a persistent, TTL-aware cache server for \
             redis-cli, client libraries and proxies such as twemproxy."
)]
#[non_exhaustive]
pub struct Flags {
    /// Address to listen on; any address but loopback needs --requirepass.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// TCP port (0: one chosen by the system, printed in the startup line).
    #[arg(long, value_name = "N", default_value_t = crate::config::DEFAULT_PORT)]
    pub port: u16,
    /// Data directory (created if missing; locked while the server runs).
    #[arg(long, value_name = "DIR", default_value = "./kv-data")]
    pub dir: PathBuf,
    /// When writes reach the disk, in Redis's `appendfsync` words: `always` (before the
    /// reply), `everysec` (within a second), `no` (when the system flushes).
    #[arg(long, value_enum, default_value_t = Sync::Everysec)]
    pub sync: Sync,
    /// Most keys held (default: no limit but the map's, 4,294,967,295).
    #[arg(long, value_name = "N")]
    pub max_entries: Option<usize>,
    /// Most memory the keys may take, their values and kv's bookkeeping for them
    /// included (`100mb`, `1gb`, … as Redis; 0: no limit).
    #[arg(long, value_name = "BYTES", value_parser = parse_memory)]
    pub maxmemory: Option<u64>,
    /// What a write does when a limit is reached.
    #[arg(long, value_enum, default_value_t = Policy::Noeviction)]
    pub maxmemory_policy: Policy,
    /// Password clients must give with AUTH.
    #[arg(long, value_name = "PASSWORD")]
    pub requirepass: Option<String>,
    /// Most clients connected at once.
    #[arg(long, value_name = "N", default_value_t = crate::config::DEFAULT_MAX_CLIENTS)]
    pub maxclients: usize,
    /// Disconnect clients idle this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub timeout: u64,
}

/// `--sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum Sync {
    /// Every write is durable before its reply; concurrent writes share fsyncs.
    Always,
    /// The log is synced every second.
    Everysec,
    /// The log is synced only at snapshots and close.
    No,
}

/// `--maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum Policy {
    /// Writes that need room fail with `-OOM`.
    Noeviction,
    /// Evict the least recently used key (sampled).
    AllkeysLru,
    /// Evict the least frequently used key (sampled).
    AllkeysLfu,
    /// Evict a random key.
    AllkeysRandom,
    /// Evict the key that expires soonest (keys without a TTL last).
    VolatileTtl,
}

impl Flags {
    /// The store options these flags ask for.
    pub fn store_options(&self) -> Options {
        let sync = match self.sync {
            Sync::Always => SyncPolicy::EveryWrite,
            Sync::Everysec => SyncPolicy::Interval(Duration::from_secs(1)),
            Sync::No => SyncPolicy::Never,
        };
        let eviction = match self.maxmemory_policy {
            Policy::Noeviction => EvictionPolicy::None,
            Policy::AllkeysLru => EvictionPolicy::Lru,
            Policy::AllkeysLfu => EvictionPolicy::Lfu,
            Policy::AllkeysRandom => EvictionPolicy::Random,
            Policy::VolatileTtl => EvictionPolicy::Ttl,
        };
        Options::new()
            .dir(&self.dir)
            .sync(sync)
            .max_entries(self.max_entries.unwrap_or(u32::MAX as usize))
            .max_bytes(self.maxmemory.filter(|&b| b > 0))
            .byte_count(ByteCount::Memory)
            .eviction(eviction)
    }

    /// The server configuration these flags ask for.
    pub fn config(&self) -> Config {
        let mut c = Config::new()
            .bind(self.bind)
            .port(self.port)
            .maxclients(self.maxclients)
            .timeout((self.timeout > 0).then(|| Duration::from_secs(self.timeout)))
            .report_setting("dir", self.dir.display().to_string())
            .report_setting("appendfsync", self.sync_word())
            .report_setting("maxmemory", self.maxmemory.unwrap_or(0).to_string())
            .report_setting("maxmemory-policy", self.policy_word())
            .report_setting(
                "max-entries",
                self.max_entries.unwrap_or(u32::MAX as usize).to_string(),
            );
        if let Some(p) = &self.requirepass {
            c = c.requirepass(p.clone());
        }
        c
    }

    fn sync_word(&self) -> &'static str {
        match self.sync {
            Sync::Always => "always",
            Sync::Everysec => "everysec",
            Sync::No => "no",
        }
    }

    fn policy_word(&self) -> &'static str {
        match self.maxmemory_policy {
            Policy::Noeviction => "noeviction",
            Policy::AllkeysLru => "allkeys-lru",
            Policy::AllkeysLfu => "allkeys-lfu",
            Policy::AllkeysRandom => "allkeys-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }
}

/// A memory size as Redis reads one: a number with an optional unit, `k`/`m`/`g`
/// (powers of 1000) or `kb`/`mb`/`gb` (powers of 1024), in any case.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (try 100mb, 1gb, or bytes)"))?;
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (k, kb, m, mb, g, gb)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Runs `kv-server` with `args` (the program name first): 0 after a clean shutdown, 1
/// if it could not start or close cleanly, 2 for bad flags.
pub fn run_cli<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let flags = match Flags::try_parse_from(args) {
        Ok(f) => f,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing();
    match serve(&flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kv-server: {}", crate::error::chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` (targets and levels, e.g. `info,kv_server=debug`)
/// overrides the default `info`.
fn init_tracing() {
    use tracing_subscriber::filter::Targets;
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| "info".parse().expect("a valid default filter"));
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .try_init();
}

fn serve(flags: &Flags) -> Result<(), Error> {
    let config = flags.config();
    // Protected mode, the other checks and the socket come before the directory is
    // touched: a mistyped flag or a taken port leaves no data directory behind.
    crate::server::check(&config)?;
    let addr = config.addr();
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
    let store = Store::open(flags.store_options())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kv-server")
        .build()
        .map_err(|source| Error::Runtime { source })?;
    let served = runtime.block_on(async {
        let server = Server::from_listener(config, store.clone(), listener).await?;
        println!("{}", startup_line(flags, &server, &store));
        let _ = std::io::stdout().flush();
        let handle = server.shutdown_handle();
        tokio::spawn(async move {
            let signal = wait_for_signal().await;
            tracing::info!(signal, "shutting down");
            handle.shutdown();
        });
        server.run().await
    });
    // Waits for blocking work still running (a background save).
    drop(runtime);
    let closed = store.close();
    match &closed {
        Ok(()) => tracing::info!("store closed cleanly; bye"),
        Err(e) => tracing::error!(error = %e, "closing the store failed"),
    }
    served?;
    closed.map_err(Error::Store)
}

/// The one line saying where the server listens and what it recovered.
fn startup_line(flags: &Flags, server: &Server, store: &Store) -> String {
    let r = store.recovery();
    let snapshot = match &r.snapshot {
        Some(path) => format!(
            "snapshot {} ({} entries)",
            path.file_name().unwrap_or_default().to_string_lossy(),
            r.snapshot_entries
        ),
        None => "no snapshot".to_owned(),
    };
    let mut line = format!(
        "kv-server {} listening on {}; data {} (sync {}): recovered {} entries from {}, {} log records in {} ms",
        env!("CARGO_PKG_VERSION"),
        server.local_addr(),
        flags.dir.display(),
        flags.sync_word(),
        r.entries,
        snapshot,
        r.records_replayed,
        r.duration.as_millis(),
    );
    if r.bytes_cut > 0 {
        line.push_str(&format!("; cut a torn log tail of {} bytes", r.bytes_cut));
    }
    line
}

/// The name of the first of SIGTERM and SIGINT to arrive.
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the server with SHUTDOWN");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_spelled_as_scripts_expect() {
        let f = Flags::try_parse_from([
            "kv-server",
            "--bind",
            "::1",
            "--port",
            "7000",
            "--dir",
            "/tmp/x",
            "--sync",
            "always",
            "--max-entries",
            "10",
            "--maxmemory",
            "100mb",
            "--maxmemory-policy",
            "allkeys-lru",
            "--requirepass",
            "pw",
            "--maxclients",
            "5",
            "--timeout",
            "30",
        ])
        .unwrap();
        assert_eq!(f.sync, Sync::Always);
        assert_eq!(f.maxmemory, Some(100 * 1024 * 1024));
        assert_eq!(f.maxmemory_policy, Policy::AllkeysLru);
        let c = f.config();
        assert_eq!(c.addr().to_string(), "[::1]:7000");
        assert!(Flags::try_parse_from(["kv-server", "--sync", "sometimes"]).is_err());
        let d = Flags::try_parse_from(["kv-server"]).unwrap();
        assert_eq!((d.port, d.sync, d.timeout), (6379, Sync::Everysec, 0));
        assert_eq!(d.dir, PathBuf::from("./kv-data"));
    }

    #[test]
    fn memory_sizes_read_as_redis_reads_them() {
        assert_eq!(parse_memory("0"), Ok(0));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("1KB"), Ok(1024));
        assert_eq!(parse_memory("2gb"), Ok(2 << 30));
        assert!(parse_memory("1tb").is_err());
        assert!(parse_memory("mb").is_err());
        assert!(parse_memory("99999999999gb").is_err());
    }

    #[test]
    fn a_public_address_without_a_password_is_refused_before_anything_opens() {
        let f = Flags::try_parse_from(["kv-server", "--bind", "0.0.0.0"]).unwrap();
        assert!(matches!(
            crate::server::check(&f.config()),
            Err(Error::Unprotected { .. })
        ));
        let f = Flags::try_parse_from(["kv-server", "--bind", "0.0.0.0", "--requirepass", "x"])
            .unwrap();
        assert!(crate::server::check(&f.config()).is_ok());
    }
}
