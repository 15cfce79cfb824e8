//! Key commands: DEL, UNLINK, EXISTS, TYPE, KEYS, RANDOMKEY.

use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use kv_store::Store;

use super::{reply_with, store_error, Ctx};
use crate::glob::Pattern;
use crate::reply::Reply;

/// `DEL key [key ...]` (and `UNLINK`, the same here: nothing is freed in the
/// background): how many of the keys existed.
pub(super) fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    count(ctx, &args[1..], Store::delete)
}

/// `EXISTS key [key ...]`: how many of the keys exist (a key named twice counts twice).
pub(super) fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    count(ctx, &args[1..], Store::exists)
}

/// How many of `keys` `op` says yes to, one key at a time; the first store error ends
/// it.
fn count(ctx: &Ctx<'_>, keys: &[Bytes], op: fn(&Store, &[u8]) -> kv_store::Result<bool>) -> Reply {
    let mut yes = 0;
    for key in keys {
        match op(ctx.store(), key) {
            Ok(true) => yes += 1,
            Ok(false) => {}
            Err(e) => return store_error(e),
        }
    }
    Reply::Int(yes)
}

/// `TYPE key`: every value is a string.
pub(super) fn type_(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    reply_with(ctx.store().exists(&args[1]), |yes| {
        Reply::Status(if yes { "string" } else { "none" })
    })
}

/// `KEYS pattern`.
pub(super) fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let pattern = Pattern::new(&args[1]);
    let all = pattern.matches_everything();
    let iter = match ctx.store().iter() {
        Ok(it) => it,
        Err(e) => return store_error(e),
    };
    Reply::Array(
        iter.filter(|(k, _)| all || pattern.matches(k))
            .map(|(k, _)| Reply::bulk(k))
            .collect(),
    )
}

/// `RANDOMKEY`: a key chosen uniformly, or null when the store is empty.
///
/// kv-store offers no random pick yet, so this walks the store to a random position:
/// O(n), where Redis's is O(1).
pub(super) fn randomkey(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    let store = ctx.store();
    let len = match store.len() {
        Ok(0) => return Reply::Null,
        Ok(n) => n,
        Err(e) => return store_error(e),
    };
    let iter = match store.iter() {
        Ok(it) => it,
        Err(e) => return store_error(e),
    };
    // `len` may count expired entries the walk skips: wrap around to the first key.
    let pick = random_below(len as u64) as usize;
    let mut first = None;
    for (i, (key, _)) in iter.enumerate() {
        if i == pick {
            return Reply::bulk(key);
        }
        if first.is_none() {
            first = Some(key);
        }
    }
    first.map_or(Reply::Null, Reply::bulk)
}

/// A random number below `n` (not for cryptography), from the standard library's
/// per-process random hash keys and a counter.
fn random_below(n: u64) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() % n.max(1)
}
