//! Record batches in Kafka's format (RecordBatch v2, magic 2): the one module
//! that both encodes and decodes them.
//!
//! Everything read from bytes is checked against the bytes actually present
//! before it is used or allocated; no input makes this module panic.

pub mod compression;
mod fuzz;
pub mod header;
pub mod records;
pub mod varint;

use bytes::Bytes;

pub use self::compression::{compress, decompress};
#[doc(hidden)]
pub use self::fuzz::fuzz_one_batch_input;
pub use self::header::{
    Attributes, BATCH_HEADER_BYTES, BatchHeader, Compression, LOG_OVERHEAD, TimestampType,
};
use self::header::{CRC_POS, CRC_START};
pub use self::records::{Record, RecordCursor, RecordHeader, RecordIter, RecordRef};
use crate::error::CorruptKind;

/// Decompressed records of one batch may not exceed this unless the caller
/// passes its own cap (a defence against decompression bombs).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// CRC-32C (Castagnoli) of `bytes`, as Kafka's batch checksum.
#[must_use]
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// The producer-side fields of a batch to encode. `Default` is what a plain,
/// non-idempotent producer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpec {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Leader epoch (Raft term later), -1 when unknown.
    pub partition_leader_epoch: i32,
    /// Codec for the records part.
    pub compression: Compression,
    /// Create time or log-append time.
    pub timestamp_type: TimestampType,
    /// Idempotent producer id, -1 for none.
    pub producer_id: i64,
    /// Producer epoch, -1 for none.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 for none.
    pub base_sequence: i32,
    /// Transactional batch.
    pub transactional: bool,
    /// Control batch.
    pub control: bool,
}

impl Default for BatchSpec {
    fn default() -> Self {
        BatchSpec {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
        }
    }
}

/// Appends one batch holding `records` (offsets assigned from
/// `spec.base_offset` in order; the records' own `offset` fields are ignored).
///
/// # Errors
/// An empty record list, more records than an `i32` counts, or a codec failure.
pub fn encode_batch(
    out: &mut Vec<u8>,
    spec: &BatchSpec,
    records: &[Record],
) -> Result<(), CorruptKind> {
    let count =
        i32::try_from(records.len()).map_err(|_| CorruptKind::BadRecord("too many records"))?;
    let first = records
        .first()
        .ok_or(CorruptKind::BadRecord("a batch needs at least one record"))?;
    let base_timestamp = first.timestamp.0;
    let start = out.len();
    out.resize(start + BATCH_HEADER_BYTES, 0);
    // One pass over the records: the greatest timestamp is found as they
    // are encoded (it goes in the header, written last).
    let encode_records = |buf: &mut Vec<u8>| {
        let mut max_timestamp = base_timestamp;
        for (i, r) in records.iter().enumerate() {
            max_timestamp = max_timestamp.max(r.timestamp.0);
            records::encode_record(buf, r, i as i32, r.timestamp.0.wrapping_sub(base_timestamp));
        }
        max_timestamp
    };
    let max_timestamp = if spec.compression == Compression::None {
        encode_records(out)
    } else {
        let mut plain = Vec::new();
        let max = encode_records(&mut plain);
        out.extend_from_slice(&compress(spec.compression, &plain)?);
        max
    };
    let attributes = Attributes::new(spec.compression, spec.timestamp_type)
        .with_transactional(spec.transactional)
        .with_control(spec.control);
    let header = BatchHeader {
        base_offset: spec.base_offset as i64,
        batch_length: 0,
        partition_leader_epoch: spec.partition_leader_epoch,
        magic: header::MAGIC_V2,
        crc: 0,
        attributes,
        last_offset_delta: count - 1,
        base_timestamp,
        max_timestamp,
        producer_id: spec.producer_id,
        producer_epoch: spec.producer_epoch,
        base_sequence: spec.base_sequence,
        records_count: count,
    };
    finish_batch(out, start, header)
}

