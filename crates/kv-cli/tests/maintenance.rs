//! The maintenance commands on real directories: verify finds an injected bit flip
//! and names its offset; repair keeps a backup and makes verify pass; load then dump
//! round-trips; dump agrees with the store; stats, verify and dump change nothing;
//! compact takes a snapshot.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{code, files, flip, init, kv, kv_in, named, ok, record_offsets, s, stderr, stdout};
use kv_store::{Batch, EvictionPolicy, Options, Store};

/// A store in `dir` (small segments) holding `n` keys `key:0000`.. written one by one.
fn store_with(dir: &Path, n: u32) {
    init(dir);
    let store = Store::open(
        Options::new()
            .dir(dir)
            .segment_size(64 << 10)
            .snapshot_on_close(false),
    )
    .unwrap();
    for i in 0..n {
        store
            .set(
                format!("key:{i:04}").as_bytes(),
                format!("value {i}").as_bytes(),
            )
            .unwrap();
    }
    store.close().unwrap();
}

#[test]
fn verify_names_the_offset_of_a_flipped_bit_and_repair_makes_it_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store_with(&dir, 20);
    let d = s(&dir);
    let clean = ok(kv(["verify", d]));
    assert!(clean.contains("verify: clean"), "{clean}");
    assert!(clean.contains("20 record(s)"), "{clean}");

    let seg = named(&dir, "wal-").remove(0);
    let offsets = record_offsets(&std::fs::read(&seg).unwrap());
    assert!(offsets.len() > 20);
    // A bit inside the eighth record (key:0007).
    flip(&seg, offsets[7] + 20);
    let before = files(&dir);
    let out = kv(["verify", d]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = stdout(&out);
    let expected = format!("BAD  {} at offset {}", seg.display(), offsets[7]);
    assert!(text.contains(&expected), "{text}\nwanted: {expected}");
    assert!(text.contains("checksum mismatch"), "{text}");
    assert_eq!(files(&dir), before, "verify changed the directory");

    let json = stdout(&kv(["--json", "verify", d]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["clean"], false);
    assert_eq!(v["problems"][0]["offset"], offsets[7] as u64);
    assert_eq!(v["problems"][0]["file"], seg.display().to_string());

    // dump refuses what the default recovery refuses, unless asked to salvage.
    let dump = kv(["dump", d]);
    assert_eq!(code(&dump), 2);
    assert!(stderr(&dump).contains("damaged"), "{}", stderr(&dump));
    let salvaged = ok(kv(["dump", d, "--salvage"]));
    assert_eq!(salvaged.lines().count(), 19);
    assert!(!salvaged.contains("key:0007"));
    assert_eq!(files(&dir), before, "dump changed the directory");

    // The default open refuses the directory; repair salvages it.
    let backup = tmp.path().join("data.bak");
    let out = kv(["repair", d, "--backup", s(&backup)]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
    assert!(
        text.contains(&format!(
            "dropped: BAD  {} at offset {}",
            seg.display(),
            offsets[7]
        )),
        "{text}"
    );
    assert!(text.contains("lost: 1 log record(s)"), "{text}");
    assert!(text.contains("verify is clean"), "{text}");
    // The backup holds the damaged files as they were.
    let seg_name = seg.file_name().unwrap();
    assert_eq!(
        std::fs::read(backup.join(seg_name)).unwrap(),
        before[seg_name.to_str().unwrap()].0
    );
    assert!(!backup.join("LOCK").exists());
    let out = ok(kv(["verify", d]));
    assert!(out.contains("verify: clean"), "{out}");
    // Everything but the damaged record survived.
    assert_eq!(code(&kv(["--dir", d, "get", "key:0007"])), 1);
    assert_eq!(ok(kv(["--dir", d, "get", "key:0006"])), "value 6");
    assert_eq!(ok(kv(["--dir", d, "get", "key:0019"])), "value 19");
    assert_eq!(ok(kv(["--dir", d, "keys"])).lines().count(), 19);
    // The store opens in its default mode and keeps working.
    ok(kv(["--dir", d, "set", "after", "repair"]));
    assert!(stdout(&kv(["verify", d])).contains("verify: clean"));
    // Nothing left to repair.
    assert!(ok(kv(["repair", d])).contains("nothing to repair"));
}

#[test]
fn a_torn_tail_is_reported_then_cut_by_repair_with_nothing_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store_with(&dir, 5);
    let d = s(&dir);
    let seg = named(&dir, "wal-").remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    let end = *record_offsets(&bytes).last().unwrap();
    bytes[end..end + 11].copy_from_slice(&[0x5a; 11]);
    std::fs::write(&seg, &bytes).unwrap();

    // Never acknowledged bytes: the store opens without them, so verify passes and
    // says what the next open cuts.
    let out = kv(["verify", d]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "TORN {} at offset {end} (11 bytes)",
            seg.display()
        )),
        "{text}"
    );
    assert!(text.contains("the next open cuts it"), "{text}");
    let json = ok(kv(["--json", "repair", d]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["mode"], "tolerate-torn-tail");
    assert_eq!(v["clean"], true);
    assert_eq!(v["entries"], 5);
    let backup = Path::new(v["backup"].as_str().unwrap());
    assert!(backup.starts_with(tmp.path()), "{}", backup.display());
    assert!(backup
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("data.backup-"));
    assert_eq!(
        std::fs::read(backup.join(seg.file_name().unwrap())).unwrap(),
        bytes
    );
    ok(kv(["verify", d]));
    assert_eq!(ok(kv(["--dir", d, "keys"])).lines().count(), 5);
}

