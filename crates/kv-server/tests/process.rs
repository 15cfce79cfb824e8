//! The `kv-server` binary as an operator meets it: the startup line, protected mode,
//! the three ways to stop it cleanly (SIGTERM, SIGINT, SHUTDOWN), and `kill -9` under
//! load with `--sync always` (every acknowledged write is there after the restart,
//! and every counter holds its acknowledged increments).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{encode, Client, KvServer, STEP};

#[test]
fn the_startup_line_says_where_and_what_was_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let kv = KvServer::start(&dir, &["--sync", "always"]);
    let line = &kv.startup_line;
    assert!(line.starts_with("kv-server "), "{line}");
    assert!(
        line.contains(&format!("listening on {}", kv.addr)),
        "{line}"
    );
    assert!(line.contains("(sync always)"), "{line}");
    assert!(line.contains("recovered 0 entries"), "{line}");
}

/// Runs the binary with `args` on a data directory that does not exist yet, checks that
/// it exits with status 1 and did not create the directory, and returns its stderr.
fn refused_before_the_directory_is_touched(args: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_kv-server"))
        .args(args)
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!dir.exists(), "the data directory was created");
    err
}

#[test]
fn a_public_address_without_a_password_is_refused_and_nothing_is_created() {
    let err = refused_before_the_directory_is_touched(&["--bind", "0.0.0.0", "--port", "0"]);
    assert!(
        err.contains("protected mode") && err.contains("--requirepass"),
        "{err}"
    );
}

#[test]
fn a_taken_port_fails_before_the_data_directory_is_touched() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let err = refused_before_the_directory_is_touched(&["--port", &port]);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn bad_flags_exit_with_status_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_kv-server"))
        .args(["--sync", "sometimes"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Starts a server, puts a pipeline of durable writes in flight, stops the server with
/// `stop`, and checks: the in-flight replies arrive whole, the process exits 0 after
/// closing the store, no connection is accepted after, and a restart finds every
/// acknowledged write in the final snapshot with no log left to replay.
fn stops_cleanly(stop: impl FnOnce(&KvServer)) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut kv = KvServer::start(&dir, &["--sync", "always"]);
    let mut c = kv.client();
    let acknowledged = common::acknowledged_before_close(&mut c, 3_000, || stop(&kv));
    let status = kv.guard.wait_exit(STEP);
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        kv.stderr_text()
    );
    assert!(
        kv.stderr_text().contains("store closed cleanly"),
        "{}",
        kv.stderr_text()
    );
    assert!(
        TcpStream::connect(kv.addr).is_err(),
        "accepting after the exit"
    );
    let again = KvServer::start(&dir, &[]);
    assert!(
        again.startup_line.contains(", 0 log records"),
        "{}",
        again.startup_line
    );
    let mut c = again.client();
    for i in 0..acknowledged {
        assert_eq!(
            c.cmd(&format!("EXISTS k{i}")),
            b":1\r\n",
            "acknowledged k{i} lost"
        );
    }
}

#[test]
fn sigterm_stops_cleanly() {
    stops_cleanly(|kv| kv.guard.signal("TERM"));
}

#[test]
fn sigint_stops_cleanly() {
    stops_cleanly(|kv| kv.guard.signal("INT"));
}

#[test]
fn shutdown_command_stops_cleanly() {
    stops_cleanly(|kv| {
        let mut admin = kv.client();
        admin.stream.write_all(&encode(&[b"SHUTDOWN"])).unwrap();
        let (reply, closed) = admin.drain(STEP);
        assert!(
            reply.is_empty() && closed,
            "SHUTDOWN closes without a reply: {reply:?}"
        );
    });
}

/// `--maxmemory` bounds the memory the keys take, as Redis's does, not only their
/// bytes: 3,000 keys of 15 bytes with their values (45,000 bytes) do not fit in
/// 100,000 bytes, since each takes about 91.
#[test]
fn maxmemory_counts_what_each_key_takes() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "--sync",
        "no",
        "--maxmemory",
        "100000",
        "--maxmemory-policy",
        "allkeys-lru",
    ];
    let kv = KvServer::start(&tmp.path().join("data"), &args);
    let mut c = kv.client();
    for i in 1000..4000 {
        assert_eq!(c.cmd(&format!("SET k{i} 0123456789")), b"+OK\r\n");
    }
    let int = |reply: Vec<u8>| -> u64 {
        let text = String::from_utf8(reply).unwrap();
        text.trim_start_matches(':').trim().parse().unwrap()
    };
    let keys = int(c.cmd("DBSIZE"));
    assert!((1000..=1100).contains(&keys), "{keys} keys held");
    let info = String::from_utf8(c.cmd("INFO memory")).unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((90_000..=100_000).contains(&used), "used_memory {used}");
}

