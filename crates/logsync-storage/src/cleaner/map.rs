//! The cleaner's key map: a fixed-budget open-addressing table from a
//! 128-bit hash of each key to the offset and timestamp of the record that
//! wins for that key ("latest" by offset or by timestamp).
//!
//! Memory per key is [`SLOT_BYTES`] at a load of at most 9/10; the table
//! starts small and doubles up to the configured budget, so a pass over few
//! keys uses little memory. 128-bit hashes (xxh3) make a collision, which
//! would let one key's record stand for another's, vanishingly unlikely
//! (about 2^-88 for 10^6 keys; Kafka's cleaner makes the same trade with
//! 128-bit MD5).

use crate::config::CompactionStrategy;

/// Bytes per table slot: hash (16), offset (8), timestamp (8).
pub const SLOT_BYTES: u64 = 32;
/// Slots a map starts with (fewer if the budget is smaller).
const MIN_SLOTS: usize = 1024;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// 0 = empty (a real hash of 0 is stored as 1).
    hash: u128,
    offset: u64,
    timestamp: i64,
}

/// The winning record of a key, as the map holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Winner {
    /// Its offset.
    pub offset: u64,
    /// Its timestamp.
    pub timestamp: i64,
}

impl Winner {
    /// Whether `self` beats (or is) `other` under `strategy`.
    #[must_use]
    pub fn at_least(self, other: Winner, strategy: CompactionStrategy) -> bool {
        match strategy {
            CompactionStrategy::Offset => self.offset >= other.offset,
            CompactionStrategy::Timestamp => {
                (self.timestamp, self.offset) >= (other.timestamp, other.offset)
            }
        }
    }
}

/// Hashes a record key for the map.
#[must_use]
pub fn key_hash(key: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key).max(1)
}

/// See the module docs.
#[derive(Debug)]
pub struct KeyMap {
    slots: Vec<Slot>,
    len: usize,
    max_slots: usize,
    strategy: CompactionStrategy,
}

impl KeyMap {
    /// A map that may grow to `budget_bytes`.
    #[must_use]
    pub fn new(budget_bytes: u64, strategy: CompactionStrategy) -> Self {
        let max = usize::try_from(budget_bytes / SLOT_BYTES).unwrap_or(usize::MAX);
        // Power of two for masking.
        let max_slots = if max.is_power_of_two() {
            max
        } else {
            (max / 2 + 1).next_power_of_two()
        }
        .max(16);
        KeyMap {
            slots: vec![Slot::default(); MIN_SLOTS.min(max_slots)],
            len: 0,
            max_slots,
            strategy,
        }
    }

    /// Keys held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No keys held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most keys the budget allows.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.max_slots / 10 * 9
    }

    /// Keys that can still be added.
    #[must_use]
    pub fn room(&self) -> usize {
        self.capacity().saturating_sub(self.len)
    }

    /// Bytes the table uses now.
    #[must_use]
    pub fn memory_bytes(&self) -> u64 {
        self.slots.len() as u64 * SLOT_BYTES
    }

    fn find(&self, hash: u128) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = (hash as usize) & mask;
        loop {
            match self.slots.get(i) {
                Some(s) if s.hash != 0 && s.hash != hash => i = (i + 1) & mask,
                _ => return i,
            }
        }
    }

    fn grow(&mut self) {
        let bigger = (self.slots.len() * 2).min(self.max_slots);
        if bigger == self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); bigger]);
        for s in old.into_iter().filter(|s| s.hash != 0) {
            let i = self.find(s.hash);
            if let Some(slot) = self.slots.get_mut(i) {
                *slot = s;
            }
        }
    }

    /// Records `w` for the key if it wins over what the map holds. Returns
    /// `false` (changing nothing) if the key is new and the map is full.
    pub fn offer(&mut self, hash: u128, w: Winner) -> bool {
        if (self.len + 1) * 10 > self.slots.len() * 9 {
            self.grow();
        }
        let i = self.find(hash);
        let strategy = self.strategy;
        let full = self.len >= self.capacity();
        let Some(slot) = self.slots.get_mut(i) else {
            return false;
        };
        if slot.hash == hash {
            let held = Winner {
                offset: slot.offset,
                timestamp: slot.timestamp,
            };
            if w.at_least(held, strategy) {
                slot.offset = w.offset;
                slot.timestamp = w.timestamp;
            }
            return true;
        }
        if full {
            return false;
        }
        *slot = Slot {
            hash,
            offset: w.offset,
            timestamp: w.timestamp,
        };
        self.len += 1;
        true
    }

    /// The winner held for a key.
    #[must_use]
    pub fn get(&self, hash: u128) -> Option<Winner> {
        self.slots
            .get(self.find(hash))
            .filter(|s| s.hash == hash)
            .map(|s| Winner {
                offset: s.offset,
                timestamp: s.timestamp,
            })
    }

    /// Replaces the winner of a key already held (no-op otherwise).
    pub fn replace(&mut self, hash: u128, w: Winner) {
        let i = self.find(hash);
        if let Some(slot) = self.slots.get_mut(i).filter(|s| s.hash == hash) {
            slot.offset = w.offset;
            slot.timestamp = w.timestamp;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(offset: u64, timestamp: i64) -> Winner {
        Winner { offset, timestamp }
    }

    #[test]
    fn keeps_the_winner_by_offset_and_by_timestamp() {
        let k = key_hash(b"k");
        let mut by_offset = KeyMap::new(1 << 20, CompactionStrategy::Offset);
        let mut by_time = KeyMap::new(1 << 20, CompactionStrategy::Timestamp);
        for (o, t) in [(1, 50), (2, 10), (3, 50), (4, 20)] {
            assert!(by_offset.offer(k, w(o, t)));
            assert!(by_time.offer(k, w(o, t)));
        }
        assert_eq!(by_offset.get(k), Some(w(4, 20)));
        // Greatest timestamp, the later offset on a tie.
        assert_eq!(by_time.get(k), Some(w(3, 50)));
        assert_eq!(by_time.get(key_hash(b"other")), None);
        by_time.replace(k, w(0, 99));
        assert_eq!(by_time.get(k), Some(w(0, 99)));
    }

    #[test]
    fn grows_to_the_budget_then_refuses_new_keys() {
        let mut m = KeyMap::new(64 * 1024, CompactionStrategy::Offset);
        let cap = m.capacity();
        assert_eq!(cap, 2048 / 10 * 9);
        for i in 0..cap as u64 {
            assert!(m.offer(key_hash(&i.to_be_bytes()), w(i, 0)), "key {i}");
        }
        assert_eq!(m.room(), 0);
        assert!(!m.offer(key_hash(b"one too many"), w(1, 0)));
        // A key already held can still be updated.
        assert!(m.offer(key_hash(&5u64.to_be_bytes()), w(9_999, 0)));
        for i in 0..cap as u64 {
            let want = if i == 5 { 9_999 } else { i };
            assert_eq!(
                m.get(key_hash(&i.to_be_bytes())).map(|x| x.offset),
                Some(want)
            );
        }
        assert!(m.memory_bytes() <= 64 * 1024);
    }
}
