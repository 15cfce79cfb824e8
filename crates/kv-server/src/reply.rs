//! Replies and their encoding in RESP2 or RESP3.
//!
//! A command builds a [`Reply`] (values are the store's cheap handles, not copies), the
//! connection checks its [`encoded_len`](Reply::encoded_len) against the output limit,
//! then [`encode`](Reply::encode)s it into the output buffer: the one copy of the value.

use bytes::{BufMut, Bytes, BytesMut};
use kv_store::Value;

/// The protocol a connection speaks (`HELLO 2` / `HELLO 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Protocol {
    /// RESP2, every connection's start.
    #[default]
    Resp2,
    /// RESP3: nulls, maps and verbatim strings get their own types.
    Resp3,
}

/// The bytes of a bulk string.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// A value held by the store.
    Value(Value),
    /// Bytes of a request (echoed) or built for the reply.
    Bytes(Bytes),
    /// A constant.
    Static(&'static [u8]),
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Value(v) => v.as_bytes(),
            Self::Bytes(b) => b,
            Self::Static(s) => s,
        }
    }
}

/// One reply.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// `+text`: a status line (`OK`, `PONG`, a type name).
    Status(&'static str),
    /// `-CODE message`: the full text after `-`, without line breaks.
    Error(Bytes),
    /// `:n`.
    Int(i64),
    /// `$len` and the bytes.
    Bulk(Payload),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// `*n` and the elements.
    Array(Vec<Reply>),
    /// An unordered collection: an array in RESP2, `~n` in RESP3.
    Set(Vec<Reply>),
    /// Pairs: a flat array in RESP2, `%n` in RESP3.
    Map(Vec<(Reply, Reply)>),
    /// Text for a person (`INFO`): a bulk string in RESP2, `=len\r\ntxt:` in RESP3.
    Verbatim(String),
}

impl Reply {
    /// `+OK`.
    pub(crate) const OK: Reply = Reply::Status("OK");

    /// `-ERR message`.
    pub(crate) fn err(message: impl AsRef<str>) -> Self {
        Self::error_code("ERR", message.as_ref().as_bytes())
    }

    /// `-CODE message`; `\r` and `\n` in the message become spaces, as Redis does, so the
    /// reply stays one line.
    pub(crate) fn error_code(code: &str, message: &[u8]) -> Self {
        let mut text = Vec::with_capacity(code.len() + 1 + message.len());
        text.extend_from_slice(code.as_bytes());
        text.push(b' ');
        text.extend(message.iter().map(|&b| match b {
            b'\r' | b'\n' => b' ',
            b => b,
        }));
        Self::Error(text.into())
    }

    /// A bulk string of the given bytes.
    pub(crate) fn bulk(bytes: impl Into<Bytes>) -> Self {
        Self::Bulk(Payload::Bytes(bytes.into()))
    }

    /// A bulk string of a constant.
    pub(crate) fn bulk_static(bytes: &'static [u8]) -> Self {
        Self::Bulk(Payload::Static(bytes))
    }

    /// A value of the store, or null.
    pub(crate) fn value(v: Option<Value>) -> Self {
        match v {
            Some(v) => Self::Bulk(Payload::Value(v)),
            None => Self::Null,
        }
    }

    /// The bytes [`encode`](Self::encode) writes.
    pub(crate) fn encoded_len(&self, proto: Protocol) -> usize {
        match self {
            Self::Status(s) => 3 + s.len(),
            Self::Error(e) => 3 + e.len(),
            Self::Int(n) => 3 + decimal_len(*n),
            Self::Bulk(p) => bulk_len(p.as_ref().len()),
            Self::Null => match proto {
                Protocol::Resp2 => 5,
                Protocol::Resp3 => 3,
            },
            Self::Array(items) | Self::Set(items) => {
                header_len(items.len()) + items.iter().map(|r| r.encoded_len(proto)).sum::<usize>()
            }
            Self::Map(pairs) => {
                let n = match proto {
                    Protocol::Resp2 => pairs.len() * 2,
                    Protocol::Resp3 => pairs.len(),
                };
                header_len(n)
                    + pairs
                        .iter()
                        .map(|(k, v)| k.encoded_len(proto) + v.encoded_len(proto))
                        .sum::<usize>()
            }
            Self::Verbatim(text) => match proto {
                Protocol::Resp2 => bulk_len(text.len()),
                Protocol::Resp3 => bulk_len(text.len() + 4),
            },
        }
    }

