//! `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
//!
//! Redis guarantees that a full iteration (from cursor 0 back to 0) returns every key
//! present for the whole of it, possibly more than once, and says `COUNT` is a hint.
//! kv-store has no positional cursor over its map yet, so the cursor names a slice of
//! the key space by hash instead: cursor 0 fixes a number of parts `P` (about the store
//! size over `COUNT`, at most [`MAX_PARTS`]) and each call returns the keys whose hash
//! modulo `P` is the part the cursor names. A key's part never changes, so every key
//! present throughout is returned exactly once, whatever is written meanwhile. Each
//! call walks the whole store (O(n), as `KEYS` does), so a full iteration costs at most
//! `MAX_PARTS` walks; a call returns about n / P keys, more than `COUNT` on a large store.

use bytes::Bytes;

use super::{int_arg, is, store_error, syntax_error, Ctx};
use crate::glob::Pattern;
use crate::reply::Reply;

/// Most parts one iteration is cut into (the most store walks it costs).
pub(crate) const MAX_PARTS: u64 = 64;

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
    let store = ctx.store();
    let (parts, part) = if cursor == 0 {
        let len = match store.len() {
            Ok(n) => n as u64,
            Err(e) => return store_error(e),
        };
        (len.div_ceil(count).clamp(1, MAX_PARTS), 0)
    } else {
        (cursor >> 32, cursor & 0xffff_ffff)
    };
    if parts == 0 || parts > MAX_PARTS || part >= parts {
        // Not a cursor this server gave out: nothing more to return.
        return reply(0, Vec::new());
    }
    let iter = match store.iter() {
        Ok(it) => it,
        Err(e) => return store_error(e),
    };
    let keys = if strings_only == Some(false) {
        Vec::new()
    } else {
        iter.filter(|(k, _)| part_of(k, parts) == part)
            .filter(|(k, _)| pattern.as_ref().is_none_or(|p| p.matches(k)))
            .map(|(k, _)| Reply::bulk(k))
            .collect()
    };
    let next = if part + 1 == parts {
        0
    } else {
        (parts << 32) | (part + 1)
    };
    reply(next, keys)
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

/// The part of the key space `key` belongs to: FNV-1a, a hash fixed for good (so a
/// cursor handed out stays meaningful), modulo `parts`.
fn part_of(key: &[u8], parts: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % parts
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

    #[test]
    fn every_key_has_exactly_one_part() {
        for parts in 1..=MAX_PARTS {
            for k in 0..100u32 {
                assert!(part_of(&k.to_le_bytes(), parts) < parts);
            }
        }
    }
}
