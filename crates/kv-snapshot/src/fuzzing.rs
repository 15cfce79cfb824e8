//! The fuzzing entry point: decode arbitrary bytes as a snapshot, which must never
//! panic nor allocate beyond the input's size.

use std::io::BufReader;
use std::path::Path;

use crate::decoder::{Decoder, ReadSummary};
use crate::error::Error;

/// Decodes `data` as a complete snapshot file, reading every entry (at `now` = 0, so
/// none is skipped as expired) and verifying the footer. Returns the counts, or the
/// error a file with these bytes would give.
pub fn decode_bytes(data: &[u8]) -> Result<ReadSummary, Error> {
    // A small read buffer that varies with the input, so that records are decoded both
    // in place and across refills.
    decode_with_buffer(data, 8 + data.len() % 61)
}

fn decode_with_buffer(data: &[u8], buffer: usize) -> Result<ReadSummary, Error> {
    let path = Path::new("<fuzz input>");
    let src = BufReader::with_capacity(buffer, data);
    Decoder::open(src, data.len() as u64, path, 0)?.verify()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the committed fuzz corpus on stable: every input decodes or errors,
    /// without panicking; it holds a valid file of every format version.
    #[test]
    fn the_committed_corpus_replays() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/snapshot_decode");
        let mut seen = 0;
        let mut valid = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(&dir).expect("the committed corpus exists") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            if let Ok(summary) = decode_bytes(&data) {
                valid.insert(summary.header.format_version);
            }
            seen += 1;
        }
        assert!(seen >= 8, "corpus has only {seen} inputs");
        let versions: Vec<u16> = (1..=crate::format::FORMAT_VERSION).collect();
        assert!(
            valid.iter().copied().eq(versions.iter().copied()),
            "valid snapshots in the corpus are of versions {valid:?}, not {versions:?}"
        );
    }

    /// The read buffer's size never changes the outcome: records decoded in place and
    /// records gathered across refills read the same.
    #[test]
    fn the_buffer_size_does_not_change_the_outcome() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for name in [
            "valid-v1.snap",
            "corrupt-v1.snap",
            "valid-v2.snap",
            "corrupt-v2.snap",
        ] {
            let data = std::fs::read(dir.join(name)).unwrap();
            for cut in [data.len(), data.len() - 1, data.len() / 2] {
                let input = &data[..cut];
                let reference = format!("{:?}", decode_with_buffer(input, 1 << 20));
                for buffer in (1..80).chain([255, 256, 4096]) {
                    let got = format!("{:?}", decode_with_buffer(input, buffer));
                    assert_eq!(got, reference, "{name} cut at {cut}, buffer {buffer}");
                }
            }
        }
        for name in ["valid-v1.snap", "valid-v2.snap"] {
            let valid = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(decode_with_buffer(&valid, 1).unwrap().entries, 3, "{name}");
        }
    }
}
