//! `.timeindex` entries: both directions of the 12-byte format.

/// Bytes per `.timeindex` entry.
pub const TIME_ENTRY_BYTES: usize = 12;
const _: () = assert!(TIME_ENTRY_BYTES == 12);

/// One time index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Greatest record timestamp in the segment up to this batch.
    pub timestamp: i64,
    /// Last offset of the batch holding that timestamp, relative to the base.
    pub relative_offset: u32,
}

impl TimeEntry {
    /// The on-disk bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; TIME_ENTRY_BYTES] {
        let mut out = [0u8; TIME_ENTRY_BYTES];
        let (a, b) = out.split_at_mut(8);
        a.copy_from_slice(&self.timestamp.to_be_bytes());
        b.copy_from_slice(&self.relative_offset.to_be_bytes());
        out
    }

    /// Decodes every whole entry of a time index file's bytes.
    #[must_use]
    pub fn decode_all(bytes: &[u8]) -> Vec<TimeEntry> {
        bytes
            .chunks_exact(TIME_ENTRY_BYTES)
            .filter_map(|c| {
                let (a, b) = c.split_first_chunk::<8>()?;
                Some(TimeEntry {
                    timestamp: i64::from_be_bytes(*a),
                    relative_offset: u32::from_be_bytes(b.try_into().ok()?),
                })
            })
            .collect()
    }

    /// Kafka's sanity rule: timestamps strictly increase and offsets do not
    /// decrease; offsets stay below `max_relative_offset`.
    #[must_use]
    pub fn is_sane(entries: &[TimeEntry], max_relative_offset: u32) -> bool {
        entries.windows(2).all(|w| match w {
            [a, b] => b.follows(a),
            _ => true,
        }) && entries
            .iter()
            .all(|e| e.relative_offset <= max_relative_offset)
    }

    /// Kafka's ordering rule between neighbours: the timestamp of `self` is
    /// strictly greater than `prev`'s and its offset is not smaller.
    #[must_use]
    pub fn follows(&self, prev: &TimeEntry) -> bool {
        self.timestamp > prev.timestamp && self.relative_offset >= prev.relative_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let e = TimeEntry {
            timestamp: -5,
            relative_offset: 77,
        };
        assert_eq!(TimeEntry::decode_all(&e.encode()), vec![e]);
        assert!(TimeEntry::is_sane(
            &[
                e,
                TimeEntry {
                    timestamp: 10,
                    relative_offset: 77
                }
            ],
            80
        ));
        assert!(!TimeEntry::is_sane(&[e, e], 80));
    }
}
