//! Cross-check with an independent implementation: the `kafka-protocol`
//! crate's record codec decodes our batches, and we decode its batches.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression as KCompression, Record as KRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KTimestampType,
};
use logsync_storage::batch::{self, Batch, BatchSpec, Compression};
use logsync_storage::{Offset, TimestampMs};

use crate::record;

#[test]
fn kafka_protocol_decodes_our_batches() {
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Zstd,
    ] {
        let records: Vec<_> = (0..25).map(record).collect();
        let mut out = Vec::new();
        let spec = BatchSpec {
            base_offset: 1000,
            compression,
            ..BatchSpec::default()
        };
        batch::encode_batch(&mut out, &spec, &records).expect("encode");
        let mut buf = Bytes::from(out);
        let set = RecordBatchDecoder::decode(&mut buf).expect("kafka-protocol decodes our batch");
        assert_eq!(set.records.len(), records.len(), "{compression:?}");
        for (i, (ours, theirs)) in records.iter().zip(&set.records).enumerate() {
            assert_eq!(theirs.offset, 1000 + i as i64);
            assert_eq!(theirs.timestamp, ours.timestamp.0);
            assert_eq!(theirs.key, ours.key);
            assert_eq!(theirs.value, ours.value);
        }
    }
}

#[test]
fn we_decode_batches_kafka_protocol_encodes() {
    for (theirs, ours) in [
        (KCompression::None, Compression::None),
        (KCompression::Gzip, Compression::Gzip),
        (KCompression::Snappy, Compression::Snappy),
        (KCompression::Zstd, Compression::Zstd),
    ] {
        let records: Vec<KRecord> = (0..30)
            .map(|i| KRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 3,
                producer_id: 77,
                producer_epoch: 1,
                timestamp_type: KTimestampType::Creation,
                offset: 500 + i,
                sequence: 10 + i as i32,
                timestamp: 1_700_000_000_000 + i,
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: (i % 7 != 6).then(|| Bytes::from(vec![b'x'; i as usize * 3])),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: theirs,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).expect("kafka-protocol encodes");
        let bytes = buf.freeze();
        let batches = batch::split_batches(&bytes).expect("we parse it");
        let decoded: Vec<_> = batches
            .iter()
            .flat_map(|b: &Batch| b.records(1 << 20).expect("records"))
            .collect::<Result<_, _>>()
            .expect("decode");
        assert_eq!(decoded.len(), records.len(), "{ours:?}");
        for b in &batches {
            assert_eq!(b.header().attributes.compression().expect("codec"), ours);
            assert_eq!(b.header().producer_id, 77);
            b.validate_records(1 << 20).expect("valid");
        }
        for (k, o) in records.iter().zip(&decoded) {
            assert_eq!(o.offset, Offset(k.offset as u64));
            assert_eq!(o.timestamp, TimestampMs(k.timestamp));
            assert_eq!(o.key, k.key);
            assert_eq!(o.value, k.value);
        }
    }
}