/// Writes `header` (with the batch length and the CRC filled in) over the
/// placeholder at `start`, the records part following it to the end of `out`.
fn finish_batch(out: &mut [u8], start: usize, header: BatchHeader) -> Result<(), CorruptKind> {
    let total = out.len() - start;
    let batch_length =
        i32::try_from(total - LOG_OVERHEAD).map_err(|_| CorruptKind::BadLength(total as i64))?;
    let header = BatchHeader {
        batch_length,
        crc: 0,
        ..header
    };
    let batch = out.get_mut(start..).unwrap_or_default();
    if let Some(h) = batch.first_chunk_mut::<BATCH_HEADER_BYTES>() {
        header.write(h);
    }
    let crc = crc32c(batch.get(CRC_START..).unwrap_or_default());
    if let Some(c) = batch.get_mut(CRC_POS..CRC_POS + 4) {
        c.copy_from_slice(&crc.to_be_bytes());
    }
    Ok(())
}

/// Re-encodes a stored batch keeping only `kept` (some of its records, in
/// order), as Kafka's cleaner does: base offset, last offset delta, leader
/// epoch, producer id, epoch and base sequence, codec and the other
/// attributes stay; each record keeps its offset and timestamp. With
/// `delete_horizon` the batch carries it in `baseTimestamp` and sets the
/// delete-horizon attribute (KIP-534), record timestamps being relative to
/// it. The max timestamp becomes the greatest kept one (LogAppendTime
/// batches keep theirs).
///
/// # Errors
/// No records, offsets outside the batch, or a codec failure.
pub fn encode_rewritten(
    out: &mut Vec<u8>,
    original: &BatchHeader,
    kept: &[RecordRef<'_>],
    delete_horizon: Option<i64>,
) -> Result<(), CorruptKind> {
    let first = kept
        .first()
        .ok_or(CorruptKind::BadRecord("a batch needs at least one record"))?;
    let count =
        i32::try_from(kept.len()).map_err(|_| CorruptKind::BadRecord("too many records"))?;
    let log_append = original.attributes.timestamp_type() == TimestampType::LogAppendTime;
    let base_timestamp = match (delete_horizon, log_append) {
        (Some(h), _) => h,
        (None, true) => original.base_timestamp,
        (None, false) => first.timestamp.0,
    };
    let max_timestamp = if log_append {
        original.max_timestamp
    } else {
        kept.iter()
            .map(|r| r.timestamp.0)
            .max()
            .unwrap_or(base_timestamp)
    };
    let base_offset = original.base_offset;
    let start = out.len();
    out.resize(start + BATCH_HEADER_BYTES, 0);
    let encode = |buf: &mut Vec<u8>| -> Result<(), CorruptKind> {
        for r in kept {
            let delta = (r.offset.0 as i64)
                .checked_sub(base_offset)
                .and_then(|d| i32::try_from(d).ok())
                .filter(|d| (0..=original.last_offset_delta).contains(d))
                .ok_or(CorruptKind::BadRecord("record offset outside its batch"))?;
            let ts_delta = if log_append {
                0
            } else {
                r.timestamp.0.wrapping_sub(base_timestamp)
            };
            let parts = records::RecordParts {
                key: r.key,
                value: r.value,
                headers: r.headers.iter().copied(),
            };
            records::encode_record_parts(buf, parts, delta, ts_delta);
        }
        Ok(())
    };
    let codec = original.attributes.compression()?;
    if codec == Compression::None {
        encode(out)?;
    } else {
        let mut plain = Vec::new();
        encode(&mut plain)?;
        out.extend_from_slice(&compress(codec, &plain)?);
    }
    let header = BatchHeader {
        attributes: original
            .attributes
            .with_delete_horizon(delete_horizon.is_some()),
        base_timestamp,
        max_timestamp,
        records_count: count,
        ..*original
    };
    finish_batch(out, start, header)
}

/// Overwrites the last offset delta of the encoded batch at the front of
/// `batch` and recomputes its CRC (the field lies inside it). The cleaner
/// stretches a batch over the offsets of the batches it removed after it,
/// so that batches still follow each other without a gap.
pub fn set_last_offset_delta(batch: &mut [u8], delta: i32) {
    const AT: usize = CRC_START + 2;
    if let Some(field) = batch.get_mut(AT..AT + 4) {
        field.copy_from_slice(&delta.to_be_bytes());
    }
    let total = header::peek_offset_and_length(batch).map_or(0, |(_, len)| {
        usize::try_from(len).unwrap_or(0) + LOG_OVERHEAD
    });
    let crc = crc32c(batch.get(CRC_START..total).unwrap_or_default());
    if let Some(c) = batch.get_mut(CRC_POS..CRC_POS + 4) {
        c.copy_from_slice(&crc.to_be_bytes());
    }
}

/// Overwrites the base offset of the encoded batch at the front of `batch`
/// (outside the CRC, so the checksum stays valid).
pub fn set_base_offset(batch: &mut [u8], base_offset: u64) {
    if let Some(b) = batch.get_mut(0..8) {
        b.copy_from_slice(&(base_offset as i64).to_be_bytes());
    }
}

/// Overwrites the partition leader epoch (outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    if let Some(b) = batch.get_mut(header::LEADER_EPOCH_POS..header::LEADER_EPOCH_POS + 4) {
        b.copy_from_slice(&epoch.to_be_bytes());
    }
}

