//! String commands: GET, SET, SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX, MGET,
//! MSET, MSETNX, APPEND, STRLEN, GETRANGE.
//!
//! Each write that depends on what is there (`SET … NX|XX|GET|KEEPTTL`, `SETNX`,
//! `GETSET`, `GETEX`, `APPEND`, `MSETNX`) is one atomic update of the store: decided
//! under the key's lock and logged as one record, never a read followed by a write.

use bytes::Bytes;
use kv_store::{Batch, Expiry, SetOptions, Timestamp};

use super::{int_arg, is, reply_with, store_error, syntax_error, wrong_arity, Ctx};
use crate::reply::Reply;

pub(super) fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    reply_with(ctx.store().get(&args[1]), Reply::value)
}

pub(super) fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    reply_with(ctx.store().remove(&args[1]), Reply::value)
}

/// `MGET key [key ...]`: several keys read as one (no `MSET` seen half done).
pub(super) fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let store = ctx.store();
    let values = match &args[1..] {
        [key] => store.get(key).map(|v| vec![v]),
        keys => store.get_many(&keys.iter().map(|k| &k[..]).collect::<Vec<_>>()),
    };
    reply_with(values, |values| {
        Reply::Array(values.into_iter().map(Reply::value).collect())
    })
}

pub(super) fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    reply_with(ctx.store().get(&args[1]), |v| {
        Reply::Int(v.map_or(0, |v| v.len() as i64))
    })
}

/// `GETRANGE key start end`, with Redis's index arithmetic (negative counts from the
/// end, both ends inclusive, clamped to the string).
pub(super) fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let (start, end) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let value = match ctx.store().get(&args[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::bulk_static(b""),
        Err(e) => return store_error(e),
    };
    match substring_range(value.len(), start, end) {
        Some((from, to)) => Reply::bulk(Bytes::copy_from_slice(&value[from..to])),
        None => Reply::bulk_static(b""),
    }
}

