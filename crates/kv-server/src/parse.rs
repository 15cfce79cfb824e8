//! The request parser: RESP multibulk requests and inline commands, read as Redis reads
//! them (`processMultibulkBuffer`, `processInlineBuffer`), with a bound on every size a
//! client controls.
//!
//! A request is `*<count>\r\n` followed by `count` bulk strings `$<len>\r\n<bytes>\r\n`,
//! or an inline line of space-separated words (what telnet and `redis-cli` piping
//! send). The parser keeps its place across reads: it takes each complete argument off
//! the front of the buffer as a [`Bytes`] (no copy), so a large request arriving in
//! many reads is never scanned twice, and at most one partial argument is buffered.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request, and longest `*<count>` or `$<len>` header line, in bytes
/// (Redis's `PROTO_INLINE_MAX_SIZE`).
pub(crate) const MAX_INLINE: usize = 64 * 1024;

/// Most arguments a client that still has to authenticate may send in one request,
/// and the longest bulk string it may send (as Redis 7).
const UNAUTHENTICATED_MAX_ARGS: i64 = 10;
const UNAUTHENTICATED_MAX_BULK: i64 = 16 * 1024;

/// Arguments preallocated for a request before any of them arrived: the count in the
/// header is the client's word, not yet backed by bytes.
const PREALLOCATED_ARGS: usize = 64;

/// The sizes a request may not exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Longest bulk string (one argument), in bytes.
    pub(crate) max_bulk: usize,
    /// Most arguments in one request (the multibulk count).
    pub(crate) max_args: usize,
    /// Most bytes of one request (all its arguments with their framing).
    pub(crate) max_request: usize,
}

