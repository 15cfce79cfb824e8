//! Real clients against `kv-server`: `redis-cli` (arguments, commands on stdin, `-x`,
//! `--scan`, `-a`), `redis-benchmark`, and the `redis` crate (RESP2 and RESP3).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{have, KvServer};

/// Runs `redis-cli -p PORT args`, with `stdin` fed to it; its stdout.
fn cli(kv: &KvServer, args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &kv.addr.port().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli starts");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn redis_cli_arguments_stdin_and_x() {
    if !have("redis-cli") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(&tmp.path().join("data"), &["--sync", "no"]);
    assert_eq!(cli(&kv, &["PING"], b""), "PONG\n");
    assert_eq!(cli(&kv, &["SET", "greeting", "hello world"], b""), "OK\n");
    assert_eq!(cli(&kv, &["GET", "greeting"], b""), "hello world\n");
    // -x: the last argument from stdin, bytes unchanged.
    assert_eq!(
        cli(&kv, &["-x", "SET", "blob"], b"line 1\nline 2\n"),
        "OK\n"
    );
    assert_eq!(cli(&kv, &["GET", "blob"], b""), "line 1\nline 2\n\n");
    assert_eq!(cli(&kv, &["STRLEN", "blob"], b""), "14\n");
    // Commands on stdin, one per line.
    let out = cli(
        &kv,
        &[],
        b"MSET a 1 b 2\nMGET a b nope\nDBSIZE\nEXPIRE a 100\nTTL a\n",
    );
    assert_eq!(out, "OK\n1\n2\n\n4\n1\n100\n");
    assert_eq!(
        cli(&kv, &["GET"], b""),
        // redis-cli prints an empty line after an error when not on a terminal.
        "ERR wrong number of arguments for 'get' command\n\n"
    );
    let mut keys: Vec<String> = cli(&kv, &["--scan", "--pattern", "*"], b"")
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    assert_eq!(keys, ["a", "b", "blob", "greeting"]);
    assert_eq!(cli(&kv, &["-3", "GET", "nope"], b""), "\n");
}

/// `redis-cli --memkeys` sizes every key with `MEMORY USAGE`, `--bigkeys` with `STRLEN`.
#[test]
fn redis_cli_memkeys_and_bigkeys_size_every_key() {
    if !have("redis-cli") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(&tmp.path().join("data"), &["--sync", "no"]);
    let big = "x".repeat(300);
    assert_eq!(
        cli(
            &kv,
            &["MSET", "a", "1", "bb", "0123456789", "big", &big],
            b""
        ),
        "OK\n"
    );
    // What --maxmemory counts: 75, 91 and 379 bytes.
    let mem = cli(&kv, &["--memkeys"], b"");
    assert!(
        mem.contains("Biggest string found '\"big\"' has 379 bytes"),
        "{mem}"
    );
    assert!(mem.contains("3 strings with 545 bytes"), "{mem}");
    let big_keys = cli(&kv, &["--bigkeys"], b"");
    assert!(big_keys.contains("3 strings with 311 bytes"), "{big_keys}");
}

#[test]
fn redis_cli_authenticates() {
    if !have("redis-cli") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(
        &tmp.path().join("data"),
        &["--sync", "no", "--requirepass", "s3cret"],
    );
    assert_eq!(
        cli(&kv, &["GET", "k"], b""),
        "NOAUTH Authentication required.\n\n"
    );
    assert_eq!(
        cli(
            &kv,
            &["--no-auth-warning", "-a", "s3cret", "SET", "k", "v"],
            b""
        ),
        "OK\n"
    );
    assert_eq!(
        cli(&kv, &["--no-auth-warning", "-a", "s3cret", "GET", "k"], b""),
        "v\n"
    );
}

