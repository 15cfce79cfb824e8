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
    // INCR joins the list once kv-server has it (atomic updates).
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &kv.addr.port().to_string()])
        .args([
            "-t",
            "set,get,mset",
            "-P",
            "16",
            "-c",
            "50",
            "-n",
            "20000",
            "-r",
            "1000",
            "-q",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("redis-benchmark runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for test in ["SET", "GET", "MSET (10 keys)"] {
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
    let mut c = kv.client();
    let n = common::decode2(&c.cmd("DBSIZE"));
    assert!(
        matches!(n, redis_protocol::resp2::types::OwnedFrame::Integer(n) if n > 100 && n <= 1000),
        "{n:?}"
    );
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
        let (value, exists): (i64, bool) = redis::pipe()
            .set("p", 5)
            .ignore()
            .get("p")
            .exists("p")
            .query(&mut con)
            .unwrap();
        assert_eq!((value, exists), (5, true));
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
