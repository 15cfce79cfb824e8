//! The request parser's properties, checked on arbitrary bytes (feature `fuzzing`, for
//! the cargo-fuzz target `resp_request`; this crate's tests replay the committed corpus
//! on stable).
//!
//! [`parse_requests`] panics (the fuzzer's signal) only when a property is broken; the
//! input itself may be anything.

use bytes::BytesMut;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::BytesFrame;

use crate::parse::{Limits, ProtocolError, RequestParser, MAX_INLINE};

/// Small limits, so that short inputs reach them.
const LIMITS: Limits = Limits {
    max_bulk: 64,
    max_args: 16,
    max_request: 512,
};

/// Limits a re-encoded request fits in: an inline argument may be as long as an
/// inline line, which no bulk length limit bounds.
const ROUND_TRIP: Limits = Limits {
    max_bulk: MAX_INLINE,
    max_args: MAX_INLINE,
    max_request: 4 * MAX_INLINE,
};

/// What one parse of a stream gave: the requests, then the error that stopped it.
type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

/// Parses `data[1..]` as a client's byte stream, arriving in pieces of `data[0] % 61 + 1`
/// bytes (bit 7 of `data[0]`: the client has authenticated), and checks:
///
/// - nothing panics;
/// - the requests and the error are the same as when the stream arrives in one piece;
/// - while a request is incomplete, the buffer holds at most one request's limit and
///   one header line, plus the last piece;
/// - every request parsed, encoded by the reference codec (`redis-protocol`) as an
///   array of bulk strings, parses back to the same arguments.
pub fn parse_requests(data: &[u8]) {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(control % 61) + 1;
    let authenticated = control & 0x80 != 0;
    let whole = parse(stream, stream.len().max(1), authenticated);
    let pieces = parse(stream, piece, authenticated);
    assert_eq!(whole, pieces, "the result depends on how the bytes arrive");
    for args in &whole.0 {
        let frame = BytesFrame::Array(
            args.iter()
                .map(|a| BytesFrame::BulkString(a.clone().into()))
                .collect(),
        );
        let mut encoded = BytesMut::new();
        extend_encode(&mut encoded, &frame, false).expect("the reference encoder accepts arrays");
        let (again, err) = parse_with(ROUND_TRIP, &encoded, encoded.len(), true);
        assert_eq!(
            err, None,
            "a request parsed once fails when re-encoded: {args:?}"
        );
        assert_eq!(
            again,
            vec![args.clone()],
            "the re-encoded request parses differently"
        );
    }
}

fn parse(stream: &[u8], piece: usize, authenticated: bool) -> Outcome {
    parse_with(LIMITS, stream, piece, authenticated)
}

fn parse_with(limits: Limits, stream: &[u8], piece: usize, authenticated: bool) -> Outcome {
    let mut parser = RequestParser::new(limits);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in stream.chunks(piece) {
        buf.extend_from_slice(chunk);
        loop {
            match parser.next(&mut buf, authenticated) {
                Ok(Some(args)) => requests.push(args.iter().map(|a| a.to_vec()).collect()),
                Ok(None) => {
                    let bound = limits.max_request + MAX_INLINE + piece;
                    assert!(
                        buf.len() <= bound,
                        "{} bytes buffered, bound {bound}",
                        buf.len()
                    );
                    break;
                }
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use super::*;

    /// Requests, written as multibulk or inline, with some bytes then overwritten.
    fn streams() -> impl Strategy<Value = Vec<u8>> {
        let arg = prop::collection::vec(any::<u8>(), 0..80);
        let request = (prop::collection::vec(arg, 1..6), any::<bool>());
        (
            any::<u8>(),
            prop::collection::vec(request, 1..6),
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        )
            .prop_map(|(control, requests, damage)| {
                let mut out = vec![control];
                for (args, inline) in requests {
                    if inline && args.iter().flatten().all(|b| b.is_ascii_alphanumeric()) {
                        let words: Vec<String> = args
                            .iter()
                            .map(|a| String::from_utf8_lossy(a).into_owned())
                            .collect();
                        out.extend_from_slice(words.join(" ").as_bytes());
                        out.extend_from_slice(b"\r\n");
                    } else {
                        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                        for a in args {
                            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                            out.extend_from_slice(&a);
                            out.extend_from_slice(b"\r\n");
                        }
                    }
                }
                for (at, byte) in damage {
                    let len = out.len();
                    out[1 + at % (len - 1).max(1)] = byte;
                }
                out
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_keep_the_properties(data in prop::collection::vec(any::<u8>(), 0..400)) {
            parse_requests(&data);
        }

        #[test]
        fn damaged_request_streams_keep_the_properties(data in streams()) {
            parse_requests(&data);
        }
    }

    fn corpus() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/resp_request")
    }

    /// Replays the committed fuzz corpus on stable.
    #[test]
    fn the_committed_corpus_replays() {
        let mut seen = 0;
        for entry in std::fs::read_dir(corpus()).expect("the committed corpus exists") {
            let path = entry.unwrap().path();
            parse_requests(&std::fs::read(&path).unwrap());
            seen += 1;
        }
        assert!(seen >= 10, "the corpus has only {seen} inputs");
    }

    #[test]
    fn seeds_cover_requests_errors_and_limits() {
        // The corpus seeds reach each kind of outcome.
        let mut kinds = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(corpus()).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let Some((&control, stream)) = data.split_first() else {
                continue;
            };
            let (reqs, err) = parse(stream, stream.len().max(1), control & 0x80 != 0);
            if !reqs.is_empty() {
                kinds.insert("requests".to_owned());
            }
            if let Some(e) = err {
                kinds.insert(
                    format!("{e:?}")
                        .split([' ', '{'])
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
        for want in [
            "requests",
            "InvalidMultibulkLength",
            "InvalidBulkLength",
            "ExpectedBulk",
            "UnbalancedQuotes",
            "RequestTooLarge",
            "UnauthenticatedMultibulkLength",
        ] {
            assert!(kinds.contains(want), "no seed reaches {want}: {kinds:?}");
        }
    }
}
