//! Bytes as a produced or stored record batch. The target runs the checks
//! of the produce path and of readers twice: on the input as it is, and with
//! the CRC of the first batch made right, so that mutations reach the record
//! decoder and the decompressors instead of stopping at the CRC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logsync_storage::batch::fuzz_one_batch_input;

fuzz_target!(|data: &[u8]| {
    fuzz_one_batch_input(data);
});
