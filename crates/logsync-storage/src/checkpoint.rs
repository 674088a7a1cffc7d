//! The per-partition checkpoint file `partition.checkpoint`: where the log
//! starts and up to where it is known durable (the recovery point).
//!
//! ```text
//! 0  magic                u32 BE  "LSCP"
//! 4  version              u16 BE  1
//! 6  log_start_offset     u64 BE
//! 14 recovery_point       u64 BE  offset: everything below is fsynced, indexes too
//! 22 recovery_segment     u64 BE  base offset of the segment holding it
//! 30 recovery_position    u64 BE  its byte position in that segment
//! 38 crc32c               u32 BE  of bytes 0..38
//! ```
//! Written with [`crate::fs::write_atomic`], so a crash leaves the old or the new one.

use crate::error::CorruptKind;

/// File name inside the partition directory.
pub const CHECKPOINT_FILE: &str = "partition.checkpoint";
const MAGIC: &[u8; 4] = b"LSCP";
const VERSION: u16 = 1;
/// Encoded size.
pub const CHECKPOINT_BYTES: usize = 42;
const _: () = assert!(CHECKPOINT_BYTES == 42);
/// Bytes covered by the CRC (everything before it).
const BODY_BYTES: usize = CHECKPOINT_BYTES - 4;

/// Contents of the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// First offset readers may see.
    pub log_start_offset: u64,
    /// Everything below this offset is durable and indexed.
    pub recovery_point: u64,
    /// Base offset of the segment that holds the recovery point.
    pub recovery_segment: u64,
    /// Byte position of the recovery point in that segment.
    pub recovery_position: u64,
}

impl Checkpoint {
    /// The on-disk bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; CHECKPOINT_BYTES] {
        // Filled by zipping, which cannot panic: a length mistake would show
        // as a failed round trip in the tests, never as a crash.
        let fields = MAGIC
            .iter()
            .copied()
            .chain(VERSION.to_be_bytes())
            .chain(self.log_start_offset.to_be_bytes())
            .chain(self.recovery_point.to_be_bytes())
            .chain(self.recovery_segment.to_be_bytes())
            .chain(self.recovery_position.to_be_bytes());
        let mut body = [0u8; BODY_BYTES];
        for (dst, src) in body.iter_mut().zip(fields) {
            *dst = src;
        }
        let crc = crc32c::crc32c(&body).to_be_bytes();
        let mut out = [0u8; CHECKPOINT_BYTES];
        for (dst, src) in out.iter_mut().zip(body.into_iter().chain(crc)) {
            *dst = src;
        }
        out
    }

    /// Decodes and verifies a checkpoint file's bytes.
    ///
    /// # Errors
    /// [`CorruptKind::BadFile`] for a wrong size, magic, version or CRC.
    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptKind> {
        if bytes.len() != CHECKPOINT_BYTES {
            return Err(CorruptKind::BadFile("checkpoint has the wrong size"));
        }
        let (body, crc) = bytes.split_at(BODY_BYTES);
        let stored = u32::from_be_bytes(
            crc.try_into()
                .map_err(|_| CorruptKind::BadFile("checkpoint crc"))?,
        );
        if crc32c::crc32c(body) != stored {
            return Err(CorruptKind::BadFile("checkpoint crc mismatch"));
        }
        if body.get(..4) != Some(MAGIC.as_slice())
            || body.get(4..6) != Some(VERSION.to_be_bytes().as_slice())
        {
            return Err(CorruptKind::BadFile("checkpoint magic or version"));
        }
        let u = |at: usize| -> u64 {
            body.get(at..at + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0)
        };
        Ok(Checkpoint {
            log_start_offset: u(6),
            recovery_point: u(14),
            recovery_segment: u(22),
            recovery_position: u(30),
        })
    }
}

/// Encodes a small metadata file: 4-byte magic, version 1 (u16 BE), the
/// fields (u64 BE each) and a CRC32C of everything before it.
pub(crate) fn encode_fields(magic: &[u8; 4], fields: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + 8 * fields.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&VERSION.to_be_bytes());
    for f in fields {
        out.extend_from_slice(&f.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Decodes what [`encode_fields`] wrote, checking size, magic, version and CRC.
pub(crate) fn decode_fields<const N: usize>(
    magic: &[u8; 4],
    bytes: &[u8],
) -> Result<[u64; N], CorruptKind> {
    if bytes.len() != 10 + 8 * N {
        return Err(CorruptKind::BadFile("metadata file has the wrong size"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let stored = crc
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| CorruptKind::BadFile("metadata file crc"))?;
    if crc32c::crc32c(body) != stored {
        return Err(CorruptKind::BadFile("metadata file crc mismatch"));
    }
    if body.get(..4) != Some(magic.as_slice())
        || body.get(4..6) != Some(VERSION.to_be_bytes().as_slice())
    {
        return Err(CorruptKind::BadFile("metadata file magic or version"));
    }
    let mut out = [0u64; N];
    for (i, f) in out.iter_mut().enumerate() {
        *f = body
            .get(6 + 8 * i..14 + 8 * i)
            .and_then(|s| s.try_into().ok())
            .map_or(0, u64::from_be_bytes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_detects_damage() {
        let c = Checkpoint {
            log_start_offset: 5,
            recovery_point: 900,
            recovery_segment: 800,
            recovery_position: 4321,
        };
        let bytes = c.encode();
        assert_eq!(Checkpoint::decode(&bytes), Ok(c));
        for i in 0..bytes.len() {
            let mut bad = bytes;
            bad[i] ^= 1;
            assert!(Checkpoint::decode(&bad).is_err(), "flip at {i}");
        }
        assert!(Checkpoint::decode(&bytes[..10]).is_err());
    }

    #[test]
    fn metadata_fields_round_trip_and_detect_damage() {
        let bytes = encode_fields(b"TEST", &[1, u64::MAX, 42]);
        assert_eq!(decode_fields::<3>(b"TEST", &bytes), Ok([1, u64::MAX, 42]));
        assert!(decode_fields::<3>(b"TEST", &bytes[..bytes.len() - 1]).is_err());
        assert!(decode_fields::<2>(b"TEST", &bytes).is_err());
        assert!(decode_fields::<3>(b"NOPE", &bytes).is_err());
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode_fields::<3>(b"TEST", &bad).is_err(), "flip at {i}");
        }
    }
}
