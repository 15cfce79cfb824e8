//! The server's own behaviour, in process (no external tool): limits on clients,
//! requests and output, idle timeout, pipelining, graceful shutdown, SCAN's guarantee,
//! snapshots on demand.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, Client, STEP};
use kv_server::{Config, Server, ShutdownHandle};
use kv_store::{Options, PersistenceMode, Store, SyncPolicy};

/// A server running on its own runtime; stopped (and its store closed) on drop.
struct Running {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    stop: ShutdownHandle,
    serving: Option<tokio::task::JoinHandle<kv_server::Result<()>>>,
    store: Store,
}

impl Running {
    fn start(config: Config, store: Store) -> Self {
        Self::on_workers(2, config, store)
    }

    /// On a runtime of `workers` worker threads.
    fn on_workers(workers: usize, config: Config, store: Store) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(Server::bind(config.port(0), store.clone()))
            .unwrap();
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let serving = Some(runtime.spawn(server.run()));
        Self {
            runtime,
            addr,
            stop,
            serving,
            store,
        }
    }

    fn in_memory(config: Config) -> Self {
        Self::start(config, Store::in_memory().unwrap())
    }

    fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Shuts down and waits for `run` to return.
    fn shutdown(&mut self) {
        self.stop.shutdown();
        if let Some(serving) = self.serving.take() {
            let joined = self
                .runtime
                .block_on(async { tokio::time::timeout(STEP, serving).await });
            joined.expect("the server stops in time").unwrap().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.serving.is_some() {
            self.shutdown();
        }
        let _ = self.store.close();
    }
}

/// Waits until `cond` holds, at most [`STEP`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn connected_clients(c: &mut Client) -> u64 {
    let info = c.cmd("INFO clients");
    let text = String::from_utf8_lossy(&info);
    text.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("connected_clients in INFO")
}

#[test]
fn a_server_on_a_socket_the_caller_bound_serves_there() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The configured port is not the socket's: the socket wins.
    let config = Config::default().port(1);
    let server = runtime
        .block_on(Server::from_listener(
            config,
            Store::in_memory().unwrap(),
            listener,
        ))
        .unwrap();
    assert_eq!(server.local_addr(), addr);
    let stop = server.shutdown_handle();
    let serving = runtime.spawn(server.run());
    let port = addr.port().to_string();
    let asked = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        let pong = c.call(&[b"PING"]);
        let port = c.call(&[b"CONFIG", b"GET", b"port"]);
        (pong, port)
    });
    let (pong, reported) = runtime.block_on(async {
        let answers = tokio::task::spawn_blocking(move || asked.join().unwrap());
        tokio::time::timeout(STEP, answers).await.unwrap().unwrap()
    });
    assert_eq!(pong, b"+PONG\r\n");
    assert_eq!(reported, encode(&[b"port", port.as_bytes()]));
    stop.shutdown();
    runtime
        .block_on(async { tokio::time::timeout(STEP, serving).await })
        .expect("the server stops in time")
        .unwrap()
        .unwrap();
}

