//! Record batch format: property tests of both directions, and hostile bytes.

use bytes::Bytes;
use logsync_storage::batch::{self, Batch, BatchSpec, Compression, Record, RecordHeader};
use logsync_storage::{Offset, TimestampMs};
use proptest::prelude::*;

fn arb_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    prop::option::weighted(
        0.8,
        prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from),
    )
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        any::<i64>().prop_map(|t| t >> 20),
        arb_bytes(40),
        arb_bytes(300),
        prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..10), arb_bytes(20)),
            0..3,
        ),
    )
        .prop_map(|(ts, key, value, headers)| Record {
            offset: Offset(0),
            timestamp: TimestampMs(ts),
            key,
            value,
            headers: headers
                .into_iter()
                .map(|(k, v)| RecordHeader {
                    key: Bytes::from(k),
                    value: v,
                })
                .collect(),
        })
}

fn arb_compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Gzip),
        Just(Compression::Snappy),
        Just(Compression::Lz4),
        Just(Compression::Zstd)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_identity(
        records in prop::collection::vec(arb_record(), 1..20),
        base in 0u64..(1 << 50),
        compression in arb_compression(),
        producer_id in -1i64..1000,
        transactional in any::<bool>(),
    ) {
        // Deltas from the first timestamp must fit: keep timestamps near each other.
        let first = records[0].timestamp.0;
        let records: Vec<Record> = records.into_iter().map(|mut r| { r.timestamp = TimestampMs(first.wrapping_add(r.timestamp.0 % 1_000_000)); r }).collect();
        let spec = BatchSpec { base_offset: base, compression, producer_id, transactional, ..BatchSpec::default() };
        let mut out = Vec::new();
        batch::encode_batch(&mut out, &spec, &records).expect("encode");
        let bytes = Bytes::from(out);
        let b = Batch::parse(&bytes).expect("parse");
        prop_assert_eq!(b.header().base_offset as u64, base);
        prop_assert_eq!(b.header().producer_id, producer_id);
        prop_assert_eq!(b.header().attributes.is_transactional(), transactional);
        prop_assert_eq!(b.header().attributes.compression().expect("codec"), compression);
        b.validate_records(1 << 24).expect("valid");
        let back: Vec<Record> = b.records(1 << 24).expect("records").collect::<Result<_, _>>().expect("decode");
        prop_assert_eq!(back.len(), records.len());
        for (i, (a, b)) in records.iter().zip(&back).enumerate() {
            prop_assert_eq!(b.offset, Offset(base + i as u64));
            prop_assert_eq!(a.timestamp, b.timestamp);
            prop_assert_eq!(&a.key, &b.key);
            prop_assert_eq!(&a.value, &b.value);
            prop_assert_eq!(&a.headers, &b.headers);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let bytes = Bytes::from(bytes);
        let _ = batch::validate(&bytes, 1 << 20);
        let _ = batch::split_batches(&bytes);
        if let Ok(it) = Batch::parse(&bytes).and_then(|b| b.records(1 << 20)) {
            for r in it.take(1000) { let _ = r; }
        }
    }

    #[test]
    fn mutated_valid_batches_never_panic_and_never_validate_with_bad_crc(
        records in prop::collection::vec(arb_record(), 1..5),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        let mut out = Vec::new();
        batch::encode_batch(&mut out, &BatchSpec::default(), &records).expect("encode");
        for (i, bit) in flips {
            let at = i.index(out.len());
            out[at] ^= 1 << bit;
        }
        // Whatever happens, no panic; and if it validates, its CRC matched.
        if let Ok(h) = batch::validate(&out, 1 << 20) {
            prop_assert!(batch::verify_crc(&out[..h.total_size() as usize], &h).is_ok());
        }
    }
}

#[test]
fn a_huge_record_count_does_not_allocate_or_panic() {
    let mut out = Vec::new();
    batch::encode_batch(
        &mut out,
        &BatchSpec::default(),
        &[Record::new(None, b"x", TimestampMs(0))],
    )
    .expect("encode");
    // recordsCount = i32::MAX, CRC fixed up so only the count is wrong.
    out[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let crc = batch::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    let err = batch::validate(&out, 1 << 20).expect_err("count mismatch");
    assert!(err.to_string().contains("record count"), "{err}");
}

#[test]
fn a_decompression_bomb_is_refused() {
    let big = vec![Record::new(None, &vec![0u8; 4 << 20], TimestampMs(0))];
    let mut out = Vec::new();
    batch::encode_batch(
        &mut out,
        &BatchSpec {
            compression: Compression::Zstd,
            ..BatchSpec::default()
        },
        &big,
    )
    .expect("encode");
    assert!(out.len() < 64 * 1024, "compresses well: {}", out.len());
    let err = batch::validate(&out, 1 << 20).expect_err("over the cap");
    assert!(err.to_string().contains("cap"), "{err}");
}
