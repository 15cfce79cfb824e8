//! A proptest state machine over the `Store` against a `BTreeMap` model: set, set with
//! TTL, delete, batch, expire/persist, the atomic updates (conditional set and delete,
//! increment, float increment, append, update closure, conditional expire, a
//! multi-key update), clock advance, snapshot, compact, close and reopen, crash (power
//! loss on kv-wal's simulated disk) and reopen.
//!
//! After every step every key reads as the model says; after every reopen each key's
//! metadata (created, updated, version, expiry) is exactly what it was before.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kv_store::{
    Batch, Condition, CoreError, EntryInfo, Error, ExpireIf, ManualClock, Options, SetOptions,
    Store, SyncPolicy, Timestamp, Update,
};
use kv_wal::{CrashMode, SimStorage};
use proptest::prelude::*;

const KEYS: u8 = 6;

#[derive(Debug, Clone)]
enum Step {
    Set(u8, u8),
    SetTtl(u8, u8, u64),
    Delete(u8),
    Batch(Vec<(u8, Option<u8>)>),
    Expire(u8, u64),
    Persist(u8),
    Clear,
    /// A conditional set: condition 0 always, 1 absent, 2 present, 3 the key's current
    /// version, 4 a stale version, 5 the key's current value; then the expiry: 0
    /// none, 1 kept, 2 a TTL; and whether the previous value is asked for.
    SetWith(u8, u8, u8, u8, u64, bool),
    /// A delete if the version is the current one (true) or a stale one (false).
    DeleteIf(u8, bool),
    Incr(u8, i64),
    IncrFloat(u8, i8),
    Append(u8, u8),
    /// An update closure: 0 sets, 1 deletes, 2 keeps.
    UpdateWith(u8, u8, u8),
    /// A conditional expire with a TTL (0: clear it): 0 always, 1 NX, 2 XX, 3 GT, 4 LT.
    ExpireIf(u8, u64, u8),
    /// MSETNX of two keys.
    SetManyIfAbsent(u8, u8, u8),
    Advance(u64),
    Snapshot,
    Compact,
    CloseReopen,
    CrashReopen,
}

