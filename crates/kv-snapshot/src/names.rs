//! File names: `snapshot-<20-digit sequence>.snap` and its temporary `….snap.tmp`.

use crate::sequence::SequenceNumber;

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".snap.tmp";
const DIGITS: usize = 20;

/// The final name of the snapshot covering `seq`.
pub(crate) fn snapshot_name(seq: SequenceNumber) -> String {
    format!("{PREFIX}{:020}{SUFFIX}", seq.get())
}

/// The temporary name the snapshot covering `seq` is written under.
pub(crate) fn temp_name(seq: SequenceNumber) -> String {
    format!("{PREFIX}{:020}{TEMP_SUFFIX}", seq.get())
}

/// The sequence number of a valid snapshot name; `None` for anything else.
pub(crate) fn parse_snapshot_name(name: &str) -> Option<SequenceNumber> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(SequenceNumber::new)
}

/// Whether `name` is a temporary snapshot file (left over by a crash or a failed write).
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with(PREFIX) && name.ends_with(TEMP_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        for raw in [0, 1, 42, u64::MAX] {
            let seq = SequenceNumber::new(raw);
            assert_eq!(parse_snapshot_name(&snapshot_name(seq)), Some(seq));
            assert!(is_temp_name(&temp_name(seq)));
            assert_eq!(parse_snapshot_name(&temp_name(seq)), None);
        }
        assert_eq!(
            snapshot_name(SequenceNumber::new(7)),
            "snapshot-00000000000000000007.snap"
        );
        for stranger in [
            "snapshot-7.snap",
            "snapshot-0000000000000000000a.snap",
            "snapshot-99999999999999999999.snap", // beyond u64
            "snapshot-+0000000000000000007.snap",
            "wal-00000000000000000007.log",
            "snapshot-00000000000000000007.snapx",
        ] {
            assert_eq!(parse_snapshot_name(stranger), None, "{stranger}");
        }
    }
}
