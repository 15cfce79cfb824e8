//! An operator looks at the store of a running application: this test process holds a
//! `Store` open and writing while the `kv` binary, another process, reads its
//! directory with `stats`, `verify`, `dump`, `get`, `keys`, `scan`, `ttl` and
//! `exists`, and is refused, with a message saying why, when it tries to write.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{code, kv, ok, s, stderr};
use kv_store::{Options, Store, SyncPolicy};

#[test]
fn reading_commands_work_beside_a_writing_store_and_writing_ones_say_why_they_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let store = Store::open(
        Options::new()
            .dir(&dir)
            .sync(SyncPolicy::EveryWrite)
            .segment_size(64 << 10)
            .snapshots_retained(1)
            .background_workers(false),
    )
    .unwrap();
    store.set(b"fixed", b"here").unwrap();
    store
        .set_with_ttl(b"session", b"token", Duration::from_secs(3600))
        .unwrap();
    // A writer that never stops until told: overwrites, deletes, snapshots that
    // truncate the log and remove older snapshots.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, written) = (store.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                store
                    .set(format!("k{}", i % 500).as_bytes(), &i.to_le_bytes())
                    .unwrap();
                if i.is_multiple_of(97) {
                    store
                        .delete(format!("k{}", (i / 2) % 500).as_bytes())
                        .unwrap();
                }
                if i % 50 == 49 {
                    store.compact().unwrap();
                }
                i += 1;
                written.store(i, Ordering::Relaxed);
            }
        })
    };
    let d = s(&dir);
    for _ in 0..20 {
        let stats = ok(kv(["stats", d]));
        assert!(stats.contains("live"), "{stats}");
        ok(kv(["verify", d]));
        let dump = ok(kv(["dump", d]));
        assert!(dump.contains("\"key\":\"fixed\""), "{dump}");
        assert_eq!(ok(kv(["--dir", d, "get", "fixed"])), "here");
        assert!(ok(kv(["--dir", d, "keys"])).contains("session"));
        assert!(ok(kv(["--dir", d, "scan", "--prefix", "fix"])).contains("here"));
        assert!(ok(kv(["--dir", d, "ttl", "session"])).contains('m'));
        assert_eq!(ok(kv(["--dir", d, "exists", "fixed"])).trim(), "true");
        // Writing needs the directory to itself, and says so.
        let out = kv(["--dir", d, "set", "x", "y"]);
        assert_eq!(code(&out), 2);
        assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(written.load(Ordering::Relaxed) > 0);
    store.close().unwrap();
}
