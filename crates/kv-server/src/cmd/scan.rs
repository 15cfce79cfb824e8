//! `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`, on kv-store's scan
//! ([`Store::scan`](kv_store::Store::scan)): a full iteration (from cursor 0 back to
//! 0) returns every key present for the whole of it, as Redis guarantees, and `COUNT`
//! is a hint (a call returns more keys when a shard of the store is large).

use bytes::Bytes;

use super::{int_arg, is, reply_with, syntax_error, Ctx};
use crate::glob::Pattern;
use crate::reply::Reply;

/// Redis's default `COUNT`.
const DEFAULT_COUNT: u64 = 10;

pub(super) fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return Reply::err("invalid cursor");
    };
    let mut count = DEFAULT_COUNT;
    let mut pattern = None;
    let mut strings_only = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i >= 2;
        if is(&args[i], "count") && more {
            match int_arg(&args[i + 1]) {
                Ok(n) if n >= 1 => count = n as u64,
                Ok(_) => return syntax_error(),
                Err(r) => return r,
            }
        } else if is(&args[i], "match") && more {
            let p = Pattern::new(&args[i + 1]);
            pattern = (!p.matches_everything()).then_some(p);
        } else if is(&args[i], "type") && more {
            strings_only = Some(is(&args[i + 1], "string"));
        } else {
            return syntax_error();
        }
        i += 2;
    }
    reply_with(
        ctx.store().scan(cursor, count as usize),
        |(next, entries)| {
            let keys = if strings_only == Some(false) {
                Vec::new()
            } else {
                entries
                    .iter()
                    .map(|e| e.key())
                    .filter(|k| pattern.as_ref().is_none_or(|p| p.matches(k)))
                    .map(|k| Reply::bulk(Bytes::copy_from_slice(k)))
                    .collect()
            };
            reply(next, keys)
        },
    )
}

fn reply(cursor: u64, keys: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk(cursor.to_string()), Reply::Array(keys)])
}

/// A cursor as Redis's `strtoul` reads it: decimal digits, optionally signed (a
/// negative one wraps), no leading space, nothing after.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (negative, digits) = match arg {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative { n.wrapping_neg() } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_as_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"+12"), Some(12));
        assert_eq!(parse_cursor(b"007"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1x"), None);
        assert_eq!(parse_cursor(b""), None);
        assert_eq!(parse_cursor(b"99999999999999999999999"), None);
    }
}
