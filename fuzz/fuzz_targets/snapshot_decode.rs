//! Arbitrary bytes decoded as a snapshot file never panic nor allocate beyond their
//! size (libFuzzer's `-rss_limit_mb` and `-malloc_limit_mb` catch the latter); a file
//! that decodes accounts for every entry its header announces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(summary) = kv_snapshot::fuzzing::decode_bytes(data) {
        assert_eq!(
            summary.entries + summary.expired_skipped,
            summary.header.entry_count
        );
    }
});
