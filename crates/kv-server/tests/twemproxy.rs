//! Sharding with twemproxy (`nutcracker`): three kv-servers behind the sample
//! configuration `docs/twemproxy.yml`, 30,000 keys through the proxy, each server
//! holding 20%–46% of them, every key read back; then one server is killed with
//! `kill -9`, restarted on its directory, and its keys are read back through the proxy.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{decode2, encode, free_port, have, Client, Guard, KvServer, STEP};
use redis_protocol::resp2::types::OwnedFrame;

const KEYS: usize = 30_000;
/// Keys written per pipeline.
const BATCH: usize = 1_000;

fn key(i: usize) -> String {
    format!("key:{i}")
}

fn value(i: usize) -> String {
    format!("value of key {i}")
}

/// The sample configuration with the test's ports in place of the documented ones.
fn config(listen: u16, servers: [u16; 3]) -> String {
    let sample = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/twemproxy.yml"),
    )
    .expect("docs/twemproxy.yml");
    let mut text = sample.replace("127.0.0.1:22121", &format!("127.0.0.1:{listen}"));
    for (documented, port) in [6380, 6381, 6382].into_iter().zip(servers) {
        text = text.replace(
            &format!("127.0.0.1:{documented}:1"),
            &format!("127.0.0.1:{port}:1"),
        );
    }
    assert_ne!(text, sample);
    text
}

fn int(reply: &[u8]) -> i64 {
    match decode2(reply) {
        OwnedFrame::Integer(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// SETs `keys` through `c` in one pipeline; panics unless every reply is OK.
fn set_all(c: &mut Client, keys: &[usize]) {
    use std::io::Write;
    let mut out = Vec::new();
    for &i in keys {
        out.extend(encode(&[b"SET", key(i).as_bytes(), value(i).as_bytes()]));
    }
    c.stream.write_all(&out).unwrap();
    for &i in keys {
        assert_eq!(
            c.read_reply(),
            b"+OK\r\n",
            "SET {} through the proxy",
            key(i)
        );
    }
}

/// True if one MGET through the proxy returns every key's value (false if the proxy
/// answers an error or drops the connection).
fn all_there(c: &mut Client, keys: &[usize]) -> bool {
    let mut args: Vec<Vec<u8>> = vec![b"MGET".to_vec()];
    args.extend(keys.iter().map(|&i| key(i).into_bytes()));
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    c.send(&refs);
    let Some(reply) = c.try_read_reply() else {
        return false;
    };
    match decode2(&reply) {
        OwnedFrame::Array(values) => values
            .iter()
            .zip(keys)
            .all(|(v, &i)| *v == OwnedFrame::BulkString(value(i).into_bytes())),
        _ => false,
    }
}

#[test]
fn three_servers_behind_twemproxy() {
    if !have("nutcracker") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (1..=3).map(|n| tmp.path().join(format!("kv{n}"))).collect();
    let mut servers: Vec<KvServer> = dirs.iter().map(|d| KvServer::start(d, &[])).collect();
    let ports = [0, 1, 2].map(|n| servers[n].addr.port());
    let listen = free_port();
    let conf = tmp.path().join("nutcracker.yml");
    std::fs::write(&conf, config(listen, ports)).unwrap();
    let proxy = Command::new("nutcracker")
        .arg("-c")
        .arg(&conf)
        .args([
            "-s",
            &free_port().to_string(),
            "-a",
            "127.0.0.1",
            "-v",
            "4",
            "-o",
        ])
        .arg(tmp.path().join("nutcracker.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nutcracker starts");
    let mut proxy = Guard {
        child: proxy,
        name: "nutcracker".into(),
    };
    let addr = ([127, 0, 0, 1], listen).into();
    drop(common::connect_retrying(addr, &mut proxy));
    let mut c = Client::connect(addr);

    let all: Vec<usize> = (0..KEYS).collect();
    for batch in all.chunks(BATCH) {
        set_all(&mut c, batch);
    }
    // Keys with the same hash tag land on one server.
    for user in 0..20 {
        for field in ["name", "email", "plan"] {
            let k = format!("user:{{{user}}}:{field}");
            assert_eq!(c.call(&[b"SET", k.as_bytes(), b"x"]), b"+OK\r\n");
        }
    }

    let mut direct: Vec<Client> = servers.iter().map(KvServer::client).collect();
    let sizes: Vec<i64> = direct.iter_mut().map(|d| int(&d.cmd("DBSIZE"))).collect();
    let total: i64 = sizes.iter().sum();
    eprintln!("keys per server: {sizes:?}");
    assert_eq!(total, (KEYS + 60) as i64, "sizes {sizes:?}");
    for (n, size) in sizes.iter().enumerate() {
        let share = *size as f64 / total as f64;
        assert!(
            (0.20..=0.46).contains(&share),
            "server {n} holds {share:.3} of the keys ({sizes:?})"
        );
    }
    for user in 0..20 {
        let holders: Vec<usize> = (0..3)
            .filter(|&n| {
                let k = format!("user:{{{user}}}:name");
                int(&direct[n].cmd(&format!("EXISTS {k}"))) == 1
            })
            .collect();
        assert_eq!(holders.len(), 1);
        for field in ["email", "plan"] {
            let k = format!("user:{{{user}}}:{field}");
            assert_eq!(
                int(&direct[holders[0]].cmd(&format!("EXISTS {k}"))),
                1,
                "{k} apart"
            );
        }
    }
    for batch in all.chunks(BATCH) {
        assert!(
            all_there(&mut c, batch),
            "a key read back wrong through the proxy"
        );
    }

    // The atomic updates go through the proxy as any single-key command does.
    for round in 1..=3 {
        for n in 0..30 {
            let reply = c.cmd(&format!("INCR hits:{n}"));
            assert_eq!(reply, format!(":{round}\r\n").into_bytes(), "hits:{n}");
        }
    }
    assert_eq!(c.cmd("SETNX hits:0 x"), b":0\r\n");
    assert_eq!(c.cmd("SET hits:0 y NX GET"), b"$1\r\n3\r\n");

    // kill -9 the second server, restart it on its directory and its port.
    let victim = 1;
    let OwnedFrame::Array(listed) = decode2(&direct[victim].cmd("KEYS key:*")) else {
        panic!("KEYS replies with an array");
    };
    let theirs: Vec<usize> = listed
        .iter()
        .map(|k| match k {
            OwnedFrame::BulkString(k) => String::from_utf8_lossy(&k[4..]).parse().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        theirs.len() > KEYS / 5,
        "{} keys on the victim",
        theirs.len()
    );
    let victim_size = int(&direct[victim].cmd("DBSIZE"));
    drop(direct);
    servers[victim].guard.signal("KILL");
    servers[victim].guard.wait_exit(STEP);
    servers[victim] = KvServer::start_on(&dirs[victim], ports[victim], &[]);
    assert!(
        servers[victim]
            .startup_line
            .contains(&format!("recovered {victim_size} entries")),
        "{}",
        servers[victim].startup_line
    );
    // The proxy notices the dead connection on the next request (and may eject the
    // server for a while): retry each batch until it reads back, within a bound.
    let deadline = Instant::now() + STEP;
    for batch in theirs.chunks(BATCH) {
        loop {
            let mut fresh = Client::connect(addr);
            if all_there(&mut fresh, batch) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the restarted server's keys never read back"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(proxy.child.try_wait().unwrap().is_none(), "nutcracker died");
}
