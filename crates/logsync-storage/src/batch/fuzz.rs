//! The record-batch fuzz target's body (`fuzz/fuzz_targets/record_batch.rs`),
//! here so that the tests replay the saved corpus through the same code on a
//! stable compiler.

use bytes::Bytes;

use super::{BATCH_HEADER_BYTES, Batch, crc32c, split_batches, validate_counting_keyless};

/// The decompression cap used by the target (the broker's default is 64 MiB;
/// a smaller cap keeps each run fast while still exercising the bound).
const MAX_DECOMPRESSED: usize = 1 << 20;

/// Runs every decoder of the produce and read paths over `data` as it is,
/// and again with the first batch's CRC made right. Panics only when two
/// decoders disagree (a bug); malformed input must give errors.
pub fn fuzz_one_batch_input(data: &[u8]) {
    check(data);
    if let Some(fixed) = with_crc_fixed(data) {
        check(&fixed);
    }
}

fn check(data: &[u8]) {
    let validated = validate_counting_keyless(data, MAX_DECOMPRESSED);
    let bytes = Bytes::copy_from_slice(data);
    let split = split_batches(&bytes);
    if let (Ok((header, keyless)), Ok(batches)) = (&validated, &split) {
        // The full check passed: the splitter must find the same batch, and
        // its records must decode to exactly the count the header claims.
        let first = batches.first().expect("a validated batch is split off");
        assert_eq!(first.header(), header);
        let records: Vec<_> = first
            .records(MAX_DECOMPRESSED)
            .expect("records of a validated batch")
            .collect::<Result<_, _>>()
            .expect("every record of a validated batch decodes");
        assert_eq!(
            records.len(),
            usize::try_from(header.records_count).unwrap_or(0)
        );
        let nulls = records.iter().filter(|r| r.key.is_none()).count();
        assert_eq!(nulls, *keyless as usize);
    }
    if let Ok(batches) = split {
        for batch in batches {
            drain(&batch);
        }
    }
    if let Ok(batch) = Batch::parse(&bytes) {
        let _ = batch.validate_records(MAX_DECOMPRESSED);
    }
}

/// Iterates a batch's records to the end or the first error.
fn drain(batch: &Batch) {
    if let Ok(records) = batch.records(MAX_DECOMPRESSED) {
        for record in records {
            if record.is_err() {
                break;
            }
        }
    }
}

/// A copy of `data` with the CRC field of its first batch recomputed over
/// the bytes its length field covers, when that many bytes are there.
fn with_crc_fixed(data: &[u8]) -> Option<Vec<u8>> {
    let length = i32::from_be_bytes(data.get(8..12)?.try_into().ok()?);
    let end = 12usize.checked_add(usize::try_from(length).ok()?)?;
    if end < BATCH_HEADER_BYTES || end > data.len() {
        return None;
    }
    let mut fixed = data.to_vec();
    let crc = crc32c(fixed.get(21..end)?);
    fixed.get_mut(17..21)?.copy_from_slice(&crc.to_be_bytes());
    Some(fixed)
}