/// Why a request cannot be read; the connection is closed after the reply
/// `-ERR Protocol error: …` (the [`Display`](fmt::Display) text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ProtocolError {
    /// The `*<count>` header is not an integer, or above the limit.
    InvalidMultibulkLength,
    /// More than 10 arguments before `AUTH`.
    UnauthenticatedMultibulkLength,
    /// The `$<len>` header is not an integer, negative, or above the limit.
    InvalidBulkLength,
    /// A bulk string over 16 KiB before `AUTH`.
    UnauthenticatedBulkLength,
    /// An argument of a multibulk request does not start with `$`.
    ExpectedBulk {
        /// The byte found instead.
        got: u8,
    },
    /// An inline request longer than [`MAX_INLINE`] without a newline.
    TooBigInline,
    /// A `*<count>` line longer than [`MAX_INLINE`] without `\r`.
    TooBigMultibulkCount,
    /// A `$<len>` line longer than [`MAX_INLINE`] without `\r`.
    TooBigBulkCount,
    /// An inline request with an unterminated quote, or a closing quote followed by
    /// something other than a space.
    UnbalancedQuotes,
    /// A request larger than [`Limits::max_request`].
    RequestTooLarge {
        /// The limit in force.
        limit: usize,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match self {
            Self::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            Self::UnauthenticatedMultibulkLength => f.write_str("unauthenticated multibulk length"),
            Self::InvalidBulkLength => f.write_str("invalid bulk length"),
            Self::UnauthenticatedBulkLength => f.write_str("unauthenticated bulk length"),
            Self::ExpectedBulk { got } => write!(f, "expected '$', got '{}'", printable(*got)),
            Self::TooBigInline => f.write_str("too big inline request"),
            Self::TooBigMultibulkCount => f.write_str("too big mbulk count string"),
            Self::TooBigBulkCount => f.write_str("too big bulk count string"),
            Self::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
            Self::RequestTooLarge { limit } => {
                write!(f, "request larger than the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The byte as Redis prints it in an error line (`\r` and `\n` become spaces; other
/// bytes outside ASCII are shown as `?`, so the reply stays one valid line of text).
fn printable(b: u8) -> char {
    match b {
        b'\r' | b'\n' => ' ',
        0x20..=0x7e => b as char,
        _ => '?',
    }
}

/// A streaming parser of client requests; one per connection.
///
/// A request stays in the buffer until it is complete: the parser remembers how far it
/// got (`pos`) and where the arguments found so far lie, then takes the whole request
/// off the buffer at once and hands out its arguments as slices of it.
#[derive(Debug)]
pub(crate) struct RequestParser {
    limits: Limits,
    /// Arguments the multibulk request being read still expects (0: between requests).
    remaining: usize,
    /// Bytes of the current request parsed so far (where parsing resumes).
    pos: usize,
    /// The arguments found so far, as byte ranges of the buffer.
    ranges: Vec<(usize, usize)>,
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            remaining: 0,
            pos: 0,
            ranges: Vec::new(),
        }
    }

    /// The next complete request at the front of `buf` (taken off it), `Ok(None)` when
    /// more bytes are needed (what was parsed so far is remembered), or the protocol
    /// error that ends the connection (nothing is taken off `buf`, so a later call
    /// finds the same error). Empty requests (`*0`, `*-1`, blank lines) are skipped.
    /// `authenticated` applies Redis's tighter limits to clients that have not yet
    /// passed `AUTH`.
    pub(crate) fn next(
        &mut self,
        buf: &mut BytesMut,
        authenticated: bool,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.remaining == 0 {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                if first != b'*' {
                    match inline(buf)? {
                        Inline::Incomplete => return Ok(None),
                        Inline::Blank => continue,
                        Inline::Args(args) => return Ok(Some(args)),
                    }
                }
                let Some((text, consumed)) = header_line(buf, ProtocolError::TooBigMultibulkCount)?
                else {
                    return Ok(None);
                };
                let count = parse_i64(&buf[1..text])
                    .filter(|&n| n <= self.limits.max_args.min(i32::MAX as usize) as i64)
                    .ok_or(ProtocolError::InvalidMultibulkLength)?;
                if count > UNAUTHENTICATED_MAX_ARGS && !authenticated {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                if count <= 0 {
                    buf.advance(consumed);
                    continue;
                }
                self.remaining = count as usize;
                self.ranges.clear();
                self.ranges.reserve(self.remaining.min(PREALLOCATED_ARGS));
                self.pos = consumed;
            }
            while self.remaining > 0 {
                let rest = &buf[self.pos..];
                let Some(&first) = rest.first() else {
                    return Ok(None);
                };
                if first != b'$' {
                    return Err(ProtocolError::ExpectedBulk { got: first });
                }
                let Some((text, consumed)) = header_line(rest, ProtocolError::TooBigBulkCount)?
                else {
                    return Ok(None);
                };
                let len = parse_i64(&rest[1..text])
                    .filter(|&n| n >= 0 && n as u64 <= self.limits.max_bulk as u64)
                    .ok_or(ProtocolError::InvalidBulkLength)?;
                if len > UNAUTHENTICATED_MAX_BULK && !authenticated {
                    return Err(ProtocolError::UnauthenticatedBulkLength);
                }
                let len = len as usize;
                let need = consumed + len + 2;
                if self.pos.saturating_add(need) > self.limits.max_request {
                    return Err(ProtocolError::RequestTooLarge {
                        limit: self.limits.max_request,
                    });
                }
                if rest.len() < need {
                    // Room for the whole argument now (bounded by `max_bulk`), so the
                    // buffer grows once instead of doubling its way there.
                    let missing = need - rest.len();
                    buf.reserve(missing);
                    return Ok(None);
                }
                let start = self.pos + consumed;
                self.ranges.push((start, start + len));
                // As Redis, the two bytes after the data are skipped unchecked.
                self.pos += need;
                self.remaining -= 1;
            }
            let request = buf.split_to(self.pos).freeze();
            self.pos = 0;
            return Ok(Some(
                self.ranges
                    .drain(..)
                    .map(|(from, to)| request.slice(from..to))
                    .collect(),
            ));
        }
    }
}

/// Finds the end of a `*<count>` or `$<len>` header at the front of `buf`: the index of
/// its `\r` and the bytes to consume (through the byte after `\r`, which Redis skips
/// unchecked). `None` if incomplete; `too_big` if no `\r` within [`MAX_INLINE`] bytes.
fn header_line(
    buf: &[u8],
    too_big: ProtocolError,
) -> Result<Option<(usize, usize)>, ProtocolError> {
    match buf.iter().position(|&b| b == b'\r') {
        None if buf.len() > MAX_INLINE => Err(too_big),
        None => Ok(None),
        Some(cr) if cr + 2 > buf.len() => Ok(None),
        Some(cr) => Ok(Some((cr, cr + 2))),
    }
}

enum Inline {
    Incomplete,
    Blank,
    Args(Vec<Bytes>),
}

/// An inline request: one line, split into words as Redis's `sdssplitargs` does.
fn inline(buf: &mut BytesMut) -> Result<Inline, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_INLINE {
            Err(ProtocolError::TooBigInline)
        } else {
            Ok(Inline::Incomplete)
        };
    };
    let mut line = &buf[..nl];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    let args = split_args(line)?;
    buf.advance(nl + 1);
    Ok(if args.is_empty() {
        Inline::Blank
    } else {
        Inline::Args(args.into_iter().map(Bytes::from).collect())
    })
}

