//! The fixed 61-byte header of a RecordBatch v2.
//!
//! ```text
//! 0  baseOffset            i64
//! 8  batchLength           i32   bytes after this field
//! 12 partitionLeaderEpoch  i32   (outside the CRC)
//! 16 magic                 i8    = 2
//! 17 crc                   u32   CRC-32C of bytes 21..end
//! 21 attributes            i16
//! 23 lastOffsetDelta       i32
//! 27 baseTimestamp         i64
//! 35 maxTimestamp          i64
//! 43 producerId            i64
//! 51 producerEpoch         i16
//! 53 baseSequence          i32
//! 57 recordsCount          i32
//! 61 records ...
//! ```

use crate::error::CorruptKind;

/// Size of the header in bytes.
pub const BATCH_HEADER_BYTES: usize = 61;
/// `baseOffset` + `batchLength`: the bytes not counted in `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
/// The only batch format we read and write.
pub const MAGIC_V2: i8 = 2;
/// Where the CRC-covered part starts.
pub const CRC_START: usize = 21;
/// Position of the `partitionLeaderEpoch` field.
pub const LEADER_EPOCH_POS: usize = 12;
/// Position of the `magic` byte.
pub const MAGIC_POS: usize = 16;
/// Position of the `crc` field.
pub const CRC_POS: usize = 17;
/// Smallest legal `batchLength` (a header with no records).
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_BYTES - LOG_OVERHEAD) as i32;

const _: () = assert!(BATCH_HEADER_BYTES == 61);
const _: () = assert!(MIN_BATCH_LENGTH == 49);

/// Compression codec in the low three bits of the attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy (raw or xerial-framed on read).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The codec id stored in the attributes.
    #[must_use]
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Parses a codec id.
    ///
    /// # Errors
    /// [`CorruptKind::UnknownCompression`] for ids above 4.
    pub fn from_id(id: u8) -> Result<Self, CorruptKind> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(CorruptKind::UnknownCompression(other)),
        })
    }

    /// Kafka's name for the codec (`compression.type`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Whether timestamps were set by the producer or by the log on append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer (Kafka's `CreateTime`).
    CreateTime,
    /// Set by the broker (Kafka's `LogAppendTime`).
    LogAppendTime,
}

/// The batch attributes bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attributes(pub i16);

impl Attributes {
    const COMPRESSION_MASK: i16 = 0x07;
    const TIMESTAMP_TYPE: i16 = 0x08;
    const TRANSACTIONAL: i16 = 0x10;
    const CONTROL: i16 = 0x20;
    const DELETE_HORIZON: i16 = 0x40;

    /// Builds attributes from their parts.
    #[must_use]
    pub fn new(compression: Compression, timestamp_type: TimestampType) -> Self {
        let mut bits = i16::from(compression.id());
        if timestamp_type == TimestampType::LogAppendTime {
            bits |= Self::TIMESTAMP_TYPE;
        }
        Attributes(bits)
    }
    /// The compression codec.
    ///
    /// # Errors
    /// [`CorruptKind::UnknownCompression`] for codec ids above 4.
    pub fn compression(self) -> Result<Compression, CorruptKind> {
        Compression::from_id((self.0 & Self::COMPRESSION_MASK) as u8)
    }
    /// The timestamp type.
    #[must_use]
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    /// Part of a transaction.
    #[must_use]
    pub fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }
    /// A control batch (transaction markers; never shown to consumers).
    #[must_use]
    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }
    /// `baseTimestamp` holds the tombstone delete horizon (KIP-534).
    #[must_use]
    pub fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }
    /// With the transactional bit set or cleared.
    #[must_use]
    pub fn with_transactional(self, on: bool) -> Self {
        Attributes(if on {
            self.0 | Self::TRANSACTIONAL
        } else {
            self.0 & !Self::TRANSACTIONAL
        })
    }
    /// With the delete-horizon bit (KIP-534) set or cleared.
    #[must_use]
    pub fn with_delete_horizon(self, on: bool) -> Self {
        Attributes(if on {
            self.0 | Self::DELETE_HORIZON
        } else {
            self.0 & !Self::DELETE_HORIZON
        })
    }
    /// With the control bit set or cleared.
    #[must_use]
    pub fn with_control(self, on: bool) -> Self {
        Attributes(if on {
            self.0 | Self::CONTROL
        } else {
            self.0 & !Self::CONTROL
        })
    }
}

/// A decoded batch header. Field names are Kafka's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: Attributes,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], CorruptKind> {
    buf.get(at..at + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(CorruptKind::truncated(at + N, buf.len()))
}

/// Reads `(base_offset, batch_length)` from the first 12 bytes, the part needed
/// to know where the next batch starts.
///
/// # Errors
/// [`CorruptKind::Truncated`] if fewer than 12 bytes are given.
pub fn peek_offset_and_length(buf: &[u8]) -> Result<(i64, i32), CorruptKind> {
    Ok((
        i64::from_be_bytes(be(buf, 0)?),
        i32::from_be_bytes(be(buf, 8)?),
    ))
}

