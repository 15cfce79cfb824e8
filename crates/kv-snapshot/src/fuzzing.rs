//! The fuzzing entry point: decode arbitrary bytes as a snapshot, which must never
//! panic nor allocate beyond the input's size.

use std::path::Path;

use crate::decoder::{Decoder, ReadSummary};
use crate::error::Error;

/// Decodes `data` as a complete snapshot file, reading every entry (at `now` = 0, so
/// none is skipped as expired) and verifying the footer. Returns the counts, or the
/// error a file with these bytes would give.
pub fn decode_bytes(data: &[u8]) -> Result<ReadSummary, Error> {
    let mut decoder = Decoder::open(data, data.len() as u64, Path::new("<fuzz input>"), 0)?;
    decoder.verify()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the committed fuzz corpus on stable: every input decodes or errors,
    /// without panicking.
    #[test]
    fn the_committed_corpus_replays() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/snapshot_decode");
        let mut seen = 0;
        let mut valid = 0;
        for entry in std::fs::read_dir(&dir).expect("the committed corpus exists") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            if decode_bytes(&data).is_ok() {
                valid += 1;
            }
            seen += 1;
        }
        assert!(seen >= 8, "corpus has only {seen} inputs");
        assert!(valid >= 1, "corpus has no valid snapshot to mutate from");
    }
}