/// Splits an inline line into arguments: words separated by spaces; `"..."` with the
/// escapes `\n \r \t \b \a \\ \" \xHH`; `'...'` with `\'`. A closing quote must be
/// followed by a space or the end of the line. A NUL byte ends the line, as in Redis
/// (which splits a C string).
pub(crate) fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while at(i).is_some_and(is_c_space) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(i);
            if in_double {
                match c {
                    None => return Err(ProtocolError::UnbalancedQuotes),
                    Some(b'\\')
                        if at(i + 1) == Some(b'x')
                            && at(i + 2).is_some_and(|h| h.is_ascii_hexdigit())
                            && at(i + 3).is_some_and(|h| h.is_ascii_hexdigit()) =>
                    {
                        current.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                        i += 3;
                    }
                    Some(b'\\') if at(i + 1).is_some() => {
                        i += 1;
                        current.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if at(i + 1).is_some_and(|n| !is_c_space(n)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else if in_single {
                match c {
                    None => return Err(ProtocolError::UnbalancedQuotes),
                    Some(b'\\') if at(i + 1) == Some(b'\'') => {
                        i += 1;
                        current.push(b'\'');
                    }
                    Some(b'\'') => {
                        if at(i + 1).is_some_and(|n| !is_c_space(n)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => current.push(other),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

/// C's `isspace`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Parses a decimal integer exactly as Redis's `string2ll` does, which every integer
/// argument and length header goes through: an optional `-`, no `+`, no leading zeros
/// (but `0` itself), no spaces, at most 20 characters, within `i64`.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_bulk: 1024,
        max_args: 100,
        max_request: 4096,
    };

    /// Feeds `input` to a fresh parser in chunks of `chunk` bytes; every request, or
    /// the error that stopped it.
    fn parse_chunked(input: &[u8], chunk: usize) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
        let mut p = RequestParser::new(LIMITS);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match p.next(&mut buf, true) {
                    Ok(Some(args)) => out.push(args.iter().map(|a| a.to_vec()).collect()),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    fn parse(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
        parse_chunked(input, input.len())
    }

    fn words(ws: &[&str]) -> Vec<Vec<u8>> {
        ws.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_and_inline_requests_in_one_pipeline() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\n*0\r\n*-1\r\necho 'a b'\r\n";
        let (reqs, err) = parse(input);
        assert_eq!(err, None);
        assert_eq!(
            reqs,
            vec![
                words(&["GET", "k"]),
                words(&["PING"]),
                words(&["echo", "a b"])
            ]
        );
        for chunk in 1..input.len() {
            assert_eq!(
                parse_chunked(input, chunk),
                (reqs.clone(), None),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn binary_bulk_strings_keep_every_byte() {
        let (reqs, err) = parse(b"*2\r\n$4\r\na\r\n\0\r\n$0\r\n\r\n");
        assert_eq!(err, None);
        assert_eq!(reqs, vec![vec![b"a\r\n\0".to_vec(), Vec::new()]]);
    }

    #[test]
    fn header_errors_are_worded_as_redis_words_them() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"*a\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*+2\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*2 \r\n", ProtocolError::InvalidMultibulkLength),
            (b"*101\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*1\r\nx\r\n", ProtocolError::ExpectedBulk { got: b'x' }),
            (b"*1\r\n:1\r\n", ProtocolError::ExpectedBulk { got: b':' }),
            (b"*1\r\n$-5\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n$04\r\nping\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n$ 4\r\nping\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n$1025\r\n", ProtocolError::InvalidBulkLength),
            (b"set \"a b\r\n", ProtocolError::UnbalancedQuotes),
            (b"ping \"a\"b\r\n", ProtocolError::UnbalancedQuotes),
            (b"ping 'a\r\n", ProtocolError::UnbalancedQuotes),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse(input).1,
                Some(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            ProtocolError::ExpectedBulk { got: b'\r' }.to_string(),
            "Protocol error: expected '$', got ' '"
        );
    }

    #[test]
    fn long_lines_without_terminator_are_refused() {
        let mut input = vec![b'x'; MAX_INLINE + 1];
        assert_eq!(parse(&input).1, Some(ProtocolError::TooBigInline));
        input = b"*1".to_vec();
        input.resize(MAX_INLINE + 10, b'0');
        assert_eq!(parse(&input).1, Some(ProtocolError::TooBigMultibulkCount));
        input = b"*1\r\n$1".to_vec();
        input.resize(MAX_INLINE + 10, b'1');
        assert_eq!(parse(&input).1, Some(ProtocolError::TooBigBulkCount));
        // Below the limit it is merely incomplete.
        assert_eq!(parse(&[b'x'; 100]), (Vec::new(), None));
    }

    #[test]
    fn a_request_over_the_size_limit_is_refused_before_it_is_buffered() {
        let mut input = b"*5\r\n".to_vec();
        for _ in 0..5 {
            input.extend_from_slice(b"$1000\r\n");
            input.extend_from_slice(&[b'v'; 1000]);
            input.extend_from_slice(b"\r\n");
        }
        assert_eq!(
            parse(&input).1,
            Some(ProtocolError::RequestTooLarge { limit: 4096 })
        );
    }

    #[test]
    fn unauthenticated_clients_get_redis_tighter_limits() {
        let mut p = RequestParser::new(Limits {
            max_bulk: 1 << 20,
            ..LIMITS
        });
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            p.next(&mut buf, false),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        let mut p = RequestParser::new(Limits {
            max_bulk: 1 << 20,
            ..LIMITS
        });
        let mut buf = BytesMut::from(&b"*1\r\n$16385\r\n"[..]);
        assert_eq!(
            p.next(&mut buf, false),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
    }

    #[test]
    fn inline_splitting_follows_sdssplitargs() {
        let ok = |line: &str, want: &[&[u8]]| {
            let got = split_args(line.as_bytes()).unwrap();
            let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
            assert_eq!(got, want, "{line:?}");
        };
        ok("  set  k   v ", &[b"set", b"k", b"v"]);
        ok(r#"set "a\x41\n\"" 'it\'s'"#, &[b"set", b"aA\n\"", b"it's"]);
        ok(r#"a"b c""#, &[b"ab c"]);
        ok(r#""\xzz""#, &[b"xzz"]);
        ok("\x0bx", &[b"x"]);
        ok("a\0b c", &[b"a"]);
        ok("", &[]);
        ok(r#""""#, &[b""]);
    }

    #[test]
    fn integers_parse_as_string2ll() {
        for (s, want) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("-0", None),
            ("01", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("-", None),
            ("1.5", None),
            ("123456789012345678901", None),
        ] {
            assert_eq!(parse_i64(s.as_bytes()), want, "{s:?}");
        }
    }
}
