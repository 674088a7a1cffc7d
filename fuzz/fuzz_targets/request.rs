//! A request frame (without its 4-byte size prefix), as the broker receives
//! it: decoding must return a request or an error, never panic, and never
//! allocate past what the frame's size allows (the tests check the bound
//! when they replay the corpus).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = logsync_broker::codec::decode_request(bytes::Bytes::copy_from_slice(data));
});
