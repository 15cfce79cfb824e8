//! Counters: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT, each one atomic update of the
//! store (decided under the key's lock, logged as one record).

use bytes::Bytes;

use super::{int_arg, is_overflow, not_a_float, store_error, Ctx};
use crate::reply::Reply;

pub(super) fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    add(ctx, &args[1], 1)
}

pub(super) fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    add(ctx, &args[1], -1)
}

pub(super) fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match int_arg(&args[2]) {
        Ok(delta) => add(ctx, &args[1], delta),
        Err(r) => r,
    }
}

pub(super) fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match int_arg(&args[2]) {
        // Its negation does not fit.
        Ok(i64::MIN) => Reply::err("decrement would overflow"),
        Ok(delta) => add(ctx, &args[1], -delta),
        Err(r) => r,
    }
}

/// Adds `delta` to the integer at `key`: the new value, or Redis's errors (not an
/// integer, overflow), with nothing changed.
fn add(ctx: &Ctx<'_>, key: &[u8], delta: i64) -> Reply {
    match ctx.store().incr(key, delta) {
        Ok(n) => Reply::Int(n),
        Err(e) if is_overflow(&e) => Reply::err("increment or decrement would overflow"),
        Err(e) => store_error(e),
    }
}

/// `INCRBYFLOAT key increment`: the new value as the store keeps it (the shortest
/// decimal that reads back as the same `f64`; Redis computes in `long double` and
/// prints 17 decimals: `docs/redis-compat.md` says where the two differ).
pub(super) fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(delta) = parse_float(&args[2]) else {
        return not_a_float();
    };
    let store = ctx.store();
    let result = if delta.is_finite() {
        store.incr_float(key, delta)
    } else {
        Err(kv_store::Error::Core(kv_store::CoreError::Overflow))
    };
    match result {
        // kv-core keeps `new.to_string()` of the value it returns: the same bytes.
        Ok(n) => Reply::bulk(n.to_string()),
        Err(e)
            if is_overflow(&e)
                || matches!(e, kv_store::Error::Core(kv_store::CoreError::NotAFloat)) =>
        {
            // An infinite increment, an `inf` value (which kv-core refuses and Redis
            // reads) or a sum past `f64`: Redis finds the sum infinite and says so,
            // unless the value is no number at all. Only the words of the error
            // depend on this read; nothing was written.
            match store.get(key) {
                Ok(v) if v.as_deref().is_none_or(|v| parse_float(v).is_some()) => {
                    Reply::err("increment would produce NaN or Infinity")
                }
                Ok(_) => not_a_float(),
                Err(e) => store_error(e),
            }
        }
        Err(e) => store_error(e),
    }
}

/// A float as Redis's `string2ld` reads one with `strtold`, the whole string: an
/// optional sign, then `inf` or `infinity` (any case), or a decimal number (`1`,
/// `-.5`, `5.`, `1e3`); no spaces, no `nan`, shorter than 5120 bytes. Hexadecimal
/// floats, which `strtold` also reads, are refused, and a decimal beyond `f64` reads
/// as an infinity (a `long double` holds it).
fn parse_float(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || arg.len() >= 5 * 1024 {
        return None;
    }
    let text = std::str::from_utf8(arg).ok()?;
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // Rust's parser would also take `nan`, `inf` inside other words and `infinity`
    // after two signs: only these characters reach it.
    if !unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_strtold_reads_them() {
        for (text, want) in [
            ("1", 1.0),
            ("-.5", -0.5),
            ("5.", 5.0),
            ("+5", 5.0),
            ("1E3", 1000.0),
            ("2.0e-2", 0.02),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1e400", f64::INFINITY),
        ] {
            assert_eq!(parse_float(text.as_bytes()), Some(want), "{text}");
        }
        for bad in [
            "", " 1", "1 ", "nan", "-nan", "abc", "1e", "e5", ".", "--1", "1-2", "0x10", "+-inf",
            "infinit",
        ] {
            assert_eq!(parse_float(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_float(&vec![b'1'; 5120]), None);
        assert!(parse_float(&vec![b'1'; 5119]).is_some());
    }
}