    /// Appends the reply's bytes to `out`.
    pub(crate) fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        match self {
            Self::Status(s) => line(out, b'+', s.as_bytes()),
            Self::Error(e) => line(out, b'-', e),
            Self::Int(n) => integer_line(out, b':', *n),
            Self::Bulk(p) => {
                let bytes = p.as_ref();
                integer_line(out, b'$', bytes.len() as i64);
                out.put_slice(bytes);
                out.put_slice(b"\r\n");
            }
            Self::Null => out.put_slice(match proto {
                Protocol::Resp2 => b"$-1\r\n",
                Protocol::Resp3 => b"_\r\n",
            }),
            Self::Array(items) | Self::Set(items) => {
                let kind = match (self, proto) {
                    (Self::Set(_), Protocol::Resp3) => b'~',
                    _ => b'*',
                };
                integer_line(out, kind, items.len() as i64);
                for item in items {
                    item.encode(proto, out);
                }
            }
            Self::Map(pairs) => {
                match proto {
                    Protocol::Resp2 => integer_line(out, b'*', pairs.len() as i64 * 2),
                    Protocol::Resp3 => integer_line(out, b'%', pairs.len() as i64),
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Self::Verbatim(text) => match proto {
                Protocol::Resp2 => {
                    integer_line(out, b'$', text.len() as i64);
                    out.put_slice(text.as_bytes());
                    out.put_slice(b"\r\n");
                }
                Protocol::Resp3 => {
                    integer_line(out, b'=', text.len() as i64 + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(text.as_bytes());
                    out.put_slice(b"\r\n");
                }
            },
        }
    }
}

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn integer_line(out: &mut BytesMut, kind: u8, n: i64) {
    out.put_u8(kind);
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
    out.put_slice(b"\r\n");
}

/// The length of `n` in decimal.
fn decimal_len(n: i64) -> usize {
    let digits = n
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1);
    digits + usize::from(n < 0)
}

fn header_len(n: usize) -> usize {
    3 + decimal_len(n as i64)
}

fn bulk_len(len: usize) -> usize {
    header_len(len) + len + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(r: &Reply, proto: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        r.encode(proto, &mut out);
        assert_eq!(out.len(), r.encoded_len(proto), "encoded_len of {r:?}");
        out.to_vec()
    }

    #[test]
    fn each_type_in_both_protocols() {
        use Protocol::{Resp2, Resp3};
        let cases: Vec<(Reply, &[u8], &[u8])> = vec![
            (Reply::OK, b"+OK\r\n", b"+OK\r\n"),
            (
                Reply::err("syntax error"),
                b"-ERR syntax error\r\n",
                b"-ERR syntax error\r\n",
            ),
            (Reply::Int(-42), b":-42\r\n", b":-42\r\n"),
            (
                Reply::bulk_static(b"a\r\nb"),
                b"$4\r\na\r\nb\r\n",
                b"$4\r\na\r\nb\r\n",
            ),
            (Reply::Null, b"$-1\r\n", b"_\r\n"),
            (
                Reply::Array(vec![Reply::Int(1), Reply::Null]),
                b"*2\r\n:1\r\n$-1\r\n",
                b"*2\r\n:1\r\n_\r\n",
            ),
            (
                Reply::Map(vec![(Reply::bulk_static(b"k"), Reply::Int(1))]),
                b"*2\r\n$1\r\nk\r\n:1\r\n",
                b"%1\r\n$1\r\nk\r\n:1\r\n",
            ),
            (
                Reply::Verbatim("a:1".into()),
                b"$3\r\na:1\r\n",
                b"=7\r\ntxt:a:1\r\n",
            ),
            (
                Reply::Set(vec![Reply::Status("x")]),
                b"*1\r\n+x\r\n",
                b"~1\r\n+x\r\n",
            ),
        ];
        for (reply, resp2, resp3) in cases {
            assert_eq!(encoded(&reply, Resp2), resp2, "{reply:?}");
            assert_eq!(encoded(&reply, Resp3), resp3, "{reply:?}");
        }
    }

    #[test]
    fn error_messages_stay_on_one_line() {
        let r = Reply::error_code("ERR", b"a\r\nb");
        assert_eq!(encoded(&r, Protocol::Resp2), b"-ERR a  b\r\n");
    }

    #[test]
    fn integers_encode_at_the_extremes_and_their_length_is_known() {
        let mut ns = vec![i64::MIN, i64::MIN + 1, i64::MAX, 0];
        for k in 0..19 {
            let p = 10i64.pow(k);
            ns.extend([p - 1, p, p + 1, -(p - 1), -p, -(p + 1)]);
        }
        for n in ns {
            let reply = Reply::Int(n);
            let bytes = encoded(&reply, Protocol::Resp2);
            assert_eq!(bytes, format!(":{n}\r\n").into_bytes(), "{n}");
            assert_eq!(reply.encoded_len(Protocol::Resp2), bytes.len(), "{n}");
        }
    }
}
