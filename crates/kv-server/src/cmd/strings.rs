//! String commands: GET, SET, SETEX, PSETEX, GETDEL, MGET, MSET, STRLEN, GETRANGE.

use bytes::Bytes;
use kv_store::{Batch, Timestamp};

use super::{int_arg, is, reply_with, store_error, syntax_error, wrong_arity, Ctx};
use crate::reply::Reply;

pub(super) fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    reply_with(ctx.store().get(&args[1]), Reply::value)
}

pub(super) fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    reply_with(ctx.store().remove(&args[1]), Reply::value)
}

pub(super) fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let mut values = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        match ctx.store().get(key) {
            Ok(v) => values.push(Reply::value(v)),
            Err(e) => return store_error(e),
        }
    }
    Reply::Array(values)
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

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT tms | KEEPTTL]`.
pub(super) fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let opts = match SetOptions::parse(&args[3..]) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let expiry = match opts.expire {
        Some((arg, unit, absolute)) => match expire_millis(ctx, "set", arg, unit, absolute) {
            Ok(at) => Some(at),
            Err(r) => return r,
        },
        None => None,
    };
    // Each of these needs a decision under the key's lock (kv's atomic update API),
    // not a read followed by a write.
    for (on, name) in [
        (opts.nx, "NX"),
        (opts.xx, "XX"),
        (opts.get, "GET"),
        (opts.keepttl, "KEEPTTL"),
    ] {
        if on {
            return Reply::err(format!("option {name} of 'set' is not supported yet"));
        }
    }
    put(ctx, &args[1], &args[2], expiry)
}

/// `SETEX key seconds value`.
pub(super) fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match expire_millis(ctx, "setex", &args[2], Unit::Seconds, false) {
        Ok(at) => put(ctx, &args[1], &args[3], Some(at)),
        Err(r) => r,
    }
}

/// `PSETEX key milliseconds value`.
pub(super) fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match expire_millis(ctx, "psetex", &args[2], Unit::Millis, false) {
        Ok(at) => put(ctx, &args[1], &args[3], Some(at)),
        Err(r) => r,
    }
}

/// Sets `key`, expiring at `at` (ms since the epoch): an instant already past leaves
/// the key absent, as Redis's lazy expiry would show it.
fn put(ctx: &mut Ctx<'_>, key: &[u8], value: &[u8], at: Option<u64>) -> Reply {
    let store = ctx.store();
    let r = match at {
        None => store.set(key, value),
        Some(at) if at <= ctx.shared.now_ms() => store.delete(key).map(|_| ()),
        Some(at) => store.set_with_expiry(key, value, Some(Timestamp::from_millis(at))),
    };
    reply_with(r, |()| Reply::OK)
}

/// `MSET key value [key value ...]`: one batch, so one log record, all or nothing.
pub(super) fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return wrong_arity("mset");
    }
    let mut batch = Batch::new();
    for pair in args[1..].chunks_exact(2) {
        batch.put(&pair[0], &pair[1]);
    }
    reply_with(ctx.store().apply(&batch), |()| Reply::OK)
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

/// The options of `SET`, accepted in the combinations Redis accepts
/// (`parseExtendedStringArgumentsOrReply`): anything else is a syntax error.
#[derive(Debug, Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    /// The argument, its unit, and whether it is absolute.
    expire: Option<(&'a Bytes, Unit, bool)>,
}

impl<'a> SetOptions<'a> {
    fn parse(opts: &'a [Bytes]) -> Result<Self, Reply> {
        let mut o = SetOptions::default();
        // Which expiry option was given last (Redis lets the same one repeat).
        let mut kind: Option<&str> = None;
        let mut j = 0;
        while j < opts.len() {
            let opt = &opts[j];
            let next = opts.get(j + 1);
            let expiry_ok = |this: &str| !o.keepttl && kind.is_none_or(|k| k == this);
            if is(opt, "nx") && !o.xx {
                o.nx = true;
            } else if is(opt, "xx") && !o.nx {
                o.xx = true;
            } else if is(opt, "get") {
                o.get = true;
            } else if is(opt, "keepttl") && kind.is_none() {
                o.keepttl = true;
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

    fn parse(words: &[&str]) -> Result<SetOptions<'static>, ()> {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let args: &'static [Bytes] = Box::leak(args.into_boxed_slice());
        SetOptions::parse(args).map_err(|_| ())
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
