//! Model test: for random histories of puts, deletes, expiry changes, batches, clears
//! and snapshots, `kv dump` (which rebuilds the entries read-only) lists exactly what
//! the store itself recovers from the same directory.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use kv_store::{Batch, Options, Store};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Put(u8, u8),
    PutTtl(u8, u8),
    Delete(u8),
    Expire(u8),
    Persist(u8),
    Batch(Vec<(u8, Option<u8>)>),
    Clear,
    Snapshot,
}

fn step() -> impl Strategy<Value = Step> {
    let key = 0u8..12;
    prop_oneof![
        6 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Step::Put(k, v)),
        2 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Step::PutTtl(k, v)),
        3 => key.clone().prop_map(Step::Delete),
        1 => key.clone().prop_map(Step::Expire),
        1 => key.clone().prop_map(Step::Persist),
        2 => prop::collection::vec((key, prop::option::of(any::<u8>())), 1..5).prop_map(Step::Batch),
        1 => Just(Step::Clear),
        1 => Just(Step::Snapshot),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

/// The value bytes: not UTF-8 for odd `v`, so both JSON encodings are exercised.
fn value(v: u8) -> Vec<u8> {
    if v % 2 == 1 {
        vec![0xff, v]
    } else {
        format!("v{v}").into_bytes()
    }
}

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    common::init(&dir);
    let opts = || {
        Options::new()
            .dir(&dir)
            .segment_size(4096) // several segments, and truncation after snapshots
            .background_workers(false)
            .snapshot_on_close(false)
    };
    let store = Store::open(opts()).unwrap();
    for s in steps {
        match s {
            Step::Put(k, v) => store.set(&key(*k), &value(*v)).unwrap(),
            Step::PutTtl(k, v) => store
                .set_with_ttl(&key(*k), &value(*v), Duration::from_secs(3600))
                .unwrap(),
            Step::Delete(k) => {
                store.delete(&key(*k)).unwrap();
            }
            Step::Expire(k) => {
                store.expire(&key(*k), Duration::from_secs(7200)).unwrap();
            }
            Step::Persist(k) => {
                store.persist(&key(*k)).unwrap();
            }
            Step::Batch(ops) => {
                let mut b = Batch::new();
                for (k, v) in ops {
                    match v {
                        Some(v) => b.put(&key(*k), &value(*v)),
                        None => b.delete(&key(*k)),
                    };
                }
                store.apply(&b).unwrap();
            }
            Step::Clear => store.clear().unwrap(),
            Step::Snapshot => {
                store.snapshot().unwrap();
            }
        }
    }
    store.close().unwrap();

    let mut out = Vec::new();
    let code = kv_cli::run_with(
        ["kv", "dump", dir.to_str().unwrap()],
        &mut out,
        &mut std::io::empty(),
        false,
    );
    prop_assert_eq!(code, 0);

    let store = Store::open(opts()).unwrap();
    let mut expected = BTreeMap::new();
    for (k, v) in store.iter().unwrap() {
        let at = store.info(&k).unwrap().unwrap().expires_at;
        let mut obj = serde_json::Map::new();
        let text =
            |name: &str, b: &[u8], obj: &mut serde_json::Map<_, _>| match std::str::from_utf8(b) {
                Ok(t) => obj.insert(name.to_owned(), t.into()),
                Err(_) => obj.insert(
                    format!("{name}_hex"),
                    b.iter()
                        .map(|x| format!("{x:02x}"))
                        .collect::<String>()
                        .into(),
                ),
            };
        text("key", &k, &mut obj);
        text("value", &v, &mut obj);
        if let Some(at) = at {
            obj.insert("expires_at_ms".to_owned(), at.as_millis().into());
        }
        expected.insert(k, serde_json::Value::Object(obj).to_string() + "\n");
    }
    store.close().unwrap();
    let expected: String = expected.into_values().collect();
    prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn dump_lists_what_the_store_recovers(steps in prop::collection::vec(step(), 1..60)) {
        run(&steps)?;
    }
}
