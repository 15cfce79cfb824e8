//! Damaged snapshots: truncation anywhere, bit flips, wrong magic, a future version,
//! huge length and count fields. Each is an error naming the file, never a panic.

mod common;

use std::path::Path;

use kv_snapshot::{Corruption, Error, Part, SnapshotOptions, SnapshotReader, Snapshots};
use proptest::prelude::*;

/// Reads the whole file the way a loader would; the error if any.
fn read_all(path: &Path) -> Result<u64, Error> {
    let mut reader = SnapshotReader::open(path, 0)?;
    let mut n = 0;
    for e in reader.by_ref() {
        e?;
        n += 1;
    }
    assert!(reader.is_verified());
    Ok(n)
}

fn assert_refused(path: &Path, what: &str) -> Error {
    let err = match read_all(path) {
        Ok(n) => panic!("{what}: read {n} entries from a damaged file"),
        Err(e) => e,
    };
    assert!(err.is_unreadable_snapshot(), "{what}: {err:?}");
    assert_eq!(err.path(), Some(path), "{what}: the error names the file");
    err
}

fn small_snapshot(dir: &Path) -> Vec<u8> {
    let entries: Vec<_> = (0..6)
        .map(|i| common::entry(i, (i * 7) as usize, (i % 2 == 0).then_some(10_000)))
        .collect();
    std::fs::read(common::write(dir, 1, 0, &entries)).unwrap()
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = small_snapshot(dir.path());
    let path = dir.path().join("cut.snap");
    for cut in 0..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = assert_refused(&path, &format!("cut at {cut}"));
        assert!(
            matches!(
                err,
                Error::Corrupt {
                    what: Corruption::Truncated { .. }
                        | Corruption::LengthOutOfBounds { .. }
                        | Corruption::BadMagic { .. },
                    ..
                }
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn truncation_at_every_record_and_chunk_boundary_of_a_larger_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<_> = (0..600).map(|i| common::entry(i, 100, None)).collect();
    let full = common::write(dir.path(), 1, 0, &entries);
    let bytes = std::fs::read(&full).unwrap();
    assert_eq!(read_all(&full).unwrap(), 600);
    let mut cuts = common::record_offsets(&bytes);
    // The writer flushes 4096-byte chunks (plus at most one record): cut around those
    // multiples too, and at the footer.
    cuts.extend((1..bytes.len() / 4096 + 1).flat_map(|k| [k * 4096 - 1, k * 4096, k * 4096 + 1]));
    cuts.push(bytes.len() - 1);
    let path = dir.path().join("cut.snap");
    for cut in cuts.into_iter().filter(|&c| c < bytes.len()) {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert_refused(&path, &format!("cut at {cut}"));
    }
}

#[test]
fn every_single_bit_flip_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = small_snapshot(dir.path());
    let path = dir.path().join("flip.snap");
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&path, &b).unwrap();
        // A flip in the version field reads as an unsupported version; anything else
        // is corruption.
        assert_refused(&path, &format!("bit {bit}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_damage_is_an_error(cut in any::<prop::sample::Index>(), flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = small_snapshot(dir.path());
        let path = dir.path().join("bad.snap");
        // Random truncation.
        let at = cut.index(bytes.len());
        std::fs::write(&path, &bytes[..at]).unwrap();
        prop_assert!(read_all(&path).is_err());
        // Random byte damage (xor with a non-zero mask, so each touched byte changes).
        let mut b = bytes.clone();
        let mut touched = std::collections::BTreeMap::new();
        for (i, mask) in flips {
            *touched.entry(i.index(b.len())).or_insert(0u8) ^= mask;
        }
        let changed = touched.values().any(|m| *m != 0);
        for (i, mask) in touched {
            b[i] ^= mask;
        }
        std::fs::write(&path, &b).unwrap();
        prop_assert_eq!(read_all(&path).is_err(), changed);
    }
}

#[test]
fn a_wrong_magic_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = small_snapshot(dir.path());
    bytes[..8].copy_from_slice(b"NOTASNAP");
    let path = dir.path().join("magic.snap");
    std::fs::write(&path, &bytes).unwrap();
    let err = assert_refused(&path, "magic");
    assert!(matches!(
        err,
        Error::Corrupt { offset: 0, what: Corruption::BadMagic { part: Part::Header, found, .. }, .. } if &found == b"NOTASNAP"
    ));
}