impl BatchHeader {
    /// Parses and sanity-checks the header at the front of `buf`
    /// (needs 61 bytes; does not check the CRC).
    ///
    /// # Errors
    /// Truncated input, a magic other than 2, or an impossible length or count.
    pub fn parse(buf: &[u8]) -> Result<Self, CorruptKind> {
        let magic = i8::from_be_bytes(be(buf, MAGIC_POS)?);
        if magic != MAGIC_V2 {
            return Err(CorruptKind::BadMagic(magic));
        }
        let h = BatchHeader {
            base_offset: i64::from_be_bytes(be(buf, 0)?),
            batch_length: i32::from_be_bytes(be(buf, 8)?),
            partition_leader_epoch: i32::from_be_bytes(be(buf, LEADER_EPOCH_POS)?),
            magic,
            crc: u32::from_be_bytes(be(buf, CRC_POS)?),
            attributes: Attributes(i16::from_be_bytes(be(buf, 21)?)),
            last_offset_delta: i32::from_be_bytes(be(buf, 23)?),
            base_timestamp: i64::from_be_bytes(be(buf, 27)?),
            max_timestamp: i64::from_be_bytes(be(buf, 35)?),
            producer_id: i64::from_be_bytes(be(buf, 43)?),
            producer_epoch: i16::from_be_bytes(be(buf, 51)?),
            base_sequence: i32::from_be_bytes(be(buf, 53)?),
            records_count: i32::from_be_bytes(be(buf, 57)?),
        };
        if h.batch_length < MIN_BATCH_LENGTH {
            return Err(CorruptKind::BadLength(i64::from(h.batch_length)));
        }
        if h.base_offset < 0 {
            return Err(CorruptKind::BadRecord("negative base offset"));
        }
        if h.records_count < 0 || h.last_offset_delta < 0 {
            return Err(CorruptKind::BadRecord(
                "negative record count or offset delta",
            ));
        }
        if h.base_offset
            .checked_add(i64::from(h.last_offset_delta))
            .is_none()
        {
            return Err(CorruptKind::BadRecord("last offset overflows"));
        }
        Ok(h)
    }

    /// Writes the header into the first 61 bytes of `out`.
    pub fn write(&self, out: &mut [u8; BATCH_HEADER_BYTES]) {
        let fields: [(&mut [u8], &[u8]); 13] = {
            let (base, rest) = out.split_at_mut(8);
            let (len, rest) = rest.split_at_mut(4);
            let (epoch, rest) = rest.split_at_mut(4);
            let (magic, rest) = rest.split_at_mut(1);
            let (crc, rest) = rest.split_at_mut(4);
            let (attrs, rest) = rest.split_at_mut(2);
            let (lod, rest) = rest.split_at_mut(4);
            let (bts, rest) = rest.split_at_mut(8);
            let (mts, rest) = rest.split_at_mut(8);
            let (pid, rest) = rest.split_at_mut(8);
            let (pep, rest) = rest.split_at_mut(2);
            let (seq, count) = rest.split_at_mut(4);
            [
                (base, &self.base_offset.to_be_bytes()),
                (len, &self.batch_length.to_be_bytes()),
                (epoch, &self.partition_leader_epoch.to_be_bytes()),
                (magic, &self.magic.to_be_bytes()),
                (crc, &self.crc.to_be_bytes()),
                (attrs, &self.attributes.0.to_be_bytes()),
                (lod, &self.last_offset_delta.to_be_bytes()),
                (bts, &self.base_timestamp.to_be_bytes()),
                (mts, &self.max_timestamp.to_be_bytes()),
                (pid, &self.producer_id.to_be_bytes()),
                (pep, &self.producer_epoch.to_be_bytes()),
                (seq, &self.base_sequence.to_be_bytes()),
                (count, &self.records_count.to_be_bytes()),
            ]
        };
        for (dst, src) in fields {
            dst.copy_from_slice(src);
        }
    }

    /// Total bytes of the batch on disk, header included.
    #[must_use]
    pub fn total_size(&self) -> u64 {
        self.batch_length as u64 + LOG_OVERHEAD as u64
    }

    /// Offset of the last record (base offset + last offset delta).
    #[must_use]
    pub fn last_offset(&self) -> u64 {
        (self.base_offset + i64::from(self.last_offset_delta)) as u64
    }

    /// Offset after the batch.
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = BatchHeader {
            base_offset: 42,
            batch_length: 200,
            partition_leader_epoch: 7,
            magic: MAGIC_V2,
            crc: 0xdead_beef,
            attributes: Attributes::new(Compression::Zstd, TimestampType::LogAppendTime)
                .with_transactional(true),
            last_offset_delta: 3,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_009,
            producer_id: 99,
            producer_epoch: 2,
            base_sequence: 17,
            records_count: 4,
        };
        let mut buf = [0u8; BATCH_HEADER_BYTES];
        h.write(&mut buf);
        assert_eq!(BatchHeader::parse(&buf), Ok(h));
        assert_eq!(h.attributes.compression(), Ok(Compression::Zstd));
        assert!(h.attributes.is_transactional());
        assert!(!h.attributes.is_control());
    }

    #[test]
    fn header_rejects_short_input_and_bad_magic() {
        assert!(matches!(
            BatchHeader::parse(&[0u8; 20]),
            Err(CorruptKind::BadMagic(0))
        ));
        let mut buf = [0u8; BATCH_HEADER_BYTES];
        buf[MAGIC_POS] = 2;
        assert!(matches!(
            BatchHeader::parse(&buf[..40]),
            Err(CorruptKind::Truncated { .. })
        ));
        assert!(matches!(
            BatchHeader::parse(&buf),
            Err(CorruptKind::BadLength(0))
        ));
    }
}
