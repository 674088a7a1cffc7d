//! Sparse indexes of a segment, in Kafka's file formats.
//!
//! `.index`: 8-byte entries `(relative offset u32 BE, position u32 BE)`: the
//! batch at `position` has last offset `base + relative offset`.
//! `.timeindex`: 12-byte entries `(timestamp i64 BE, relative offset u32 BE)`:
//! the batch whose last offset is `base + relative offset` has max timestamp
//! `timestamp`, the greatest in the segment up to there.
//!
//! Entries are hints: a lookup checks the batch it lands on and the caller
//! rebuilds the index from the log when a hint is wrong.

mod offset_index;
mod time_index;

pub use offset_index::{OFFSET_ENTRY_BYTES, OffsetEntry};
pub use time_index::{TIME_ENTRY_BYTES, TimeEntry};

/// The in-memory form of both indexes of one segment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Indexes {
    /// Offset index entries, increasing in offset and position.
    pub offsets: Vec<OffsetEntry>,
    /// Time index entries: timestamps strictly increase; offsets never
    /// decrease (two entries may name the same batch, Kafka's rule too).
    pub times: Vec<TimeEntry>,
}

impl Indexes {
    /// The entry to start a scan for `relative_offset` from: the last entry at
    /// or below it.
    #[must_use]
    pub fn offset_lookup(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let i = self
            .offsets
            .partition_point(|e| e.relative_offset <= relative_offset);
        i.checked_sub(1).and_then(|i| self.offsets.get(i)).copied()
    }

    /// The last time entry whose timestamp is below `timestamp`: every record
    /// up to its offset is older than `timestamp`.
    #[must_use]
    pub fn time_lookup_below(&self, timestamp: i64) -> Option<TimeEntry> {
        let i = self.times.partition_point(|e| e.timestamp < timestamp);
        i.checked_sub(1).and_then(|i| self.times.get(i)).copied()
    }

    /// Drops entries for batches at or after `position` / offset `relative_offset`.
    pub fn truncate(&mut self, position: u32, relative_offset: u32) {
        self.offsets.retain(|e| e.position < position);
        self.times.retain(|e| e.relative_offset < relative_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_matches_a_linear_scan() {
        let offsets: Vec<OffsetEntry> = (0..200)
            .map(|i| OffsetEntry {
                relative_offset: i * 10 + 3,
                position: i * 4096,
            })
            .collect();
        let idx = Indexes {
            offsets: offsets.clone(),
            times: Vec::new(),
        };
        for target in 0..2100 {
            let linear = offsets
                .iter()
                .rev()
                .find(|e| e.relative_offset <= target)
                .copied();
            assert_eq!(idx.offset_lookup(target), linear, "{target}");
        }
    }

    #[test]
    fn time_lookup_matches_a_linear_scan() {
        let times: Vec<TimeEntry> = (0..100)
            .map(|i| TimeEntry {
                timestamp: 1000 + i64::from(i) * 5,
                relative_offset: i * 3,
            })
            .collect();
        let idx = Indexes {
            offsets: Vec::new(),
            times: times.clone(),
        };
        for ts in 900..1600 {
            let linear = times.iter().rev().find(|e| e.timestamp < ts).copied();
            assert_eq!(idx.time_lookup_below(ts), linear, "{ts}");
        }
    }
}
