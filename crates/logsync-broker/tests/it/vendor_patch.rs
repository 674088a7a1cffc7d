//! Regression tests of the vendored `kafka-protocol` patch outside request
//! decoding (see `vendor/README.md`): record batches whose record count or
//! header count is huge, and snappy data whose header claims 4 GiB, are
//! rejected after allocating little. Unpatched, the first two abort the
//! process and the last allocates 4 GiB.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Snappy};
use kafka_protocol::records::RecordBatchDecoder;

use crate::alloc::measure;

const SMALL_ALLOCATION_BYTES: usize = 64 * 1024;

/// A v2 record batch with `record_count` and `records` as given, and a valid CRC.
fn record_batch(record_count: i32, records: &[u8]) -> Bytes {
    let mut crc_covered = BytesMut::new();
    crc_covered.put_i16(0); // attributes: no compression
    crc_covered.put_i32(0); // last offset delta
    crc_covered.put_i64(1_700_000_000_000); // base timestamp
    crc_covered.put_i64(1_700_000_000_000); // max timestamp
    crc_covered.put_i64(-1); // producer id
    crc_covered.put_i16(-1); // producer epoch
    crc_covered.put_i32(-1); // base sequence
    crc_covered.put_i32(record_count);
    crc_covered.put_slice(records);

    let mut batch = BytesMut::new();
    batch.put_i64(0); // base offset
    let batch_length = 4 + 1 + 4 + crc_covered.len();
    batch.put_i32(i32::try_from(batch_length).expect("small batch"));
    batch.put_i32(-1); // partition leader epoch
    batch.put_i8(2); // magic
    batch.put_u32(crc32c::crc32c(&crc_covered));
    batch.put_slice(&crc_covered);
    batch.freeze()
}

fn zigzag_varint(value: i32, out: &mut Vec<u8>) {
    let mut zigzag = ((value << 1) ^ (value >> 31)) as u32;
    while zigzag >= 0x80 {
        out.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

#[test]
fn record_batch_claiming_2_pow_31_records_is_rejected_without_allocating() {
    let mut batch = record_batch(i32::MAX, &[]);
    let (result, allocated) = measure(|| RecordBatchDecoder::decode(&mut batch));
    assert!(result.is_err());
    assert!(
        allocated.total_bytes <= SMALL_ALLOCATION_BYTES,
        "{allocated:?}"
    );
}

#[test]
fn record_claiming_2_pow_31_headers_is_rejected_without_allocating() {
    let mut body = Vec::new();
    body.push(0); // attributes
    zigzag_varint(0, &mut body); // timestamp delta
    zigzag_varint(0, &mut body); // offset delta
    zigzag_varint(-1, &mut body); // null key
    zigzag_varint(-1, &mut body); // null value
    zigzag_varint(i32::MAX, &mut body); // header count
    let mut record = Vec::new();
    zigzag_varint(
        i32::try_from(body.len()).expect("small record"),
        &mut record,
    );
    record.extend_from_slice(&body);

    let mut batch = record_batch(1, &record);
    let (result, allocated) = measure(|| RecordBatchDecoder::decode(&mut batch));
    assert!(result.is_err());
    assert!(
        allocated.total_bytes <= SMALL_ALLOCATION_BYTES,
        "{allocated:?}"
    );
}

#[test]
fn snappy_header_claiming_4_gib_is_rejected_before_allocating() {
    // Raw snappy: a varint uncompressed length of 2^32 - 1, then one literal byte.
    let mut raw = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, b'x']);
    let (result, allocated) = measure(|| Snappy::decompress(&mut raw, |_| Ok(())));
    assert!(result.is_err());
    assert!(
        allocated.largest_bytes <= SMALL_ALLOCATION_BYTES,
        "{allocated:?}"
    );

    // Kafka's (xerial) framing: magic, version, compatible version, then one block.
    let mut framed = BytesMut::new();
    framed.put_slice(&[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0]);
    framed.put_i32(1);
    framed.put_i32(1);
    framed.put_u32(7);
    framed.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, b'x']);
    let mut framed = framed.freeze();
    let (result, allocated) = measure(|| Snappy::decompress(&mut framed, |_| Ok(())));
    assert!(result.is_err());
    assert!(
        allocated.largest_bytes <= SMALL_ALLOCATION_BYTES,
        "{allocated:?}"
    );
}

#[test]
fn snappy_at_its_largest_expansion_still_decompresses() {
    // A run of one byte is snappy's best case (~21x: 64-byte copies of 3 bytes each),
    // right under the bound the patch puts on the claimed length.
    let data = vec![b'a'; 1 << 20];
    let mut compressed = BytesMut::new();
    Snappy::compress(&mut compressed, |buf: &mut BytesMut| {
        buf.put_slice(&data);
        Ok(())
    })
    .expect("compresses");
    assert!(
        compressed.len() * 20 < data.len(),
        "{} bytes",
        compressed.len()
    );
    let mut compressed = compressed.freeze();
    let decompressed =
        Snappy::decompress(&mut compressed, |buf| Ok(buf.clone())).expect("decompresses");
    assert_eq!(&decompressed[..], &data[..]);
}