/// Checks the header of the batch at the front of `buf` and that its bytes are
/// all there; returns the header. Does not check the CRC.
///
/// # Errors
/// A bad header, or fewer bytes than `batchLength` says.
pub fn parse_header_complete(buf: &[u8]) -> Result<BatchHeader, CorruptKind> {
    let h = BatchHeader::parse(buf)?;
    let total = h.total_size();
    if (buf.len() as u64) < total {
        return Err(CorruptKind::Truncated {
            needed: total,
            available: buf.len() as u64,
        });
    }
    Ok(h)
}

/// Checks the CRC of a complete batch (exactly `header.total_size()` bytes).
///
/// # Errors
/// [`CorruptKind::CrcMismatch`].
pub fn verify_crc(batch: &[u8], header: &BatchHeader) -> Result<(), CorruptKind> {
    let covered = batch
        .get(CRC_START..header.total_size() as usize)
        .unwrap_or_default();
    let computed = crc32c(covered);
    if computed != header.crc {
        return Err(CorruptKind::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    Ok(())
}

/// One complete batch over shared bytes.
#[derive(Debug, Clone)]
pub struct Batch {
    bytes: Bytes,
    header: BatchHeader,
}

impl Batch {
    /// Splits the first batch off `buf`, checking header, length and CRC.
    ///
    /// # Errors
    /// Any [`CorruptKind`] found.
    pub fn parse(buf: &Bytes) -> Result<Batch, CorruptKind> {
        let header = parse_header_complete(buf)?;
        let bytes = buf.slice(..header.total_size() as usize);
        verify_crc(&bytes, &header)?;
        Ok(Batch { bytes, header })
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The stored bytes of the whole batch.
    #[must_use]
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Decompressed records part.
    ///
    /// # Errors
    /// An unknown codec or a decompression failure.
    pub fn payload(&self, max_decompressed: usize) -> Result<Bytes, CorruptKind> {
        let raw = self.bytes.slice(BATCH_HEADER_BYTES..);
        match self.header.attributes.compression()? {
            Compression::None => Ok(raw),
            codec => Ok(Bytes::from(decompress(codec, &raw, max_decompressed)?)),
        }
    }

    /// A decoder for the records in [`Batch::payload`].
    #[must_use]
    pub fn cursor(&self) -> RecordCursor {
        cursor_for(&self.header)
    }

    /// Iterates the records (decompressing if needed, up to `max_decompressed` bytes).
    ///
    /// # Errors
    /// An unknown codec or a decompression failure; record errors come from the iterator.
    pub fn records(&self, max_decompressed: usize) -> Result<RecordIter, CorruptKind> {
        Ok(RecordIter::new(
            self.payload(max_decompressed)?,
            self.cursor(),
        ))
    }

    /// Full validation: every record well formed, the count and the last
    /// offset delta as the header says. (The CRC was checked by `parse`.)
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate_records(&self, max_decompressed: usize) -> Result<(), CorruptKind> {
        validate(&self.bytes, max_decompressed).map(|_| ())
    }
}

fn cursor_for(h: &BatchHeader) -> RecordCursor {
    let ts =
        (h.attributes.timestamp_type() == TimestampType::LogAppendTime).then_some(h.max_timestamp);
    RecordCursor::new(h.base_offset, h.base_timestamp, h.records_count, ts)
}

/// Fully checks the batch at the front of `buf` without copying it: header,
/// length, CRC, and every record (decompressing up to `max_decompressed`
/// bytes). Returns its header.
///
/// # Errors
/// The first problem found.
pub fn validate(buf: &[u8], max_decompressed: usize) -> Result<BatchHeader, CorruptKind> {
    validate_counting_keyless(buf, max_decompressed).map(|(h, _)| h)
}

/// Like [`validate`], also returning how many records have a null key
/// (which a compacted topic refuses).
///
/// # Errors
/// The first problem found.
pub fn validate_counting_keyless(
    buf: &[u8],
    max_decompressed: usize,
) -> Result<(BatchHeader, u32), CorruptKind> {
    let h = parse_header_complete(buf)?;
    let bytes = buf.get(..h.total_size() as usize).unwrap_or_default();
    verify_crc(bytes, &h)?;
    let raw = bytes.get(BATCH_HEADER_BYTES..).unwrap_or_default();
    let keyless = match h.attributes.compression()? {
        Compression::None => cursor_for(&h).validate_all(raw, h.last_offset_delta)?,
        codec => cursor_for(&h).validate_all(
            &decompress(codec, raw, max_decompressed)?,
            h.last_offset_delta,
        )?,
    };
    Ok((h, keyless))
}

/// Splits `buf` into its complete batches, stopping at the first incomplete
/// one. Each batch is checked (header and CRC).
///
/// # Errors
/// The first corrupt batch.
pub fn split_batches(buf: &Bytes) -> Result<Vec<Batch>, CorruptKind> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = buf.slice(pos..);
        match parse_header_complete(&rest) {
            Err(CorruptKind::Truncated { .. }) => break,
            Err(e) => return Err(e),
            Ok(h) => {
                let batch = Batch::parse(&rest)?;
                pos += h.total_size() as usize;
                out.push(batch);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offset::{Offset, TimestampMs};

    fn rec(i: u64) -> Record {
        Record {
            offset: Offset(0),
            timestamp: TimestampMs(1_700_000_000_000 + i as i64 * 7),
            key: (!i.is_multiple_of(3)).then(|| Bytes::from(format!("key-{i}"))),
            value: (i % 5 != 4).then(|| Bytes::from(vec![b'v'; i as usize])),
            headers: if i.is_multiple_of(2) {
                vec![RecordHeader {
                    key: Bytes::from_static(b"h"),
                    value: Some(Bytes::from_static(b"x")),
                }]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn batch_round_trips_with_every_codec() {
        let records: Vec<Record> = (0..20).map(rec).collect();
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let spec = BatchSpec {
                base_offset: 100,
                compression,
                ..BatchSpec::default()
            };
            let mut out = Vec::new();
            encode_batch(&mut out, &spec, &records).expect("encode");
            let bytes = Bytes::from(out);
            let batch = Batch::parse(&bytes).expect("parse");
            assert_eq!(batch.header().records_count, 20);
            assert_eq!(batch.header().last_offset(), 119);
            batch.validate_records(1 << 20).expect("valid");
            let back: Vec<Record> = batch
                .records(1 << 20)
                .expect("records")
                .collect::<Result<_, _>>()
                .expect("decode");
            for (i, (a, b)) in records.iter().zip(&back).enumerate() {
                assert_eq!(b.offset, Offset(100 + i as u64));
                assert_eq!(
                    (&a.key, &a.value, &a.headers, a.timestamp),
                    (&b.key, &b.value, &b.headers, b.timestamp)
                );
            }
        }
    }

    #[test]
    fn rewriting_the_base_offset_keeps_the_crc_valid() {
        let mut out = Vec::new();
        encode_batch(&mut out, &BatchSpec::default(), &[rec(1)]).expect("encode");
        set_base_offset(&mut out, 1 << 40);
        set_partition_leader_epoch(&mut out, 9);
        let batch = Batch::parse(&Bytes::from(out)).expect("still valid");
        assert_eq!(batch.header().base_offset, 1 << 40);
        assert_eq!(batch.header().partition_leader_epoch, 9);
    }

    #[test]
    fn any_flipped_bit_in_the_crc_range_is_detected() {
        let mut out = Vec::new();
        encode_batch(&mut out, &BatchSpec::default(), &[rec(1), rec(2)]).expect("encode");
        for i in CRC_START..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x10;
            assert!(Batch::parse(&Bytes::from(bad)).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn empty_batches_are_refused() {
        assert!(encode_batch(&mut Vec::new(), &BatchSpec::default(), &[]).is_err());
    }
}