#[test]
fn redis_benchmark_runs_against_kv_server() {
    if !have("redis-benchmark") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(&tmp.path().join("data"), &["--sync", "no"]);
    let requests = 20_000;
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &kv.addr.port().to_string()])
        .args([
            "-t",
            "set,get,incr,mset",
            "-P",
            "16",
            "-c",
            "50",
            "-n",
            &requests.to_string(),
            "-r",
            "1000",
            "-q",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("redis-benchmark runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for test in ["SET", "GET", "INCR", "MSET (10 keys)"] {
        let line = text
            .lines()
            .map(|l| l.rsplit('\r').next().unwrap_or(l))
            .find(|l| l.starts_with(&format!("{test}: ")))
            .unwrap_or_else(|| panic!("no {test} result in:\n{text}"));
        let rps: f64 = line[test.len() + 2..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no rate in {line:?}"));
        assert!(rps > 0.0, "{line}");
    }
    assert!(!text.contains("ERR"), "{text}");
    use redis_protocol::resp2::types::OwnedFrame;
    let mut c = kv.client();
    // SET and MSET write `key:…` keys, INCR `counter:…` ones, each from 1,000.
    let n = common::decode2(&c.cmd("DBSIZE"));
    assert!(
        matches!(n, OwnedFrame::Integer(n) if n > 100 && n <= 2000),
        "{n:?}"
    );
    // 50 clients incremented at once: no increment is lost.
    let OwnedFrame::Array(counters) = common::decode2(&c.cmd("KEYS counter:*")) else {
        panic!("KEYS replies with an array");
    };
    let mut sum = 0;
    for key in counters {
        let OwnedFrame::BulkString(key) = key else {
            panic!("a key is a bulk string");
        };
        let OwnedFrame::BulkString(v) = common::decode2(&c.call(&[b"GET", &key])) else {
            panic!("a counter vanished");
        };
        sum += String::from_utf8(v).unwrap().parse::<u64>().unwrap();
    }
    assert_eq!(sum, requests, "increments lost or doubled");
}

#[test]
fn the_redis_crate_works_against_kv_server() {
    use redis::Commands;
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(&tmp.path().join("data"), &["--sync", "no"]);
    for protocol in ["resp2", "resp3"] {
        let client =
            redis::Client::open(format!("redis://{}/?protocol={protocol}", kv.addr)).unwrap();
        let mut con = client.get_connection().unwrap();
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        let _: () = con.set("a", 1).unwrap();
        assert_eq!(con.get::<_, i64>("a").unwrap(), 1);
        let _: () = con.mset(&[("b", "2"), ("c", "3")]).unwrap();
        let got: Vec<Option<String>> = con.mget(&["a", "b", "nope"]).unwrap();
        assert_eq!(got, [Some("1".into()), Some("2".into()), None]);
        assert!(con.expire::<_, bool>("c", 100).unwrap());
        assert_eq!(con.ttl::<_, i64>("c").unwrap(), 100);
        let binary = vec![0u8, 255, b'\r', b'\n'];
        let _: () = con.set("bin", &binary).unwrap();
        assert_eq!(con.get::<_, Vec<u8>>("bin").unwrap(), binary);
        let mut keys: Vec<String> = con
            .scan_match::<_, String>("*")
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        keys.sort();
        assert_eq!(keys, ["a", "b", "bin", "c"]);
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        let _: () = con
            .mset(&[("a", "1"), ("b", "2"), ("c", "3"), ("bin", "x")])
            .unwrap();
        let (value, exists): (i64, bool) = redis::pipe()
            .set("p", 5)
            .ignore()
            .get("p")
            .exists("p")
            .query(&mut con)
            .unwrap();
        assert_eq!((value, exists), (5, true));
        // The atomic updates.
        assert_eq!(con.incr::<_, _, i64>("n", 5).unwrap(), 5);
        assert_eq!(con.decr::<_, _, i64>("n", 2).unwrap(), 3);
        assert_eq!(con.incr::<_, _, f64>("f", 1.5).unwrap(), 1.5);
        assert!(con.set_nx::<_, _, bool>("lock", "me").unwrap());
        assert!(!con.set_nx::<_, _, bool>("lock", "you").unwrap());
        let old: Option<String> = con
            .set_options(
                "lock",
                "next",
                redis::SetOptions::default()
                    .conditional_set(redis::ExistenceCheck::XX)
                    .get(true),
            )
            .unwrap();
        assert_eq!(old.as_deref(), Some("me"));
        assert_eq!(con.getset::<_, _, String>("lock", "last").unwrap(), "next");
        assert_eq!(con.append::<_, _, i64>("lock", "!").unwrap(), 5);
        assert!(con.expire::<_, bool>("lock", 100).unwrap());
        let _: () = con.rename("lock", "moved").unwrap();
        assert_eq!(con.ttl::<_, i64>("moved").unwrap(), 100);
        assert!(con.persist::<_, bool>("moved").unwrap());
        assert!(!con.rename_nx::<_, _, bool>("moved", "n").unwrap());
        assert!(con
            .mset_nx::<_, _, bool>(&[("x1", "1"), ("x2", "2")])
            .unwrap());
        assert_eq!(con.get_del::<_, String>("x1").unwrap(), "1");
        let err = con.incr::<_, _, i64>("moved", 1).unwrap_err();
        assert!(err.to_string().contains("not an integer"), "{err}");
        assert_eq!(con.del::<_, i64>(&["a", "b", "nope"]).unwrap(), 2);
        let err = redis::cmd("GET").query::<String>(&mut con).unwrap_err();
        assert!(
            err.to_string()
                .contains("wrong number of arguments for 'get' command"),
            "{err}"
        );
        let err = redis::cmd("LPUSH")
            .arg("l")
            .arg("x")
            .query::<i64>(&mut con)
            .unwrap_err();
        assert!(err.to_string().contains("unknown command"), "{err}");
    }
}

#[test]
fn the_redis_crate_authenticates() {
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(
        &tmp.path().join("data"),
        &["--sync", "no", "--requirepass", "pw"],
    );
    let good = redis::Client::open(format!("redis://:pw@{}/", kv.addr)).unwrap();
    let mut con = good.get_connection().unwrap();
    let _: () = redis::Commands::set(&mut con, "k", "v").unwrap();
    let bad = redis::Client::open(format!("redis://:nope@{}/", kv.addr)).unwrap();
    let err = bad
        .get_connection()
        .err()
        .expect("a wrong password is refused");
    assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}");
}
