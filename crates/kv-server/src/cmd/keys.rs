//! Key commands: DEL, UNLINK, EXISTS, TYPE, KEYS, RANDOMKEY, RENAME, RENAMENX.

use bytes::Bytes;
use kv_store::Batch;

use super::{no_such_key, reply_with, store_error, Ctx};
use crate::glob::Pattern;
use crate::reply::Reply;

/// The arguments as the key slices the store takes.
fn slices(keys: &[Bytes]) -> Vec<&[u8]> {
    keys.iter().map(|k| &k[..]).collect()
}

/// `DEL key [key ...]` (and `UNLINK`, the same here: nothing is freed in the
/// background): how many of the keys existed. Several keys go as one batch (one log
/// record, never seen half done).
pub(super) fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let store = ctx.store();
    let deleted = match &args[1..] {
        [key] => store.delete(key).map(usize::from),
        keys => store.delete_many(&slices(keys)),
    };
    reply_with(deleted, |n| Reply::Int(n as i64))
}

/// `EXISTS key [key ...]`: how many of the keys exist (a key named twice counts
/// twice), read as one.
pub(super) fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let store = ctx.store();
    let n = match &args[1..] {
        [key] => store.exists(key).map(usize::from),
        keys => store.count_existing(&slices(keys)),
    };
    reply_with(n, |n| Reply::Int(n as i64))
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

/// `RANDOMKEY`: a key chosen at random (roughly uniformly), or null when the store is
/// empty.
pub(super) fn randomkey(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    reply_with(ctx.store().random_entry(), |e| {
        e.map_or(Reply::Null, |e| {
            Reply::bulk(Bytes::copy_from_slice(e.key()))
        })
    })
}

pub(super) fn rename(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    rename_key(ctx, &args[1], &args[2], false)
}

pub(super) fn renamenx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    rename_key(ctx, &args[1], &args[2], true)
}

/// `RENAME from to` (`OK`) and `RENAMENX from to` (1, or 0 if `to` exists): the value
/// and its TTL move from one key to the other in one batch (one log record), decided
/// with both keys' locks held. A missing `from` is `-ERR no such key`.
fn rename_key(ctx: &Ctx<'_>, from: &[u8], to: &[u8], nx: bool) -> Reply {
    let done = |moved: bool| match (nx, moved) {
        (false, _) => Reply::OK,
        (true, moved) => Reply::Int(moved.into()),
    };
    let store = ctx.store();
    if from == to {
        return match store.exists(from) {
            Ok(true) => done(false),
            Ok(false) => no_such_key(),
            Err(e) => store_error(e),
        };
    }
    // What the decision found: no source (None), or whether it moved the key.
    let mut outcome = None;
    let written = store.update_many(&[from, to], |current| {
        let source = current[0].as_ref()?;
        if nx && current[1].is_some() {
            outcome = Some(false);
            return None;
        }
        outcome = Some(true);
        let mut batch = Batch::new();
        let value = source.value();
        match source.expires_at() {
            Some(at) => batch.put_with_expiry(to, &value, at),
            None => batch.put(to, &value),
        };
        batch.delete(from);
        Some(batch)
    });
    match (written, outcome) {
        (Err(e), _) => store_error(e),
        (Ok(_), None) => no_such_key(),
        (Ok(_), Some(moved)) => done(moved),
    }
}