fn step() -> impl Strategy<Value = Step> {
    let k = || 0..KEYS;
    prop_oneof![
        6 => (k(), any::<u8>()).prop_map(|(k, v)| Step::Set(k, v)),
        3 => (k(), any::<u8>(), 1..5_000u64).prop_map(|(k, v, t)| Step::SetTtl(k, v, t)),
        3 => k().prop_map(Step::Delete),
        3 => prop::collection::vec((k(), prop::option::of(any::<u8>())), 1..5).prop_map(Step::Batch),
        2 => (k(), 1..5_000u64).prop_map(|(k, t)| Step::Expire(k, t)),
        1 => k().prop_map(Step::Persist),
        1 => Just(Step::Clear),
        3 => (k(), any::<u8>(), 0..6u8, 0..3u8, 1..5_000u64, any::<bool>())
            .prop_map(|(k, v, c, e, t, g)| Step::SetWith(k, v, c, e, t, g)),
        1 => (k(), any::<bool>()).prop_map(|(k, cur)| Step::DeleteIf(k, cur)),
        3 => (k(), prop_oneof![-3..3i64, Just(i64::MAX), Just(i64::MIN)])
            .prop_map(|(k, d)| Step::Incr(k, d)),
        1 => (k(), any::<i8>()).prop_map(|(k, d)| Step::IncrFloat(k, d)),
        2 => (k(), any::<u8>()).prop_map(|(k, v)| Step::Append(k, v)),
        2 => (k(), 0..3u8, any::<u8>()).prop_map(|(k, what, v)| Step::UpdateWith(k, what, v)),
        2 => (k(), 0..5_000u64, 0..5u8).prop_map(|(k, t, w)| Step::ExpireIf(k, t, w)),
        1 => (k(), k(), any::<u8>()).prop_map(|(a, b, v)| Step::SetManyIfAbsent(a, b, v)),
        3 => (0..3_000u64).prop_map(Step::Advance),
        1 => Just(Step::Snapshot),
        1 => Just(Step::Compact),
        1 => Just(Step::CloseReopen),
        1 => Just(Step::CrashReopen),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

fn value(v: u8) -> Vec<u8> {
    // Some values long enough to cross log segment boundaries now and then.
    vec![v; 1 + (v as usize % 7) * 40]
}

/// Created, updated, version, expiry: what must survive a reopen exactly.
type Meta = (u64, u64, u64, Option<Timestamp>);

/// The model: key -> (value, absolute expiry in ms).
type Model = BTreeMap<u8, (Vec<u8>, Option<u64>)>;

struct World {
    dir: tempfile::TempDir,
    clock: ManualClock,
    disk: SimStorage,
    store: Option<Store>,
    model: Model,
}

impl World {
    fn new() -> Self {
        let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
        let mut w = World {
            dir: tempfile::tempdir().unwrap(),
            clock,
            disk: SimStorage::new(),
            store: None,
            model: Model::new(),
        };
        w.open();
        w
    }

    fn open(&mut self) {
        let opts = Options::new()
            .dir(self.dir.path())
            .sync(SyncPolicy::EveryWrite)
            .clock(Arc::new(self.clock.clone()))
            .segment_size(4096)
            .background_workers(false)
            .wal_storage(Arc::new(self.disk.clone()));
        self.store = Some(Store::open(opts).expect("reopen"));
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn now(&self) -> u64 {
        self.clock_now()
    }

    fn clock_now(&self) -> u64 {
        use kv_store::Clock;
        self.clock.now().as_millis()
    }

    fn live(&self, k: u8) -> Option<&Vec<u8>> {
        let now = self.now();
        self.model
            .get(&k)
            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
            .map(|(v, _)| v)
    }

    fn infos(&self) -> Vec<Option<Meta>> {
        (0..KEYS)
            .map(|k| {
                self.store().info(&key(k)).unwrap().map(|i: EntryInfo| {
                    (
                        i.created.as_millis(),
                        i.updated.as_millis(),
                        i.version,
                        i.expires_at,
                    )
                })
            })
            .collect()
    }

    /// Each key's last access and access count (kept by a snapshot, not by the log).
    fn accesses(&self) -> Vec<Option<(Timestamp, u64)>> {
        (0..KEYS)
            .map(|k| {
                self.store()
                    .info(&key(k))
                    .unwrap()
                    .map(|i| (i.last_accessed, i.access_count))
            })
            .collect()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for k in 0..KEYS {
            let got = self.store().get(&key(k)).unwrap();
            let want = self.live(k);
            prop_assert_eq!(got.as_deref(), want.map(|v| v.as_slice()), "key {}", k);
            if want.is_some() {
                let info = self.store().info(&key(k)).unwrap().unwrap();
                let exp = self.model[&k].1;
                prop_assert_eq!(
                    info.expires_at.map(|t| t.as_millis()),
                    exp,
                    "expiry of key {}",
                    k
                );
            }
        }
        Ok(())
    }

    fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let now = self.now();
        match step {
            Step::Set(k, v) => {
                self.store().set(&key(*k), &value(*v)).unwrap();
                self.model.insert(*k, (value(*v), None));
            }
            Step::SetTtl(k, v, ttl) => {
                self.store()
                    .set_with_ttl(&key(*k), &value(*v), Duration::from_millis(*ttl))
                    .unwrap();
                self.model.insert(*k, (value(*v), Some(now + ttl)));
            }
            Step::Delete(k) => {
                let was = self.live(*k).is_some();
                prop_assert_eq!(self.store().delete(&key(*k)).unwrap(), was);
                self.model.remove(k);
            }
            Step::Batch(ops) => {
                let mut b = Batch::new();
                for (k, v) in ops {
                    match v {
                        Some(v) => {
                            b.put(&key(*k), &value(*v));
                            self.model.insert(*k, (value(*v), None));
                        }
                        None => {
                            b.delete(&key(*k));
                            self.model.remove(k);
                        }
                    }
                }
                self.store().apply(&b).unwrap();
            }
            Step::Expire(k, ttl) => {
                let live = self.live(*k).is_some();
                let changed = self
                    .store()
                    .expire(&key(*k), Duration::from_millis(*ttl))
                    .unwrap();
                prop_assert_eq!(changed, live);
                if live {
                    self.model.get_mut(k).unwrap().1 = Some(now + ttl);
                }
            }
            Step::Persist(k) => {
                let live = self.live(*k).is_some();
                prop_assert_eq!(self.store().persist(&key(*k)).unwrap(), live);
                if live {
                    self.model.get_mut(k).unwrap().1 = None;
                }
            }
            Step::Clear => {
                self.store().clear().unwrap();
                self.model.clear();
            }
            Step::SetWith(k, v, cond, exp, ttl, get) => {
                let st = self.store();
                let live = self.live(*k).cloned();
                let version = st.info(&key(*k)).unwrap().map(|i| i.version);
                let cur_value = live.clone().unwrap_or_default();
                let mut o = SetOptions::new();
                let holds = match cond {
                    0 => true,
                    1 => {
                        o = o.if_absent();
                        live.is_none()
                    }
                    2 => {
                        o = o.if_present();
                        live.is_some()
                    }
                    3 => {
                        o = o.if_version(version.unwrap_or(0));
                        live.is_some()
                    }
                    4 => {
                        o = o.if_version(version.unwrap_or(0) + 1_000_000);
                        false
                    }
                    _ => {
                        o = o.if_value(&cur_value);
                        live.is_some()
                    }
                };
                let new_exp = match exp {
                    0 => None,
                    1 => {
                        o = o.keep_ttl();
                        live.as_ref().and_then(|_| self.model[k].1)
                    }
                    _ => {
                        o = o.ttl(Duration::from_millis(*ttl));
                        Some(now + ttl)
                    }
                };
                if *get {
                    o = o.get();
                }
                let out = st.set_with(&key(*k), &value(*v), &o).unwrap();
                prop_assert_eq!(out.written, holds);
                prop_assert_eq!(out.previous.as_deref(), live.as_deref().filter(|_| *get));
                if holds {
                    self.model.insert(*k, (value(*v), new_exp));
                }
            }
            Step::DeleteIf(k, current) => {
                let live = self.live(*k).is_some();
                let version = self
                    .store()
                    .info(&key(*k))
                    .unwrap()
                    .map_or(0, |i| i.version);
                let v = if *current { version } else { version + 1 };
                let deleted = self
                    .store()
                    .delete_if(&key(*k), Condition::Version(v))
                    .unwrap();
                prop_assert_eq!(deleted, live && *current);
                if deleted {
                    self.model.remove(k);
                }
            }
            Step::Incr(k, d) => {
                let live = self.live(*k).cloned();
                let old = match &live {
                    None => Some(0i64),
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .filter(|s| !(s.starts_with('+') || s.len() > 1 && s.starts_with('0')))
                        .and_then(|s| s.parse::<i64>().ok())
                        .filter(|_| v.as_slice() != b"-0"),
                };
                let got = self.store().incr(&key(*k), *d);
                match old {
                    None => prop_assert!(
                        matches!(got, Err(Error::Core(CoreError::NotAnInteger))),
                        "{:?}",
                        got
                    ),
                    Some(old) => match old.checked_add(*d) {
                        None => prop_assert!(
                            matches!(got, Err(Error::Core(CoreError::Overflow))),
                            "{:?}",
                            got
                        ),
                        Some(new) => {
                            prop_assert_eq!(got.unwrap(), new);
                            let exp = live.as_ref().and_then(|_| self.model[k].1);
                            self.model.insert(*k, (new.to_string().into_bytes(), exp));
                        }
                    },
                }
            }
            Step::IncrFloat(k, d) => {
                let live = self.live(*k).cloned();
                let old = match &live {
                    None => Some(0.0f64),
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .filter(|s| {
                            s.bytes()
                                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
                        })
                        .and_then(|s| s.parse::<f64>().ok())
                        // Digits beyond f64's range are not a finite number: refused.
                        .filter(|f| f.is_finite()),
                };
                let got = self.store().incr_float(&key(*k), f64::from(*d));
                match old {
                    None => prop_assert!(got.is_err(), "{:?}", got),
                    Some(old) => {
                        let new = old + f64::from(*d);
                        let new = if new == 0.0 { 0.0 } else { new };
                        prop_assert_eq!(got.unwrap(), new);
                        let exp = live.as_ref().and_then(|_| self.model[k].1);
                        self.model.insert(*k, (new.to_string().into_bytes(), exp));
                    }
                }
            }
            Step::Append(k, v) => {
                let mut new = self.live(*k).cloned().unwrap_or_default();
                let exp = self.live(*k).and_then(|_| self.model[k].1);
                new.extend_from_slice(&value(*v));
                let len = self.store().append(&key(*k), &value(*v)).unwrap();
                prop_assert_eq!(len, new.len());
                self.model.insert(*k, (new, exp));
            }
            Step::UpdateWith(k, what, v) => {
                let live = self.live(*k).cloned();
                let exp = live.as_ref().and_then(|_| self.model[k].1);
                let seen = std::cell::RefCell::new(None);
                let after = self
                    .store()
                    .update(&key(*k), |cur| {
                        *seen.borrow_mut() = Some(cur.map(<[u8]>::to_vec));
                        match what {
                            0 => Update::Set(value(*v)),
                            1 => Update::Delete,
                            _ => Update::Keep,
                        }
                    })
                    .unwrap();
                prop_assert_eq!(seen.into_inner(), Some(live.clone()), "the closure saw");
                match what {
                    0 => {
                        let want = value(*v);
                        prop_assert_eq!(after.as_deref(), Some(want.as_slice()));
                        self.model.insert(*k, (value(*v), exp));
                    }
                    1 => {
                        prop_assert!(after.is_none());
                        self.model.remove(k);
                    }
                    _ => prop_assert_eq!(after.as_deref(), live.as_deref()),
                }
            }
            Step::ExpireIf(k, ttl, when) => {
                let live = self.live(*k).is_some();
                let at = (*ttl > 0).then(|| now + ttl);
                let cur = live.then(|| self.model[k].1).flatten();
                let later = |a: Option<u64>, b: Option<u64>| match (a, b) {
                    (None, _) => b.is_some(),
                    (Some(_), None) => false,
                    (Some(a), Some(b)) => a > b,
                };
                let (w, holds) = match when {
                    0 => (ExpireIf::Always, true),
                    1 => (ExpireIf::NoTtl, cur.is_none()),
                    2 => (ExpireIf::HasTtl, cur.is_some()),
                    3 => (ExpireIf::Later, later(at, cur)),
                    _ => (ExpireIf::Earlier, later(cur, at)),
                };
                let changed = self
                    .store()
                    .expire_if(&key(*k), at.map(Timestamp::from_millis), w)
                    .unwrap();
                prop_assert_eq!(changed, live && holds);
                if changed {
                    self.model.get_mut(k).unwrap().1 = at;
                }
            }
            Step::SetManyIfAbsent(a, b, v) => {
                let none = self.live(*a).is_none() && self.live(*b).is_none();
                let (ka, kb) = (key(*a), key(*b));
                let done = self
                    .store()
                    .update_many(&[&ka, &kb], |cur| {
                        cur.iter().all(Option::is_none).then(|| {
                            let mut batch = Batch::new();
                            batch.put(&ka, &value(*v)).put(&kb, &value(*v));
                            batch
                        })
                    })
                    .unwrap();
                prop_assert_eq!(done, none);
                if none {
                    self.model.insert(*a, (value(*v), None));
                    self.model.insert(*b, (value(*v), None));
                }
            }
            Step::Advance(ms) => {
                self.clock.advance(Duration::from_millis(*ms));
                // Expired entries are gone from the model's point of view.
                let now = self.now();
                self.model.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
            }
            Step::Snapshot => {
                self.store().snapshot().unwrap();
            }
            Step::Compact => {
                self.store().compact().unwrap();
            }
            Step::CloseReopen => {
                let before = self.infos();
                let accessed = self.accesses();
                self.store().close().unwrap();
                prop_assert!(matches!(
                    self.store().get(b"x"),
                    Err(kv_store::Error::Closed)
                ));
                self.store = None;
                self.open();
                prop_assert_eq!(self.infos(), before, "metadata after close + reopen");
                // The final snapshot keeps the access bookkeeping too.
                prop_assert_eq!(self.accesses(), accessed, "access after close + reopen");
            }
            Step::CrashReopen => {
                let before = self.infos();
                self.store().crash();
                self.store = None;
                // A power loss: only synced bytes survive. Under sync-every-write
                // every acknowledged write was synced.
                self.disk = self.disk.crash(CrashMode::DropUnsynced);
                self.open();
                prop_assert_eq!(self.infos(), before, "metadata after crash + reopen");
            }
        }
        self.check()
    }
}

/// 64 cases by default; `PROPTEST_CASES=5000` for a longer campaign (as the other model tests).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

fn run_steps(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut world = World::new();
    for s in steps {
        world.apply(s)?;
    }
    world.store().close().unwrap();
    Ok(())
}

/// Found by the model: replay dropped a key whose TTL had run out by the time of
/// recovery before replaying a later overwrite, so the overwrite got a new creation
/// time although the key was live when it was overwritten.
#[test]
fn regression_overwrite_of_a_key_expired_by_recovery_keeps_its_creation_time() {
    run_steps(&[
        Step::Set(2, 0),
        Step::Advance(1000),
        Step::SetTtl(2, 0, 1),
        Step::Set(2, 0),
        Step::Advance(1),
        Step::CrashReopen,
    ])
    .unwrap();
}

/// The same through a snapshot: the snapshot holds the entry with its short TTL,
/// the overwrite is in the log after it.
#[test]
fn regression_snapshot_entry_expired_by_recovery_still_anchors_a_later_overwrite() {
    run_steps(&[
        Step::Batch(vec![(0, Some(0))]),
        Step::Advance(1000),
        Step::SetTtl(0, 0, 1),
        Step::Snapshot,
        Step::Set(0, 0),
        Step::Advance(1),
        Step::CrashReopen,
    ])
    .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model_across_reopens_and_crashes(steps in prop::collection::vec(step(), 1..60)) {
        run_steps(&steps)?;
    }
}