#[test]
fn one_client_over_maxclients_is_told_and_turned_away() {
    let server = Running::in_memory(Config::new().maxclients(2));
    let mut a = server.client();
    let mut b = server.client();
    assert_eq!(a.cmd("PING"), b"+PONG\r\n");
    assert_eq!(b.cmd("PING"), b"+PONG\r\n");
    let mut c = server.client();
    let (out, closed) = c.drain(STEP);
    assert_eq!(out, b"-ERR max number of clients reached\r\n");
    assert!(closed);
    // A place frees up when a client leaves.
    drop(b);
    eventually("a free place", || {
        let mut d = server.client();
        d.stream.write_all(b"PING\r\n").unwrap();
        d.read_reply() == b"+PONG\r\n"
    });
    assert_eq!(a.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn idle_clients_are_disconnected_after_the_timeout() {
    let server = Running::in_memory(Config::new().timeout(Some(Duration::from_millis(200))));
    let mut idle = server.client();
    let (out, closed) = idle.drain(STEP);
    assert!(
        out.is_empty() && closed,
        "the idle client was not disconnected"
    );
}

#[test]
fn a_client_that_stops_reading_is_disconnected_not_buffered_for() {
    let server = Running::in_memory(
        Config::new()
            .max_output(64 * 1024)
            .output_stall(Duration::from_millis(300)),
    );
    let mut observer = server.client();
    let mut setter = server.client();
    // Under the output limit, so that each reply is sent, not refused.
    let value = vec![b'v'; 30_000];
    assert_eq!(setter.call(&[b"SET", b"big", &value]), b"+OK\r\n");
    // 5,000 GETs of 30 kB: 150 MB of replies, which the client never reads.
    let mut stuck = Client::connect(server.addr);
    assert_eq!(stuck.cmd("PING"), b"+PONG\r\n", "connected, and counted");
    assert_eq!(connected_clients(&mut observer), 3);
    let mut stuck = stuck.stream;
    let request = encode(&[b"GET", b"big"]);
    let pipeline: Vec<u8> = request.repeat(5_000);
    stuck.write_all(&pipeline).unwrap();
    eventually("the stuck client to be disconnected", || {
        connected_clients(&mut observer) == 2
    });
    // What reached the client is a small part of what it asked for.
    stuck.set_read_timeout(Some(STEP)).unwrap();
    let mut received = 0usize;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match stuck.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(
        received < 50 << 20,
        "{received} bytes were buffered for a client that did not read"
    );
}

#[test]
fn requests_over_the_limits_close_the_connection() {
    let server = Running::in_memory(
        Config::new()
            .max_bulk_len(1024)
            .max_request(2048)
            .max_args(8),
    );
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*1\r\n$2000\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*9\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (input, want) in cases {
        let mut c = server.client();
        c.stream.write_all(input).unwrap();
        assert_eq!(c.drain(STEP), (want.to_vec(), true));
    }
    let mut c = server.client();
    let big = vec![b'x'; 1020];
    c.stream
        .write_all(&encode(&[b"MSET", b"a", &big, b"b", &big, b"c", &big]))
        .unwrap();
    let (out, closed) = c.drain(STEP);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "-ERR Protocol error: request larger than the limit of 2048 bytes\r\n"
    );
    assert!(closed);
}

#[test]
fn a_reply_over_the_output_limit_is_an_error_and_the_connection_lives() {
    let server = Running::in_memory(Config::new().max_output(1024));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SET", b"k", &[b'v'; 2000]]), b"+OK\r\n");
    assert_eq!(
        String::from_utf8_lossy(&c.cmd("GET k")),
        "-ERR reply of 2009 bytes exceeds the output limit of 1024 bytes\r\n"
    );
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn pipelines_are_answered_in_order_whatever_the_read_sizes() {
    pipeline_in_order(Config::new());
}

#[test]
fn pipelines_go_on_after_the_output_limit_was_reached() {
    // Replies of a few bytes against a 256-byte limit: the connection fills its output
    // again and again, and must come back to the requests waiting behind it.
    pipeline_in_order(Config::new().max_output(256));
}

fn pipeline_in_order(config: Config) {
    let server = Running::in_memory(config);
    let mut c = server.client();
    let n = 5_000;
    let mut pipeline = Vec::new();
    for i in 0..n {
        let k = format!("k{i}");
        pipeline.extend(encode(&[b"SET", k.as_bytes(), i.to_string().as_bytes()]));
        pipeline.extend(format!("GET {k}\r\n").into_bytes());
    }
    // Written in uneven pieces, so requests straddle reads.
    let writer = {
        let mut s = c.stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut rest = &pipeline[..];
            let mut size = 1;
            while !rest.is_empty() {
                let (piece, more) = rest.split_at(size.min(rest.len()));
                s.write_all(piece).unwrap();
                rest = more;
                size = size * 7 % 4093 + 1;
            }
        })
    };
    for i in 0..n {
        assert_eq!(c.read_reply(), b"+OK\r\n");
        let v = i.to_string();
        assert_eq!(
            c.read_reply(),
            format!("${}\r\n{v}\r\n", v.len()).into_bytes()
        );
    }
    writer.join().unwrap();
}