/// The byte range `GETRANGE` returns for a string of `len` bytes, `None` for empty.
fn substring_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len_i = len as i64;
    let start = if start < 0 {
        len_i.saturating_add(start)
    } else {
        start
    }
    .max(0);
    let end = if end < 0 {
        len_i.saturating_add(end)
    } else {
        end
    }
    .max(0);
    let end = end.min(len_i - 1);
    if len == 0 || start > end {
        return None;
    }
    Some((start as usize, end as usize + 1))
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT tms | KEEPTTL]`. An
/// expiry already past stores the key expired, as Redis does (every read finds it
/// absent).
pub(super) fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let opts = match SetArgs::parse(&args[3..], Command::Set) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let expiry = match expiry_of(ctx, "set", &opts) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let store = ctx.store();
    let (key, value) = (&args[1], &args[2]);
    if !(opts.nx || opts.xx || opts.get || opts.keepttl) {
        let r = match expiry {
            Expiry::At(at) => store.set_with_expiry(key, value, Some(at)),
            _ => store.set(key, value),
        };
        return reply_with(r, |()| Reply::OK);
    }
    let mut set = SetOptions::new().expiry(expiry);
    if opts.nx {
        set = set.if_absent();
    } else if opts.xx {
        set = set.if_present();
    }
    if opts.get {
        set = set.get();
    }
    reply_with(store.set_with(key, value, &set), |done| {
        if opts.get {
            Reply::value(done.previous)
        } else if done.written {
            Reply::OK
        } else {
            Reply::Null
        }
    })
}

/// The expiry the options of `SET` or `GETEX` give: `KEEPTTL`, `PERSIST`, an instant
/// (from `EX`, `PX`, `EXAT`, `PXAT`), or none given (`Never` for `SET`, `Keep` for
/// `GETEX`).
fn expiry_of(ctx: &Ctx<'_>, command: &str, opts: &SetArgs<'_>) -> Result<Expiry, Reply> {
    Ok(match opts.expire {
        Some((arg, unit, absolute)) => Expiry::At(Timestamp::from_millis(expire_millis(
            ctx, command, arg, unit, absolute,
        )?)),
        None if opts.keepttl => Expiry::Keep,
        None if opts.persist => Expiry::Never,
        None if opts.command == Command::GetEx => Expiry::Keep,
        None => Expiry::Never,
    })
}

/// `SETNX key value`: 1 if it set the key (absent before), else 0.
pub(super) fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let set = SetOptions::new().if_absent();
    reply_with(ctx.store().set_with(&args[1], &args[2], &set), |done| {
        Reply::Int(done.written.into())
    })
}

/// `GETSET key value`: sets the key (removing its TTL), returns the value it had.
pub(super) fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let set = SetOptions::new().get();
    reply_with(ctx.store().set_with(&args[1], &args[2], &set), |done| {
        Reply::value(done.previous)
    })
}

/// `GETEX key [EX s | PX ms | EXAT t | PXAT tms | PERSIST]`: the value, with the
/// key's expiry changed as asked (a time already past deletes the key).
pub(super) fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let opts = match SetArgs::parse(&args[2..], Command::GetEx) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match expiry_of(ctx, "getex", &opts) {
        Ok(expiry) => reply_with(ctx.store().get_and_expire(&args[1], expiry), Reply::value),
        Err(r) => r,
    }
}

/// `APPEND key value`: the length after appending (the key is created if absent and
/// keeps its TTL).
pub(super) fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    reply_with(ctx.store().append(&args[1], &args[2]), |len| {
        Reply::Int(len as i64)
    })
}

/// `SETEX key seconds value`.
pub(super) fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match expire_millis(ctx, "setex", &args[2], Unit::Seconds, false) {
        Ok(at) => put(ctx, &args[1], &args[3], at),
        Err(r) => r,
    }
}

/// `PSETEX key milliseconds value`.
pub(super) fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match expire_millis(ctx, "psetex", &args[2], Unit::Millis, false) {
        Ok(at) => put(ctx, &args[1], &args[3], at),
        Err(r) => r,
    }
}

/// Sets `key`, expiring at `at` (ms since the epoch).
fn put(ctx: &mut Ctx<'_>, key: &[u8], value: &[u8], at: u64) -> Reply {
    let r = ctx
        .store()
        .set_with_expiry(key, value, Some(Timestamp::from_millis(at)));
    reply_with(r, |()| Reply::OK)
}

/// `MSET key value [key value ...]`: one batch, so one log record, all or nothing.
pub(super) fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return wrong_arity("mset");
    }
    reply_with(ctx.store().apply(&puts(args)), |()| Reply::OK)
}

/// `MSETNX key value [key value ...]`: all of them if none of the keys exists (1),
/// else none (0); decided with every key's lock held and written as one batch.
pub(super) fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return wrong_arity("msetnx");
    }
    let keys: Vec<&[u8]> = args[1..].iter().step_by(2).map(|k| &k[..]).collect();
    let written = ctx.store().update_many(&keys, |current| {
        current.iter().all(Option::is_none).then(|| puts(args))
    });
    reply_with(written, |yes| Reply::Int(yes.into()))
}

/// The batch of puts of `MSET`'s and `MSETNX`'s key-value pairs.
fn puts(args: &[Bytes]) -> Batch {
    let mut batch = Batch::new();
    for pair in args[1..].chunks_exact(2) {
        batch.put(&pair[0], &pair[1]);
    }
    batch
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Unit {
    Seconds,
    Millis,
}

/// The absolute expiry (ms since the epoch) an `EX`/`PX` (relative) or `EXAT`/`PXAT`
/// (`absolute`) argument asks for, with Redis's checks and error
/// (`getExpireMillisecondsOrReply`): not an integer; zero, negative, or overflowing.
fn expire_millis(
    ctx: &Ctx<'_>,
    command: &str,
    arg: &[u8],
    unit: Unit,
    absolute: bool,
) -> Result<u64, Reply> {
    let n = int_arg(arg)?;
    let invalid = || Reply::err(format!("invalid expire time in '{command}' command"));
    if n <= 0 || (unit == Unit::Seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if unit == Unit::Seconds { n * 1000 } else { n };
    if !absolute {
        ms = ms
            .checked_add(ctx.shared.now_ms() as i64)
            .ok_or_else(invalid)?;
    }
    Ok(ms as u64)
}

/// Which command's options [`SetArgs`] parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    /// `SET`: `NX`, `XX`, `GET`, `KEEPTTL` and the expiries.
    Set,
    /// `GETEX`: `PERSIST` and the expiries.
    GetEx,
}

/// The options of `SET` and `GETEX`, accepted in the combinations Redis accepts
/// (`parseExtendedStringArgumentsOrReply`): anything else is a syntax error.
#[derive(Debug)]
struct SetArgs<'a> {
    command: Command,
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// The argument, its unit, and whether it is absolute.
    expire: Option<(&'a Bytes, Unit, bool)>,
}

impl<'a> SetArgs<'a> {
    fn parse(opts: &'a [Bytes], command: Command) -> Result<Self, Reply> {
        let mut o = SetArgs {
            command,
            nx: false,
            xx: false,
            get: false,
            keepttl: false,
            persist: false,
            expire: None,
        };
        let set = command == Command::Set;
        // Which expiry option was given last (Redis lets the same one repeat).
        let mut kind: Option<&str> = None;
        let mut j = 0;
        while j < opts.len() {
            let opt = &opts[j];
            let next = opts.get(j + 1);
            let expiry_ok = |this: &str| !o.keepttl && !o.persist && kind.is_none_or(|k| k == this);
            if set && is(opt, "nx") && !o.xx {
                o.nx = true;
            } else if set && is(opt, "xx") && !o.nx {
                o.xx = true;
            } else if set && is(opt, "get") {
                o.get = true;
            } else if set && is(opt, "keepttl") && kind.is_none() {
                o.keepttl = true;
            } else if !set && is(opt, "persist") && kind.is_none() {
                o.persist = true;
            } else if let (Some(this), Some(next)) = (expiry_word(opt), next) {
                if !expiry_ok(this) {
                    return Err(syntax_error());
                }
                let (unit, absolute) = match this {
                    "ex" => (Unit::Seconds, false),
                    "px" => (Unit::Millis, false),
                    "exat" => (Unit::Seconds, true),
                    _ => (Unit::Millis, true),
                };
                kind = Some(this);
                o.expire = Some((next, unit, absolute));
                j += 1;
            } else {
                return Err(syntax_error());
            }
            j += 1;
        }
        Ok(o)
    }
}

fn expiry_word(opt: &[u8]) -> Option<&'static str> {
    ["ex", "px", "exat", "pxat"]
        .into_iter()
        .find(|w| is(opt, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getrange_index_arithmetic_matches_redis() {
        // "Hello World" is 11 bytes.
        let r = |s, e| substring_range(11, s, e);
        assert_eq!(r(0, 3), Some((0, 4)));
        assert_eq!(r(-3, -1), Some((8, 11)));
        assert_eq!(r(0, -1), Some((0, 11)));
        assert_eq!(r(10, 100), Some((10, 11)));
        assert_eq!(r(5, 3), None);
        assert_eq!(r(-1, -5), None);
        assert_eq!(r(-100, 2), Some((0, 3)));
        assert_eq!(r(20, 30), None);
        assert_eq!(r(i64::MIN, i64::MAX), Some((0, 11)));
        assert_eq!(substring_range(0, 0, -1), None);
    }

    fn parse_as(words: &[&str], command: Command) -> Result<SetArgs<'static>, ()> {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let args: &'static [Bytes] = Box::leak(args.into_boxed_slice());
        SetArgs::parse(args, command).map_err(|_| ())
    }

    fn parse(words: &[&str]) -> Result<SetArgs<'static>, ()> {
        parse_as(words, Command::Set)
    }

    #[test]
    fn getex_options_combine_as_in_redis() {
        let getex = |w: &[&str]| parse_as(w, Command::GetEx);
        assert!(getex(&[]).is_ok());
        assert!(getex(&["PERSIST"]).unwrap().persist);
        assert!(getex(&["ex", "10", "EX", "20"]).is_ok());
        for bad in [
            &["EX", "10", "PX", "10"][..],
            &["PERSIST", "EX", "10"],
            &["EX", "10", "PERSIST"],
            &["KEEPTTL"],
            &["NX"],
            &["GET"],
            &["EX"],
            &["FOO"],
        ] {
            assert!(getex(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&["PERSIST"]).is_err(), "SET has no PERSIST");
    }

    #[test]
    fn set_options_combine_as_in_redis() {
        assert!(parse(&["EX", "10"]).is_ok());
        assert!(
            parse(&["ex", "10", "EX", "20"]).is_ok(),
            "the same option may repeat"
        );
        assert!(parse(&["EX", "10", "PX", "20"]).is_err());
        assert!(parse(&["EX", "10", "KEEPTTL"]).is_err());
        assert!(parse(&["KEEPTTL", "EX", "10"]).is_err());
        assert!(parse(&["NX", "XX"]).is_err());
        assert!(parse(&["NX", "NX", "GET"]).is_ok());
        assert!(parse(&["EX"]).is_err(), "an expiry needs its argument");
        assert!(parse(&["FOO"]).is_err());
        let o = parse(&["pxat", "5"]).unwrap();
        assert_eq!(
            o.expire.map(|(a, u, abs)| (a.to_vec(), u, abs)),
            Some((b"5".to_vec(), Unit::Millis, true))
        );
    }
}