#[test]
fn a_future_version_and_an_unknown_codec_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = small_snapshot(dir.path());
    let path = dir.path().join("v3.snap");
    std::fs::write(&path, common::with_header(&bytes, 8, &3u16.to_le_bytes())).unwrap();
    let err = assert_refused(&path, "version");
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 3,
                supported: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("v3.snap"));

    std::fs::write(&path, common::with_header(&bytes, 10, &7u16.to_le_bytes())).unwrap();
    let err = assert_refused(&path, "codec");
    assert!(matches!(err, Error::UnknownCodec { found: 7, .. }), "{err}");
}

#[test]
fn huge_length_and_count_fields_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = small_snapshot(dir.path());
    let path = dir.path().join("huge.snap");

    // A record length far past the end of the file.
    let mut b = bytes.clone();
    b[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    let err = assert_refused(&path, "record length");
    assert!(
        matches!(err, Error::Corrupt { offset: 48, what: Corruption::LengthOutOfBounds { len, max }, .. } if len == u64::from(u32::MAX) && max < bytes.len() as u64),
        "{err}"
    );

    // An entry count the file cannot hold, with a valid header checksum.
    std::fs::write(
        &path,
        common::with_header(&bytes, 32, &u64::MAX.to_le_bytes()),
    )
    .unwrap();
    let err = assert_refused(&path, "entry count");
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: Corruption::Truncated {
                    part: Part::Record,
                    ..
                },
                ..
            }
        ),
        "{err}"
    );

    // A key length inside a payload whose record checksum was fixed up: the codec's
    // size limit (the payload's length) refuses it.
    let b = common::with_lying_key_length(&bytes, u64::MAX / 2);
    std::fs::write(&path, &b).unwrap();
    let err = assert_refused(&path, "key length");
    assert!(
        matches!(
            err,
            Error::Corrupt {
                offset: 48,
                what: Corruption::Decode { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn bytes_after_the_footer_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = small_snapshot(dir.path());
    bytes.push(0);
    let path = dir.path().join("trailing.snap");
    std::fs::write(&path, &bytes).unwrap();
    let err = assert_refused(&path, "trailing");
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: Corruption::TrailingBytes { count: 1 },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn load_falls_back_to_the_previous_snapshot_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<_> = (0..5).map(|i| common::entry(i, 20, None)).collect();
    let new: Vec<_> = (0..9).map(|i| common::entry(i, 30, None)).collect();
    common::write(dir.path(), 10, 0, &old);
    let newest = common::write(dir.path(), 20, 0, &new);
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 30;
    bytes[last] ^= 1;
    std::fs::write(&newest, &bytes).unwrap();

    let snaps = Snapshots::open(dir.path(), SnapshotOptions::default()).unwrap();
    let loaded = snaps.load_latest(0).unwrap().unwrap();
    assert_eq!(loaded.header.sequence.get(), 10);
    assert_eq!(loaded.entries, old);
    assert_eq!(loaded.rejected.len(), 1);
    assert_eq!(loaded.rejected[0].path(), Some(newest.as_path()));
    assert!(loaded.rejected[0]
        .to_string()
        .contains("snapshot-00000000000000000020.snap"));

    // With no usable snapshot at all, the newest one's error comes back.
    std::fs::write(snaps.path_for(10.into()), b"garbage").unwrap();
    let err = snaps.load_latest(0).unwrap_err();
    assert_eq!(err.path(), Some(newest.as_path()));
}
