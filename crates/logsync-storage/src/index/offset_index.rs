//! `.index` entries: both directions of the 8-byte format.

/// Bytes per `.index` entry.
pub const OFFSET_ENTRY_BYTES: usize = 8;
const _: () = assert!(OFFSET_ENTRY_BYTES == 8);

/// One offset index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Last offset of the batch, relative to the segment's base offset.
    pub relative_offset: u32,
    /// Byte position of the batch in the `.log` file.
    pub position: u32,
}

impl OffsetEntry {
    /// The on-disk bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; OFFSET_ENTRY_BYTES] {
        let mut out = [0u8; OFFSET_ENTRY_BYTES];
        let (a, b) = out.split_at_mut(4);
        a.copy_from_slice(&self.relative_offset.to_be_bytes());
        b.copy_from_slice(&self.position.to_be_bytes());
        out
    }

    /// Decodes every whole entry of an index file's bytes.
    #[must_use]
    pub fn decode_all(bytes: &[u8]) -> Vec<OffsetEntry> {
        bytes
            .chunks_exact(OFFSET_ENTRY_BYTES)
            .filter_map(|c| {
                let (a, b) = c.split_first_chunk::<4>()?;
                Some(OffsetEntry {
                    relative_offset: u32::from_be_bytes(*a),
                    position: u32::from_be_bytes(b.try_into().ok()?),
                })
            })
            .collect()
    }

    /// Kafka's sanity rule: offsets strictly increase, positions strictly
    /// increase, and every position lies inside the log file.
    #[must_use]
    pub fn is_sane(entries: &[OffsetEntry], log_size: u64) -> bool {
        entries.windows(2).all(|w| match w {
            [a, b] => b.follows(a),
            _ => true,
        }) && entries.iter().all(|e| u64::from(e.position) < log_size)
    }

    /// Kafka's ordering rule between neighbours: both the offset and the
    /// position of `self` lie strictly after those of `prev`.
    #[must_use]
    pub fn follows(&self, prev: &OffsetEntry) -> bool {
        self.relative_offset > prev.relative_offset && self.position > prev.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let e = OffsetEntry {
            relative_offset: 0x0102_0304,
            position: 0xa0b0_c0d0,
        };
        assert_eq!(e.encode(), [1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0]);
        let mut bytes = e.encode().to_vec();
        bytes.extend_from_slice(&[9, 9, 9]); // a torn partial entry is ignored
        assert_eq!(OffsetEntry::decode_all(&bytes), vec![e]);
    }

    #[test]
    fn sanity_rejects_disorder_and_positions_past_the_log() {
        let a = OffsetEntry {
            relative_offset: 1,
            position: 100,
        };
        let b = OffsetEntry {
            relative_offset: 5,
            position: 200,
        };
        assert!(OffsetEntry::is_sane(&[a, b], 300));
        assert!(!OffsetEntry::is_sane(&[b, a], 300));
        assert!(!OffsetEntry::is_sane(&[a, b], 200));
    }
}
