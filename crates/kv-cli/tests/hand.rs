//! The hand commands on a real directory: get, set (argument, stdin, --ttl), del,
//! ttl, expire, exists, keys, scan; exit statuses; binary keys and values; the
//! default directory.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use common::{code, init, kv, kv_in, ok, s, stderr, stdout};

#[test]
fn set_get_exists_del_and_their_exit_statuses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = init(&dir);
    ok(kv(["--dir", d, "set", "user:1", "Alice"]));
    assert_eq!(ok(kv(["--dir", d, "get", "user:1"])), "Alice");
    assert_eq!(ok(kv(["--dir", d, "exists", "user:1"])), "true\n");

    let missing = kv(["--dir", d, "get", "user:2"]);
    assert_eq!(code(&missing), 1);
    assert!(missing.stdout.is_empty());
    assert!(
        stderr(&missing).contains("no such key"),
        "{}",
        stderr(&missing)
    );
    let absent = kv(["--dir", d, "exists", "user:2"]);
    assert_eq!((code(&absent), stdout(&absent).as_str()), (1, "false\n"));

    ok(kv(["--dir", d, "set", "user:2", "Bob"]));
    assert_eq!(
        ok(kv(["--dir", d, "del", "user:1", "user:9"])),
        "deleted 1 of 2\n"
    );
    let none = kv(["--dir", d, "del", "user:1"]);
    assert_eq!(code(&none), 1);
    assert_eq!(code(&kv(["--dir", d, "get", "user:1"])), 1);
    assert_eq!(ok(kv(["--dir", d, "get", "user:2"])), "Bob");
}

