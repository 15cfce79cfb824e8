//! Arbitrary bytes as a client's request stream, arriving in pieces: the parser never
//! panics, gives the same requests however the bytes arrive, buffers at most one
//! request's limit, and reads back what the reference codec encodes
//! (`kv_server::fuzzing::parse_requests`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kv_server::fuzzing::parse_requests(data);
});