#[test]
fn mset_is_all_or_nothing() {
    let server = Running::in_memory(Config::new());
    let mut c = server.client();
    assert_eq!(
        c.call(&[b"MSET", b"a", b"1", b"", b"2"]),
        b"-ERR empty keys are not supported\r\n"
    );
    assert_eq!(c.cmd("EXISTS a"), b":0\r\n");
    assert_eq!(c.cmd("MSET a 1 b 2"), b"+OK\r\n");
    assert_eq!(c.cmd("MGET a b"), b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
}

#[test]
fn a_full_scan_returns_every_key_present_throughout_while_others_come_and_go() {
    let server = Running::in_memory(Config::new());
    let mut c = server.client();
    let stable = 5_000;
    for chunk in (0..stable).collect::<Vec<_>>().chunks(500) {
        let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in chunk {
            args.push(format!("stable:{i}").into_bytes());
            args.push(b"x".to_vec());
        }
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(c.call(&refs), b"+OK\r\n");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let mut w = server.client();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 1_000_000 {
                assert_eq!(w.cmd(&format!("SET churn:{i} y")), b"+OK\r\n");
                if i >= 50 {
                    w.cmd(&format!("DEL churn:{}", i - 50));
                }
                i += 1;
            }
        })
    };
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_owned();
    let mut calls = 0;
    let count = 100;
    loop {
        let reply = common::decode2(&c.cmd(&format!("SCAN {cursor} COUNT {count}")));
        let redis_protocol::resp2::types::OwnedFrame::Array(mut parts) = reply else {
            panic!("SCAN replies with an array");
        };
        let keys = parts.pop().unwrap();
        let next = parts.pop().unwrap();
        if let redis_protocol::resp2::types::OwnedFrame::Array(keys) = keys {
            // COUNT is a hint: a call goes on until it has that many, by whole parts
            // of a shard (each of about COUNT keys here).
            assert!(keys.len() <= 3 * count, "{} keys in one call", keys.len());
            for k in keys {
                if let redis_protocol::resp2::types::OwnedFrame::BulkString(k) = k {
                    seen.insert(k);
                }
            }
        }
        calls += 1;
        // About the stable keys over COUNT, plus a call per shard at most.
        assert!(calls <= 2 * stable / count + 256, "{calls} calls");
        match next {
            redis_protocol::resp2::types::OwnedFrame::BulkString(n) if n == b"0" => break,
            redis_protocol::resp2::types::OwnedFrame::BulkString(n) => {
                cursor = String::from_utf8(n).unwrap()
            }
            other => panic!("cursor {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    for i in 0..stable {
        assert!(
            seen.contains(format!("stable:{i}").as_bytes()),
            "stable:{i} missed"
        );
    }
    assert!(
        calls > 1,
        "the store was large enough to take several calls"
    );
}

fn durable_store(dir: &std::path::Path) -> Store {
    Store::open(Options::new().dir(dir).sync(SyncPolicy::EveryWrite)).unwrap()
}

/// A store that syncs every write, its log on the simulated `disk` (whose syncs a
/// test can slow down or fail).
fn durable_store_on(disk: &kv_wal::SimStorage, dir: &std::path::Path) -> Store {
    Store::open(
        Options::new()
            .dir(dir)
            .persistence(PersistenceMode::WalOnly)
            .sync(SyncPolicy::EveryWrite)
            .wal_storage(Arc::new(disk.clone())),
    )
    .unwrap()
}

#[test]
fn shutdown_finishes_running_commands_and_stops_accepting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Running::start(Config::new(), durable_store(&dir));
    let mut c = server.client();
    let stop = server.stop.clone();
    let acknowledged = common::acknowledged_before_close(&mut c, 2_000, || stop.shutdown());
    server.shutdown();
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "still accepting after shutdown"
    );
    server.store.close().unwrap();
    let store = durable_store(&dir);
    for i in 0..acknowledged {
        assert!(
            store.exists(format!("k{i}").as_bytes()).unwrap(),
            "acknowledged k{i} lost"
        );
    }
    store.close().unwrap();
}

#[test]
fn save_and_bgsave_take_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(
        Options::new()
            .dir(tmp.path().join("data"))
            .persistence(PersistenceMode::WalAndSnapshots),
    )
    .unwrap();
    let server = Running::start(Config::new(), store.clone());
    let mut c = server.client();
    assert_eq!(c.cmd("SET a 1"), b"+OK\r\n");
    assert_eq!(c.cmd("SAVE"), b"+OK\r\n");
    assert_eq!(store.metrics().snapshots_taken, 1);
    assert_eq!(c.cmd("BGSAVE"), b"+Background saving started\r\n");
    eventually("the background save", || {
        store.metrics().snapshots_taken == 2
    });
    let info = String::from_utf8(c.cmd("INFO persistence")).unwrap();
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
    let lastsave = common::decode2(&c.cmd("LASTSAVE"));
    let ms = store.metrics().last_snapshot_ms.unwrap() as i64;
    assert_eq!(
        lastsave,
        redis_protocol::resp2::types::OwnedFrame::Integer(ms / 1000)
    );
}

