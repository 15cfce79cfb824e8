//! `INFO`, `CONFIG GET` and `MEMORY USAGE`: what the server says about itself.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::connection::REDIS_VERSION;
use super::{int_arg, is, reply_with, syntax_error, Ctx};
use crate::glob::Pattern;
use crate::reply::Reply;
use crate::server::{Shared, Stats};

/// The sections of `INFO`, in the order printed.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "keyspace",
];

/// `INFO [section ...]`: `default`, `all` and `everything` name every section.
pub(super) fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let wanted: Vec<&str> = if args.len() == 1 {
        SECTIONS.to_vec()
    } else {
        SECTIONS
            .iter()
            .copied()
            .filter(|s| {
                args[1..].iter().any(|a| {
                    super::is(a, s)
                        || super::is(a, "default")
                        || super::is(a, "all")
                        || super::is(a, "everything")
                })
            })
            .collect()
    };
    let mut text = String::new();
    for section in wanted {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        write_section(ctx.shared, section, &mut text);
    }
    Reply::Verbatim(text)
}

fn write_section(shared: &Shared, section: &str, out: &mut String) {
    let mut title = section.chars();
    if let Some(first) = title.next() {
        let _ = write!(
            out,
            "# {}{}\r\n",
            first.to_ascii_uppercase(),
            title.as_str()
        );
    }
    let store = &shared.store;
    let m = store.metrics();
    let mut line = |name: &str, value: &dyn std::fmt::Display| {
        let _ = write!(out, "{name}:{value}\r\n");
    };
    let setting = |name: &str, default: &'static str| -> String {
        shared
            .config
            .settings
            .iter()
            .find(|(n, _)| n == name)
            .map_or(default.to_owned(), |(_, v)| v.clone())
    };
    let stats = &shared.stats;
    let now_ms = shared.now_ms();
    match section {
        "server" => {
            line("redis_version", &REDIS_VERSION);
            line("kv_version", &env!("CARGO_PKG_VERSION"));
            line("redis_mode", &"standalone");
            line(
                "os",
                &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            line("arch_bits", &(usize::BITS));
            line("process_id", &std::process::id());
            line("tcp_port", &shared.addr.port());
            line("server_time_usec", &(now_ms * 1000));
            let up = now_ms.saturating_sub(shared.started_ms) / 1000;
            line("uptime_in_seconds", &up);
            line("uptime_in_days", &(up / 86_400));
        }
        "clients" => {
            line("connected_clients", &Stats::get(&stats.connected));
            line("maxclients", &shared.config.maxclients);
            line("blocked_clients", &0);
        }
        "memory" => {
            // What `maxmemory` limits: the memory the entries take.
            line("used_memory", &m.cache.bytes);
            line("used_memory_human", &human(m.cache.bytes));
            let rss = resident_bytes();
            line("used_memory_rss", &rss);
            line("used_memory_rss_human", &human(rss));
            let max = setting("maxmemory", "0");
            line("maxmemory_human", &human(max.parse().unwrap_or(0)));
            line("maxmemory", &max);
            line(
                "maxmemory_policy",
                &setting("maxmemory-policy", "noeviction"),
            );
        }
        "persistence" => {
            line("loading", &0);
            line("kv_persistence", &format!("{:?}", store.persistence()));
            line("aof_enabled", &u8::from(store.persistence().uses_wal()));
            let running = shared.bgsave_running.load(Ordering::Acquire);
            line("rdb_bgsave_in_progress", &u8::from(running));
            let last = m.last_snapshot_ms.unwrap_or(shared.started_ms);
            line("rdb_last_save_time", &(last / 1000));
            let ok = shared.bgsave_ok.load(Ordering::Acquire);
            line("rdb_last_bgsave_status", &if ok { "ok" } else { "err" });
            line("kv_wal_bytes", &m.wal_bytes);
            line("kv_wal_segments", &m.wal_segments);
            line("kv_last_seq", &m.last_seq);
            line("kv_snapshots_taken", &m.snapshots_taken);
            line("kv_last_snapshot_seq", &m.last_snapshot_seq);
            line("kv_recovered_entries", &m.recovery.entries);
            line("kv_recovery_records_replayed", &m.recovery.records_replayed);
            line("kv_recovery_bytes_cut", &m.recovery.bytes_cut);
            line("kv_recovery_ms", &m.recovery.duration.as_millis());
        }
        "stats" => {
            line(
                "total_connections_received",
                &Stats::get(&stats.connections_received),
            );
            line("total_commands_processed", &Stats::get(&stats.commands));
            line("rejected_connections", &Stats::get(&stats.rejected));
            line("expired_keys", &m.cache.expirations);
            line("evicted_keys", &m.cache.evictions);
            line("keyspace_hits", &m.cache.hits);
            line("keyspace_misses", &m.cache.misses);
        }
        // A walk of the store (kv keeps no count of the keys with a TTL).
        "keyspace" => match store.keyspace_stats() {
            Ok(k) if k.keys > 0 => line(
                "db0",
                &format!(
                    "keys={},expires={},avg_ttl={}",
                    k.keys, k.expires, k.avg_ttl_ms
                ),
            ),
            _ => {}
        },
        _ => {}
    }
}