#[test]
fn a_damaged_snapshot_is_found_and_repair_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store_with(&dir, 30);
    let d = s(&dir);
    let out = ok(kv(["compact", d]));
    assert!(out.contains("30 entries"), "{out}");
    let snap = named(&dir, "snapshot-").remove(0);
    let len = std::fs::metadata(&snap).unwrap().len() as usize;
    flip(&snap, len / 2);
    // The store opens from the log, which still reaches back to 1: verify warns of
    // the damaged file and passes.
    let out = kv(["verify", d]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("WARN {} at offset", snap.display())),
        "{text}"
    );
    assert!(
        text.contains("opens with every acknowledged write"),
        "{text}"
    );
    // As recovery would, dump falls back to the log, which still reaches back to 1.
    assert_eq!(ok(kv(["dump", d])).lines().count(), 30);
    let out = ok(kv(["repair", d]));
    assert!(out.contains("verify is clean"), "{out}");
    ok(kv(["verify", d]));
}

#[test]
fn load_then_dump_round_trips_through_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let (a, b) = (init(&a), init(&b));
    let far = 4_102_444_800_000u64; // 2100-01-01
    let mut input = String::new();
    for i in 0..2500 {
        input.push_str(&format!("{{\"key\":\"item:{i:05}\",\"value\":\"v{i}\"}}\n"));
    }
    input.push_str(&format!(
        "{{\"key_hex\":\"00ff\",\"value_hex\":\"deadbeef\",\"expires_at_ms\":{far}}}\n"
    ));
    input.push('\n'); // blank lines are skipped
    input.push_str("{\"key\":\"gone\",\"value\":\"x\",\"expires_at_ms\":1}\n");
    input.push_str("{\"key\":\"ключ\",\"value\":\"значение\"}\n");
    let file = tmp.path().join("in.jsonl");
    std::fs::write(&file, &input).unwrap();

    let out = ok(kv(["load", a, s(&file), "--batch", "1000"]));
    assert!(out.contains("loaded 2502 entries in 3 batch(es)"), "{out}");
    assert!(out.contains("1 already expired"), "{out}");
    let stats = ok(kv(["--json", "stats", a]));
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["entries"], 2502);

    let dump = ok(kv(["dump", a]));
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 2502);
    assert_eq!(
        lines[0],
        format!("{{\"key_hex\":\"00ff\",\"value_hex\":\"deadbeef\",\"expires_at_ms\":{far}}}")
    );
    assert_eq!(lines[1], "{\"key\":\"item:00000\",\"value\":\"v0\"}");
    assert_eq!(lines[2501], "{\"key\":\"ключ\",\"value\":\"значение\"}");
    assert!(!dump.contains("gone"));
    // Load the dump elsewhere (from stdin) and dump again: the same bytes.
    ok(kv_in(["load", b, "-"], dump.as_bytes()));
    assert_eq!(ok(kv(["dump", b])), dump);
    // To a file too, in text form.
    let text_file = tmp.path().join("out.txt");
    ok(kv([
        "dump",
        b,
        "--format",
        "text",
        "--output",
        s(&text_file),
    ]));
    let text = std::fs::read_to_string(&text_file).unwrap();
    assert!(
        text.starts_with(&format!(
            "\\x00\\xff\t\\xde\\xad\\xbe\\xef\texpires_at_ms={far}\n"
        )),
        "{text}"
    );

    // A bad line names its number; nothing of its batch is loaded.
    let bad = kv_in(
        ["load", b, "-"],
        b"{\"key\":\"x1\",\"value\":\"1\"}\n{\"key\":\"x2\"}\n",
    );
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("line 2: no `value`"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(code(&kv(["--dir", b, "get", "x1"])), 1);
}