/// What one writer had acknowledged when the server died.
#[derive(Default)]
struct Acked {
    /// Keys written once each, acknowledged.
    keys: Vec<String>,
    /// The increments of the writer's counter acknowledged, and those sent.
    increments: (u64, u64),
}

#[test]
fn after_kill_9_under_load_every_acknowledged_write_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let kv = KvServer::start(&dir, &["--sync", "always"]);
    let addr = kv.addr;
    let total = Arc::new(AtomicU64::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8u64)
        .map(|t| {
            let total = total.clone();
            let dead = dead.clone();
            let acked = Arc::new(Mutex::new(Acked::default()));
            let result = acked.clone();
            let handle = std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                // Half the writers pipeline 16 writes at a time.
                let batch = if t % 2 == 0 { 1 } else { 16 };
                for round in 0..100_000u64 {
                    if dead.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut out = Vec::new();
                    let mut keys = Vec::new();
                    for j in 0..batch {
                        let i = round * batch + j;
                        let key = format!("w{t}:{i}");
                        out.extend(encode(&[
                            b"SET",
                            key.as_bytes(),
                            format!("v{i}").as_bytes(),
                        ]));
                        out.extend(encode(&[b"INCR", format!("counter{t}").as_bytes()]));
                        keys.push((key, i));
                    }
                    acked.lock().unwrap().increments.1 = (round + 1) * batch;
                    if c.stream.write_all(&out).is_err() {
                        break;
                    }
                    for (key, i) in keys {
                        match (c.try_read_reply(), c.try_read_reply()) {
                            (Some(a), Some(b)) if a == b"+OK\r\n" => {
                                // Each INCR answers the count of increments so far.
                                assert_eq!(b, format!(":{}\r\n", i + 1).into_bytes());
                                let mut acked = acked.lock().unwrap();
                                acked.keys.push(key);
                                acked.increments.0 = i + 1;
                                total.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => return,
                        }
                    }
                }
            });
            (handle, result)
        })
        .collect();
    // Kill once enough writes were acknowledged, with writers still going.
    let deadline = Instant::now() + STEP;
    while total.load(Ordering::Relaxed) < 3_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        total.load(Ordering::Relaxed) > 0,
        "no write was acknowledged"
    );
    let mut kv = kv;
    kv.guard.signal("KILL");
    kv.guard.wait_exit(STEP);
    dead.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for (handle, result) in writers {
        handle.join().unwrap();
        acked.push(Arc::try_unwrap(result).ok().unwrap().into_inner().unwrap());
    }
    let again = KvServer::start(&dir, &[]);
    let mut c = again.client();
    let mut checked = 0;
    for (t, a) in acked.iter().enumerate() {
        for chunk in a.keys.chunks(500) {
            let mut args: Vec<&[u8]> = vec![b"MGET"];
            args.extend(chunk.iter().map(|k| k.as_bytes()));
            let reply = common::decode2(&c.call(&args));
            let redis_protocol::resp2::types::OwnedFrame::Array(values) = reply else {
                panic!("MGET replies with an array");
            };
            for (key, v) in chunk.iter().zip(values) {
                let want = format!("v{}", key.rsplit(':').next().unwrap());
                assert_eq!(
                    v,
                    redis_protocol::resp2::types::OwnedFrame::BulkString(want.into_bytes()),
                    "acknowledged {key} lost or wrong"
                );
                checked += 1;
            }
        }
        // The counter holds every acknowledged increment, and at most those sent
        // besides (one for a writer that sends one command pair at a time).
        let v = match common::decode2(&c.cmd(&format!("GET counter{t}"))) {
            redis_protocol::resp2::types::OwnedFrame::BulkString(v) => {
                String::from_utf8(v).unwrap().parse::<u64>().unwrap()
            }
            redis_protocol::resp2::types::OwnedFrame::Null => 0,
            other => panic!("counter{t}: {other:?}"),
        };
        let (acked, sent) = a.increments;
        assert!(
            (acked..=sent).contains(&v),
            "counter{t} = {v}, acknowledged {acked}, sent {sent}"
        );
    }
    assert_eq!(checked as u64, total.load(Ordering::Relaxed));
    eprintln!("{checked} acknowledged writes found after kill -9");
}