/// `1.50M`-style sizes, as Redis prints them.
fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes}B"),
        1024..1_048_576 => format!("{:.2}K", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.2}M", b / 1_048_576.0),
        _ => format!("{:.2}G", b / 1_073_741_824.0),
    }
}

/// The process's resident memory (Linux `VmRSS`), 0 where unknown.
pub(crate) fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `CONFIG GET parameter [parameter ...]`: the settings whose names match any of the
/// glob patterns, as name/value pairs.
pub(super) fn config_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let shared = ctx.shared;
    let c = &shared.config;
    let mut params: Vec<(String, String)> = vec![
        ("bind".into(), c.bind.to_string()),
        ("port".into(), shared.addr.port().to_string()),
        ("databases".into(), "1".into()),
        ("maxclients".into(), c.maxclients.to_string()),
        (
            "timeout".into(),
            c.timeout.map_or(0, |t| t.as_secs()).to_string(),
        ),
        ("save".into(), String::new()),
        (
            "appendonly".into(),
            if shared.store.persistence().uses_wal() {
                "yes"
            } else {
                "no"
            }
            .into(),
        ),
        ("proto-max-bulk-len".into(), c.limits.max_bulk.to_string()),
    ];
    for (name, value) in &c.settings {
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.clone(),
            None => params.push((name.clone(), value.clone())),
        }
    }
    let patterns: Vec<Pattern> = args[2..]
        .iter()
        .map(|p| Pattern::new(&p.to_ascii_lowercase()))
        .collect();
    Reply::Map(
        params
            .into_iter()
            .filter(|(name, _)| patterns.iter().any(|p| p.matches(name.as_bytes())))
            .map(|(n, v)| (Reply::bulk(n), Reply::bulk(v)))
            .collect(),
    )
}

/// `MEMORY USAGE key [SAMPLES count]`: the bytes the key takes, as `--maxmemory`
/// counts them ([`ByteCount::Memory`](kv_store::ByteCount::Memory)); nil for a missing
/// key. `SAMPLES` is checked as Redis checks it and changes nothing: a string has no
/// elements to sample.
pub(super) fn memory_usage(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let mut options = args[3..].iter();
    while let Some(option) = options.next() {
        let Some(count) = options.next().filter(|_| is(option, "samples")) else {
            return syntax_error();
        };
        match int_arg(count) {
            Ok(n) if n >= 0 => {}
            Ok(_) => return syntax_error(),
            Err(reply) => return reply,
        }
    }
    reply_with(ctx.store().info(&args[2]), |info| match info {
        Some(info) => Reply::Int(kv_store::ByteCount::Memory.of(info.size) as i64),
        None => Reply::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_redis_prints_them() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 * 1_048_576), "3.00M");
    }
}