#[test]
fn dump_agrees_with_the_store_after_deletes_batches_expiry_evictions_and_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let opts = || {
        Options::new()
            .dir(&dir)
            .max_entries(40)
            .eviction(EvictionPolicy::Lru)
            .snapshot_on_close(false)
    };
    let store = Store::open(opts()).unwrap();
    store.set(b"early", b"cleared").unwrap();
    store.clear().unwrap();
    for i in 0..30u32 {
        store
            .set(format!("k{i}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    store.snapshot().unwrap(); // the dump must combine a snapshot and the log after it
    for i in 0..10u32 {
        store.delete(format!("k{i}").as_bytes()).unwrap();
    }
    let mut batch = Batch::new();
    batch.put(b"b1", b"one").put(b"b2", b"two").delete(b"k10");
    store.apply(&batch).unwrap();
    store.expire(b"k11", Duration::from_secs(3600)).unwrap();
    store.set(b"short", b"lived").unwrap();
    // Expired at once (a zero TTL is refused; an instant in the past is not).
    store
        .expire_at(b"short", kv_store::Timestamp::from_millis(1))
        .unwrap();
    // Past the entry limit: the least recently used keys are evicted (and logged).
    for i in 100..130u32 {
        store.set(format!("k{i}").as_bytes(), b"late").unwrap();
    }
    assert!(store.metrics().cache.evictions > 0);
    store.close().unwrap();

    let store = Store::open(opts()).unwrap();
    let mut expected: Vec<String> = store
        .iter()
        .unwrap()
        .map(|(k, v)| {
            let at = store
                .info(&k)
                .unwrap()
                .unwrap()
                .expires_at
                .map(|t| t.as_millis());
            let mut obj = serde_json::Map::new();
            match std::str::from_utf8(&k) {
                Ok(t) => obj.insert("key".into(), t.into()),
                Err(_) => obj.insert("key_hex".into(), "?".into()),
            };
            match std::str::from_utf8(&v) {
                Ok(t) => obj.insert("value".into(), t.into()),
                Err(_) => obj.insert(
                    "value_hex".into(),
                    v.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                        .into(),
                ),
            };
            if let Some(at) = at {
                obj.insert("expires_at_ms".into(), at.into());
            }
            (k, serde_json::Value::Object(obj).to_string())
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect();
    store.close().unwrap();
    expected.push(String::new());
    assert_eq!(ok(kv(["dump", s(&dir)])), expected.join("\n"));
}

#[test]
fn stats_verify_and_dump_change_nothing_even_with_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store_with(&dir, 12);
    let d = s(&dir);
    ok(kv(["compact", d]));
    ok(kv(["--dir", d, "set", "after", "snapshot"]));
    let seg = named(&dir, "wal-").pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let end = *record_offsets(&bytes).last().unwrap();
    bytes[end..end + 3].copy_from_slice(&[1, 2, 3]);
    std::fs::write(&seg, &bytes).unwrap();
    // A leftover snapshot temp file, which opening a store would remove.
    std::fs::write(dir.join("snapshot-00000000000000000099.snap.tmp"), b"half").unwrap();
    let before = files(&dir);

    let stats = ok(kv(["stats", d]));
    assert!(stats.contains("13 live"), "{stats}");
    assert!(stats.contains("snapshots  1: snapshot-"), "{stats}");
    assert!(stats.contains("1 file problem(s)"), "{stats}");
    assert_eq!(code(&kv(["verify", d])), 0);
    let verify = stdout(&kv(["verify", d]));
    assert!(verify.contains("note "), "{verify}");
    let dump = ok(kv(["dump", d]));
    assert_eq!(dump.lines().count(), 13);
    assert_eq!(
        files(&dir),
        before,
        "a read-only command changed the directory"
    );
    // Piped, no progress bar or other noise reaches stderr.
    for cmd in ["stats", "dump"] {
        assert_eq!(stderr(&kv([cmd, d])), "", "{cmd}");
    }
}

#[test]
fn compact_takes_a_snapshot_and_truncates_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // Enough records for several 64 KiB segments.
    store_with(&dir, 3000);
    let d = s(&dir);
    let segments = named(&dir, "wal-").len();
    assert!(segments > 2, "{segments}");
    let json = ok(kv(["--json", "compact", d]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["entries"], 3000);
    assert_eq!(v["sequence"], 3000);
    assert_eq!(v["truncated_through"], 3000);
    assert!(
        v["wal_segments_after"].as_u64().unwrap() < segments as u64,
        "{json}"
    );
    assert_eq!(
        named(&dir, "wal-").len() as u64,
        v["wal_segments_after"].as_u64().unwrap()
    );
    assert!(Path::new(v["snapshot"].as_str().unwrap()).exists());
    let stats = ok(kv(["stats", d]));
    assert!(stats.contains("snapshot covers ..=3000"), "{stats}");
    assert_eq!(ok(kv(["--dir", d, "get", "key:2999"])), "value 2999");
}

#[test]
fn damage_the_snapshot_already_covers_loses_nothing_on_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store_with(&dir, 20);
    let d = s(&dir);
    ok(kv(["compact", d])); // one segment: the log keeps records 1..=20 behind it
    let seg = named(&dir, "wal-").remove(0);
    let offsets = record_offsets(&std::fs::read(&seg).unwrap());
    flip(&seg, offsets[4] + 12);
    // Recovery does not need the record: verify warns and passes, the store opens.
    let out = kv(["verify", d]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("WARN {} at offset {}", seg.display(), offsets[4])),
        "{}",
        stdout(&out)
    );
    assert_eq!(ok(kv(["--dir", d, "get", "key:0001"])), "value 1");
    // Repair rewrites the directory without the damaged segment.
    let out = ok(kv(["repair", d]));
    assert!(out.contains("lost: nothing"), "{out}");
    assert!(
        out.contains("recovered 20 entries (20 from snapshot"),
        "{out}"
    );
    ok(kv(["verify", d]));
    assert_eq!(ok(kv(["--dir", d, "get", "key:0004"])), "value 4");
}

#[test]
fn a_segment_with_a_damaged_header_is_reported_at_offset_zero_and_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store_with(&dir, 3);
    let d = s(&dir);
    let seg = named(&dir, "wal-").remove(0);
    flip(&seg, 30); // inside the 64-byte segment header
    let out = kv(["verify", d]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains(&format!("BAD  {} at offset 0", seg.display())),
        "{}",
        stdout(&out)
    );
    let json = ok(kv(["--json", "repair", d]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["clean"], true, "{json}");
    assert_eq!(v["records_lost"], serde_json::Value::Null, "{json}");
    assert!(Path::new(v["backup"].as_str().unwrap())
        .join(seg.file_name().unwrap())
        .exists());
    ok(kv(["verify", d]));
    assert_eq!(ok(kv(["--dir", d, "keys"])), "");
}

/// Issue 13 #12: a snapshot holding one live entry and one whose TTL ran out since:
/// `kv stats` counts the expired one as such.
#[test]
fn stats_counts_an_entry_whose_ttl_ran_out_since_the_snapshot() {
    use kv_store::{Clock, ManualClock, SystemClock, Timestamp};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    // Written on a clock an hour behind: the 10 s TTL ran out long before now.
    let behind = ManualClock::new(Timestamp::from_millis(
        SystemClock.now().as_millis() - 3_600_000,
    ));
    let store = Store::open(
        Options::new()
            .dir(&dir)
            .segment_size(64 << 10)
            .clock(std::sync::Arc::new(behind)),
    )
    .unwrap();
    store.set(b"live", b"1").unwrap();
    store
        .set_with_ttl(b"gone", b"2", Duration::from_secs(10))
        .unwrap();
    store.close().unwrap(); // the final snapshot holds both
    let stats = ok(kv(["stats", s(&dir)]));
    assert!(
        stats.contains("1 live (0 with a TTL, 1 expired not counted)"),
        "{stats}"
    );
}