#[test]
fn values_from_stdin_and_binary_keys_are_byte_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let d = init(&d);
    let value: Vec<u8> = (0..=255u8).chain([0, 10, 13, 0]).collect();
    ok(kv_in(["--dir", d, "set", "blob"], &value));
    let out = kv(["--dir", d, "get", "blob"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        out.stdout, value,
        "piped output must be the value's bytes only"
    );

    // A key that is not UTF-8, given as a raw argument.
    let key = OsStr::from_bytes(b"k\xff\x01");
    let out = assert_cmd::cargo::cargo_bin_cmd!("kv")
        .args([
            OsStr::new("--dir"),
            OsStr::new(d),
            OsStr::new("set"),
            key,
            OsStr::new("v"),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = assert_cmd::cargo::cargo_bin_cmd!("kv")
        .args([OsStr::new("--dir"), OsStr::new(d), OsStr::new("get"), key])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"v");
    // Listings escape it in text and hex-encode it in JSON.
    let keys = kv(["--dir", d, "keys"]);
    assert_eq!(keys.stdout, b"blob\nk\xff\x01\n");
    let scan = ok(kv(["--dir", d, "scan", "--prefix", "k"]));
    assert_eq!(scan, "k\\xff\\x01\tv\n");
    let json = ok(kv(["--dir", d, "--json", "scan", "--prefix", "k"]));
    assert_eq!(json, "{\"key_hex\":\"6bff01\",\"value\":\"v\"}\n");
}

#[test]
fn ttl_expire_and_persist() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let d = init(&d);
    ok(kv(["--dir", d, "set", "--ttl", "2h", "session", "token"]));
    ok(kv(["--dir", d, "set", "plain", "x"]));
    let left = ok(kv(["--dir", d, "ttl", "session"]));
    assert!(
        left.starts_with("1h 59m") || left.starts_with("2h 0m"),
        "{left}"
    );
    assert_eq!(ok(kv(["--dir", d, "ttl", "plain"])), "persistent\n");
    assert_eq!(code(&kv(["--dir", d, "ttl", "nothing"])), 1);

    ok(kv(["--dir", d, "expire", "plain", "90s"]));
    let json = ok(kv(["--dir", d, "--json", "ttl", "plain"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ms = v["ttl_ms"].as_u64().unwrap();
    assert!((80_000..=90_000).contains(&ms), "{json}");
    ok(kv(["--dir", d, "expire", "plain", "--persist"]));
    assert_eq!(ok(kv(["--dir", d, "ttl", "plain"])), "persistent\n");
    assert_eq!(code(&kv(["--dir", d, "expire", "nothing", "5s"])), 1);
    // A TTL of 0 is refused (as Redis refuses `EX 0`), and nothing changes.
    let zero = kv(["--dir", d, "expire", "plain", "0"]);
    assert_eq!(code(&zero), 2);
    assert!(stderr(&zero).contains("TTL"), "{}", stderr(&zero));
    assert_eq!(ok(kv(["--dir", d, "get", "plain"])), "x");
    let zero = kv(["--dir", d, "set", "--ttl", "0", "fresh", "v"]);
    assert_eq!(code(&zero), 2);
    assert!(stderr(&zero).contains("TTL"), "{}", stderr(&zero));
    assert_eq!(code(&kv(["--dir", d, "get", "fresh"])), 1);
    let bad = kv(["--dir", d, "set", "--ttl", "soon", "k", "v"]);
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("soon"), "{}", stderr(&bad));
}

#[test]
fn keys_and_scan_are_sorted_filtered_and_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let d = init(&d);
    for (k, v) in [
        ("b:2", "two"),
        ("a:1", "one"),
        ("b:1", "uno"),
        ("c", "tab\there"),
    ] {
        ok(kv(["--dir", d, "set", k, v]));
    }
    assert_eq!(ok(kv(["--dir", d, "keys"])), "a:1\nb:1\nb:2\nc\n");
    assert_eq!(ok(kv(["--dir", d, "keys", "--prefix", "b:"])), "b:1\nb:2\n");
    let nul = kv(["--dir", d, "keys", "-0", "--prefix", "b:"]);
    assert_eq!(nul.stdout, b"b:1\0b:2\0");
    assert_eq!(
        ok(kv(["--dir", d, "scan", "--limit", "2"])),
        "a:1\tone\nb:1\tuno\n"
    );
    assert_eq!(
        ok(kv(["--dir", d, "scan", "--prefix", "c"])),
        "c\ttab\\there\n"
    );
}

#[test]
fn the_default_directory_is_the_readme_examples_and_set_creates_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = assert_cmd::cargo::cargo_bin_cmd!("kv")
        .current_dir(tmp.path())
        .args(["set", "quickstart:runs", "7"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(tmp.path().join("kv-data").join("LOCK").exists());
    let out = assert_cmd::cargo::cargo_bin_cmd!("kv")
        .current_dir(tmp.path())
        .args(["get", "quickstart:runs"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"7");
}

#[test]
fn missing_foreign_and_locked_directories_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    for cmd in [&["get", "k"][..], &["keys"], &["del", "k"]] {
        let out = kv(["--dir", s(&missing)].iter().chain(cmd));
        assert_eq!(code(&out), 2);
        assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    }
    for cmd in ["stats", "verify", "dump", "compact", "repair"] {
        let out = kv([cmd, s(&missing)]);
        assert_eq!(code(&out), 2, "{cmd}");
        assert!(
            stderr(&out).contains("does not exist"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
    assert!(!missing.exists(), "a read created the directory");

    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("thesis.tex"), b"precious").unwrap();
    for args in [
        vec!["--dir", s(&home), "set", "k", "v"],
        vec!["verify", s(&home)],
        vec!["stats", s(&home)],
    ] {
        let out = kv(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("not a kv data directory"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        1,
        "files were added"
    );

    let data = tmp.path().join("data");
    init(&data);
    ok(kv(["--dir", s(&data), "set", "k", "v"]));
    let store = kv_store::Store::open(kv_store::Options::new().dir(&data)).unwrap();
    // Reading works beside the open store (read-only opens take no lock) ...
    for args in [
        vec!["--dir", s(&data), "get", "k"],
        vec!["verify", s(&data)],
        vec!["stats", s(&data)],
        vec!["dump", s(&data)],
    ] {
        ok(kv(&args));
    }
    // ... writing needs the directory to itself, and says so.
    for args in [
        vec!["--dir", s(&data), "set", "k", "w"],
        vec!["--dir", s(&data), "del", "k"],
        vec!["compact", s(&data)],
        vec!["repair", s(&data)],
    ] {
        let out = kv(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("is locked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    store.close().unwrap();
    assert_eq!(ok(kv(["--dir", s(&data), "get", "k"])), "v");
}

#[test]
fn every_command_has_help() {
    let help = ok(kv(["--help"]));
    for cmd in [
        "get", "set", "del", "ttl", "expire", "exists", "keys", "scan", "stats", "verify", "dump",
        "load", "compact", "repair",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from --help");
        let sub = ok(kv([cmd, "--help"]));
        assert!(sub.contains("Usage: kv"), "{cmd}: {sub}");
    }
    assert_eq!(code(&kv(["frobnicate"])), 2);
}

/// Issue 15's command line: `set --nx/--xx/--get`, `incr`, `decr`, `append`, with exit
/// status 0 written, 1 condition not met (nothing written), 2 error.
#[test]
fn conditional_sets_increments_and_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let d = init(&d);
    // --nx writes only a new key; --xx only an existing one.
    ok(kv(["--dir", d, "set", "--nx", "lock", "me"]));
    let again = kv(["--dir", d, "set", "--nx", "lock", "you"]);
    assert_eq!(code(&again), 1);
    assert_eq!(ok(kv(["--dir", d, "get", "lock"])), "me");
    assert_eq!(code(&kv(["--dir", d, "set", "--xx", "nobody", "x"])), 1);
    assert_eq!(code(&kv(["--dir", d, "get", "nobody"])), 1);
    ok(kv(["--dir", d, "set", "--xx", "lock", "next"]));
    // --get prints the value replaced.
    assert_eq!(ok(kv(["--dir", d, "set", "--get", "lock", "last"])), "next");
    assert_eq!(ok(kv(["--dir", d, "set", "--get", "fresh", "v"])), "");
    assert_eq!(ok(kv(["--dir", d, "get", "lock"])), "last");
    // Counters.
    assert_eq!(ok(kv(["--dir", d, "incr", "hits"])), "1\n");
    assert_eq!(ok(kv(["--dir", d, "incr", "hits", "41"])), "42\n");
    assert_eq!(ok(kv(["--dir", d, "decr", "hits"])), "41\n");
    assert_eq!(ok(kv(["--dir", d, "decr", "hits", "-9"])), "50\n");
    let bad = kv(["--dir", d, "incr", "lock"]);
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("not an integer"), "{}", stderr(&bad));
    assert_eq!(ok(kv(["--dir", d, "get", "lock"])), "last");
    ok(kv(["--dir", d, "set", "big", "9223372036854775807"]));
    let over = kv(["--dir", d, "incr", "big"]);
    assert_eq!(code(&over), 2);
    assert!(stderr(&over).contains("overflow"), "{}", stderr(&over));
    // Append returns the new length.
    assert_eq!(ok(kv(["--dir", d, "append", "log", "ab"])), "2\n");
    assert_eq!(ok(kv(["--dir", d, "append", "log", "cde"])), "5\n");
    assert_eq!(ok(kv(["--dir", d, "get", "log"])), "abcde");
}