#[test]
fn info_reports_hits_misses_and_keys() {
    let server = Running::in_memory(Config::new());
    let mut c = server.client();
    c.cmd("SET a 1");
    c.cmd("GET a");
    c.cmd("GET nope");
    let info = String::from_utf8(c.cmd("INFO")).unwrap();
    for want in [
        "# Server",
        "redis_version:7.0.0",
        "connected_clients:1",
        "keyspace_hits:1",
        "keyspace_misses:1",
        "expired_keys:0",
        "evicted_keys:0",
        "db0:keys=1",
    ] {
        assert!(info.contains(want), "INFO lacks {want}:\n{info}");
    }
}

#[test]
fn a_full_store_answers_oom() {
    let store = Store::open(
        Options::new()
            .persistence(PersistenceMode::None)
            .max_entries(2),
    )
    .unwrap();
    let server = Running::start(Config::new(), store);
    let mut c = server.client();
    assert_eq!(c.cmd("MSET a 1 b 2"), b"+OK\r\n");
    assert_eq!(
        c.cmd("SET c 3"),
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(c.cmd("SET a 9"), b"+OK\r\n", "overwriting needs no room");
}

#[test]
fn a_public_address_needs_a_password() {
    let store = Store::in_memory().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let refused = runtime.block_on(Server::bind(
        Config::new().bind("0.0.0.0".parse().unwrap()).port(0),
        store.clone(),
    ));
    let err = refused.expect_err("protected mode refuses");
    assert!(err.to_string().contains("--requirepass"), "{err}");
}

/// With `--sync always` a write's reply waits for its fsync, which the server's sync
/// thread does: on a runtime of one worker thread, other clients are served meanwhile
/// (a worker blocked in the fsync would hold them all up).
#[test]
fn no_runtime_thread_waits_for_an_fsync() {
    let disk = kv_wal::SimStorage::new();
    let tmp = tempfile::tempdir().unwrap();
    let store = durable_store_on(&disk, tmp.path());
    let mut server = Running::on_workers(1, Config::new(), store);
    // Each fsync now takes longer than the reads below need.
    let latency = Duration::from_secs(2);
    disk.set_sync_latency(latency);
    let started = Instant::now();
    let mut writer = server.client();
    writer.send(&[b"INCR", b"n"]);
    let mut other = server.client();
    // The increment is applied (visible) before it is durable ...
    eventually("the increment to be applied", || {
        other.cmd("GET n") == b"$1\r\n1\r\n"
    });
    // ... and while its fsync runs, the one worker thread serves this client's reads
    // (a write would wait for an fsync of its own).
    assert_eq!(other.cmd("PING"), b"+PONG\r\n");
    assert_eq!(other.cmd("EXISTS n"), b":1\r\n");
    assert!(
        started.elapsed() < latency,
        "the other client was held up by the fsync"
    );
    writer.stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert!(
        matches!(writer.stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the reply left before its write was durable"
    );
    writer.stream.set_nonblocking(false).unwrap();
    assert_eq!(writer.read_reply(), b":1\r\n");
    assert!(
        started.elapsed() >= latency,
        "the reply did not wait for the fsync"
    );
    disk.set_sync_latency(Duration::ZERO);
    server.shutdown();
}

/// With `--sync always`, when the log cannot make a write durable, its client gets
/// no reply (it would claim a write a crash may lose) and is disconnected; later
/// writes are refused with an error; reads are still served.
#[test]
fn a_failed_fsync_withholds_the_reply_and_closes_the_connection() {
    let disk = kv_wal::SimStorage::new();
    let tmp = tempfile::tempdir().unwrap();
    let store = durable_store_on(&disk, tmp.path());
    let server = Running::start(Config::new(), store);
    disk.inject(kv_wal::Fault::SyncFails { nth: 1 });
    let mut writer = server.client();
    writer.send(&[b"SET", b"k", b"v"]);
    let (out, closed) = writer.drain(STEP);
    assert!(
        out.is_empty(),
        "a reply left: {:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(closed, "the writer was not disconnected");
    // The log stays poisoned: the next write is refused before anything is applied.
    let mut next = server.client();
    let refused = next.cmd("INCR n");
    assert!(
        refused.starts_with(b"-"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    assert_eq!(next.cmd("EXISTS n"), b":0\r\n");
    let mut reader = server.client();
    assert_eq!(reader.cmd("PING"), b"+PONG\r\n");
}
