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
        let mut out = Vec::with_capacity(CHECKPOINT_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        for v in [
            self.log_start_offset,
            self.recovery_point,
            self.recovery_segment,
            self.recovery_position,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&crc32c::crc32c(&out).to_be_bytes());
        let mut arr = [0u8; CHECKPOINT_BYTES];
        arr.copy_from_slice(&out);
        arr
    }

    /// Decodes and verifies a checkpoint file's bytes.
    ///
    /// # Errors
    /// [`CorruptKind::BadFile`] for a wrong size, magic, version or CRC.
    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptKind> {
        if bytes.len() != CHECKPOINT_BYTES {
            return Err(CorruptKind::BadFile("checkpoint has the wrong size"));
        }
        let (body, crc) = bytes.split_at(CHECKPOINT_BYTES - 4);
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
}
