//! Arbitrary bytes as one framed record and as a record payload: decoding never
//! panics, and whatever decodes re-encodes to the same bytes
//! (`kv_wal::fuzzing::decode_record`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kv_wal::fuzzing::decode_record(data);
});
