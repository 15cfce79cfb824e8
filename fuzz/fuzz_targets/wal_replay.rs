//! Arbitrary bytes as segment files: recovery never panics, hangs or over-allocates,
//! and what it accepts is a prefix of valid records (`kv_wal::fuzzing::replay_bytes`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kv_wal::fuzzing::replay_bytes(data);
});
