//! The JSON-lines entry format of `kv dump`, `kv scan --json` and `kv load`.
//!
//! One object per line: `{"key":"user:1","value":"Alice","expires_at_ms":1767225600000}`.
//! A key or value that is not UTF-8 is written as `key_hex` / `value_hex` (lowercase
//! hex) instead; `expires_at_ms` (absolute, ms since the Unix epoch) is left out for
//! entries that never expire.

use serde::Deserialize;
use serde_json::{Map, Value};

/// One entry of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at_ms: Option<u64>,
}

/// The fields as they appear in the JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    key: Option<String>,
    key_hex: Option<String>,
    value: Option<String>,
    value_hex: Option<String>,
    expires_at_ms: Option<u64>,
}

/// The JSON object for one entry.
pub(crate) fn encode(key: &[u8], value: &[u8], expires_at_ms: Option<u64>) -> Value {
    let mut obj = Map::new();
    put_bytes(&mut obj, "key", key);
    put_bytes(&mut obj, "value", value);
    if let Some(at) = expires_at_ms {
        obj.insert("expires_at_ms".to_owned(), Value::from(at));
    }
    Value::Object(obj)
}

/// Adds `bytes` as a string field `name`, or as `name_hex` if they are not UTF-8.
pub(crate) fn put_bytes(obj: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => obj.insert(name.to_owned(), Value::from(s)),
        Err(_) => obj.insert(format!("{name}_hex"), Value::from(hex(bytes))),
    };
}

/// Parses one line of the format.
pub(crate) fn decode(text: &str) -> Result<Line, String> {
    let raw: Raw = serde_json::from_str(text).map_err(|e| {
        // serde_json ends its message with "at line L column C"; the caller names the
        // input's line, and a JSON line is one line: only the column is news.
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        format!("invalid JSON entry (column {}): {message}", e.column())
    })?;
    let key = pick("key", raw.key, raw.key_hex)?;
    let value = pick("value", raw.value, raw.value_hex)?;
    Ok(Line {
        key,
        value,
        expires_at_ms: raw.expires_at_ms,
    })
}

fn pick(name: &str, text: Option<String>, hex: Option<String>) -> Result<Vec<u8>, String> {
    match (text, hex) {
        (Some(t), None) => Ok(t.into_bytes()),
        (None, Some(h)) => unhex(&h).map_err(|e| format!("`{name}_hex`: {e}")),
        (Some(_), Some(_)) => Err(format!("both `{name}` and `{name}_hex` given")),
        (None, None) => Err(format!("no `{name}` (or `{name}_hex`)")),
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses hex (either case).
pub(crate) fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_owned());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("`{}` is not a hex digit", c.escape_ascii())),
    };
    text.as_bytes()
        .chunks(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_and_binary_entries_round_trip() {
        let cases: [(&[u8], &[u8], Option<u64>); 4] = [
            (b"user:1", b"Alice", None),
            (b"\xff\x00key", b"v", Some(17)),
            (b"k", b"\x80\x81 binary \n", Some(u64::MAX)),
            ("ключ".as_bytes(), b"", None),
        ];
        for (key, value, at) in cases {
            let text = encode(key, value, at).to_string();
            assert!(!text.contains('\n'), "{text}");
            let line = decode(&text).unwrap();
            assert_eq!(
                (
                    line.key.as_slice(),
                    line.value.as_slice(),
                    line.expires_at_ms
                ),
                (key, value, at)
            );
        }
        assert_eq!(
            encode(b"a", b"\xfe", Some(5)).to_string(),
            r#"{"key":"a","value_hex":"fe","expires_at_ms":5}"#
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        #[test]
        fn any_bytes_round_trip_on_one_line(
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            at in proptest::option::of(proptest::prelude::any::<u64>()),
        ) {
            let text = encode(&key, &value, at).to_string();
            proptest::prop_assert!(!text.contains('\n'));
            let line = decode(&text).unwrap();
            proptest::prop_assert_eq!(line, Line { key, value, expires_at_ms: at });
        }
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for (text, says) in [
            ("{", "invalid JSON"),
            (r#"{"value":"v"}"#, "no `key`"),
            (r#"{"key":"k"}"#, "no `value`"),
            (r#"{"key":"k","key_hex":"6b","value":"v"}"#, "both"),
            (r#"{"key_hex":"6","value":"v"}"#, "odd"),
            (r#"{"key_hex":"zz","value":"v"}"#, "not a hex digit"),
            (r#"{"key":"k","value":"v","ttl":3}"#, "unknown field"),
            (r#"{"key":"k","value":"v","expires_at_ms":-1}"#, "invalid"),
        ] {
            let err = decode(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        // One line number only: the caller's.
        let err = decode("{\"key\":\"a\",\n").unwrap_err();
        assert!(!err.contains("line"), "{err}");
        assert_eq!(unhex("00FFaB").unwrap(), vec![0, 255, 0xab]);
        assert_eq!(hex(&[0, 255, 0xab]), "00ffab");
    }
}
