//! The keydir (Bitcask's name): an in-memory hash index from each key to the
//! location of its visible record.
//!
//! Built for tens of millions of keys, so it avoids a heap allocation per
//! key:
//! - `arena`: every key's bytes, each preceded by its length as a LEB128
//!   varint, appended one after the other;
//! - `entries`: one 24-byte [`Entry`] per key (arena position, record
//!   offset, file position and length of the record);
//! - `slots`: an open-addressing table (linear probing, at most 3/4 full,
//!   backward-shift deletion) of `u64`s, each the upper 32 bits of the key's
//!   hash (its tag; the home slot is `tag & mask`) and the entry index + 1
//!   (0 marks an empty slot);
//! - `ts`, only in event-time mode: the visible record's timestamp;
//! - `expiry`: the expiry time of the (few) keys that have a TTL.
//!
//! Memory per key: 24 (entry) + 8/load (slot, load between 3/8 and 3/4, so
//! 10.7-21.3) + key length + 1, plus 8 in event-time mode and ~24 for a key
//! with a TTL. `logsync bench kv` measures 54.4 bytes a key on 10 million
//! 16-byte keys opened from the checkpoint (82 while loading, when the
//! vectors have grown by doubling).

use std::collections::HashMap;

/// The record is a tombstone (kept only in event-time mode, where it must
/// keep beating older late events).
pub(crate) const FLAG_TOMBSTONE: u32 = 1 << 31;
/// The record lies in a compressed batch: no file position; read by offset.
pub(crate) const FLAG_UNPOSITIONED: u32 = 1 << 30;
/// The key has an expiry time in `KeyDir::expiry` (so that a `get` of a
/// key without one does not look there).
pub(crate) const FLAG_TTL: u32 = 1 << 29;
/// Bits of `len_flags` holding the record length.
pub(crate) const LEN_MASK: u32 = FLAG_TTL - 1;

/// Where a key's visible record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Entry {
    /// Position of the key (its varint length first) in the arena.
    pub key_at: u64,
    /// The record's offset (which segment holds it follows from it).
    pub offset: u64,
    /// File position of the record (its length varint) in its segment.
    pub pos: u32,
    /// Record length in bytes (including its length varint), and flags.
    pub len_flags: u32,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 24);

/// Bytes one entry takes in memory and in the checkpoint.
pub(crate) const ENTRY_BYTES: usize = 24;

impl Entry {
    /// A record at a known place.
    pub fn at(offset: u64, pos: u32, len: u32) -> Entry {
        let len_flags = if len > LEN_MASK {
            FLAG_UNPOSITIONED
        } else {
            len
        };
        Entry {
            key_at: 0,
            offset,
            pos,
            len_flags,
        }
    }

    /// A record found only by its offset (inside a compressed batch).
    pub fn unpositioned(offset: u64) -> Entry {
        Entry {
            key_at: 0,
            offset,
            pos: 0,
            len_flags: FLAG_UNPOSITIONED,
        }
    }

    /// A tombstone (event-time mode).
    pub fn tombstone(offset: u64) -> Entry {
        Entry {
            key_at: 0,
            offset,
            pos: 0,
            len_flags: FLAG_TOMBSTONE,
        }
    }

    /// Whether the key has an expiry time.
    pub fn has_ttl(self) -> bool {
        self.len_flags & FLAG_TTL != 0
    }

    pub fn is_tombstone(self) -> bool {
        self.len_flags & FLAG_TOMBSTONE != 0
    }

    /// File position and length, unless the record must be read by offset.
    pub fn place(self) -> Option<(u32, u32)> {
        (self.len_flags & (FLAG_TOMBSTONE | FLAG_UNPOSITIONED) == 0)
            .then_some((self.pos, self.len_flags & LEN_MASK))
    }
}

/// What to record for a key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Update {
    pub entry: Entry,
    /// Record timestamp (kept in event-time mode only).
    pub timestamp: i64,
    /// Expiry time, if the record has a TTL.
    pub expires: Option<i64>,
}

/// The keydir; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct KeyDir {
    pub event_time: bool,
    pub arena: Vec<u8>,
    pub entries: Vec<Entry>,
    pub slots: Vec<u64>,
    /// Keys in the table (tombstones included).
    pub live: u64,
    /// Of which tombstones.
    pub tombstones: u64,
    /// Entry indexes no key uses.
    pub free: Vec<u32>,
    /// Arena bytes of removed keys.
    pub garbage: u64,
    pub ts: Vec<i64>,
    pub expiry: HashMap<u32, i64>,
}

const MIN_SLOTS: usize = 1024;

pub(crate) fn hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

fn tag_of(slot: u64) -> u32 {
    (slot >> 32) as u32
}

/// Reads the key stored at `at` in `arena` (empty if out of bounds).
pub(crate) fn key_in(arena: &[u8], at: u64) -> &[u8] {
    let Ok(at) = usize::try_from(at) else {
        return &[];
    };
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = at;
    loop {
        let Some(&b) = arena.get(i) else {
            return &[];
        };
        i += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 || shift > 28 {
            break;
        }
        shift += 7;
    }
    arena.get(i..i.saturating_add(len)).unwrap_or_default()
}

pub(crate) fn push_key(arena: &mut Vec<u8>, key: &[u8]) -> u64 {
    let at = arena.len() as u64;
    let mut n = key.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            arena.push(b);
            break;
        }
        arena.push(b | 0x80);
    }
    arena.extend_from_slice(key);
    at
}

impl KeyDir {
    pub fn new(event_time: bool) -> KeyDir {
        KeyDir {
            event_time,
            slots: vec![0; MIN_SLOTS],
            ..KeyDir::default()
        }
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Walks the probe sequence of hash tag `tag`, calling `f(slot, entry
    /// index)` for each slot holding that tag, until `f` breaks or an empty
    /// slot ends the sequence.
    #[inline]
    fn walk<R>(
        &self,
        tag: u32,
        mut f: impl FnMut(usize, u32) -> std::ops::ControlFlow<R>,
    ) -> Option<R> {
        let mask = self.mask();
        let mut i = tag as usize & mask;
        for _ in 0..self.slots.len() {
            let s = *self.slots.get(i)?;
            if s == 0 {
                return None;
            }
            if tag_of(s) == tag
                && let std::ops::ControlFlow::Break(r) = f(i, (s as u32).wrapping_sub(1))
            {
                return Some(r);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The slot index and entry index of `key`.
    fn find(&self, key: &[u8], h: u64) -> Option<(usize, u32)> {
        self.walk((h >> 32) as u32, |i, idx| {
            match self.entries.get(idx as usize) {
                Some(e) if key_in(&self.arena, e.key_at) == key => {
                    std::ops::ControlFlow::Break((i, idx))
                }
                _ => std::ops::ControlFlow::Continue(()),
            }
        })
    }

    /// Calls `f` with each entry whose 32-bit hash tag is `key`'s, in probe
    /// order, until it breaks (almost always there is one such entry; more
    /// only when tags collide). `f` must check the key: `get` checks it in
    /// the record it reads, sparing a cache miss in the arena.
    pub fn probe<R>(
        &self,
        key: &[u8],
        mut f: impl FnMut(u32, Entry) -> std::ops::ControlFlow<R>,
    ) -> Option<R> {
        self.walk((hash(key) >> 32) as u32, |_, idx| {
            match self.entries.get(idx as usize) {
                Some(&e) => f(idx, e),
                None => std::ops::ControlFlow::Continue(()),
            }
        })
    }

    /// The key of an entry.
    pub fn key_of(&self, e: Entry) -> &[u8] {
        key_in(&self.arena, e.key_at)
    }

    /// The entry of `key`, with its index.
    pub fn get(&self, key: &[u8]) -> Option<(u32, Entry)> {
        let (_, idx) = self.find(key, hash(key))?;
        Some((idx, *self.entries.get(idx as usize)?))
    }

    pub fn timestamp(&self, idx: u32) -> Option<i64> {
        self.ts.get(idx as usize).copied()
    }

    pub fn expiry(&self, idx: u32) -> Option<i64> {
        let has = self.entries.get(idx as usize).is_some_and(|e| e.has_ttl());
        if has {
            self.expiry.get(&idx).copied()
        } else {
            None
        }
    }

    /// Keys in the table, tombstones excluded (expired keys included).
    pub fn len(&self) -> u64 {
        self.live - self.tombstones
    }

    fn grow_if_needed(&mut self) {
        if (self.live as usize + 1) * 4 <= self.slots.len() * 3 {
            return;
        }
        let new_len = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; new_len]);
        let mask = new_len - 1;
        for s in old.into_iter().filter(|&s| s != 0) {
            let mut i = tag_of(s) as usize & mask;
            while self.slots.get(i).is_some_and(|&x| x != 0) {
                i = (i + 1) & mask;
            }
            if let Some(slot) = self.slots.get_mut(i) {
                *slot = s;
            }
        }
    }

    /// Sets the entry of `key`; returns the previous one.
    pub fn upsert(&mut self, key: &[u8], u: Update) -> Option<Entry> {
        let h = hash(key);
        if let Some((_, idx)) = self.find(key, h) {
            let slot = self.entries.get_mut(idx as usize)?;
            let prev = *slot;
            // The TTL flag stays until `set_extras` settles it, so that it
            // removes a stale expiry time.
            *slot = Entry {
                key_at: prev.key_at,
                len_flags: u.entry.len_flags | (prev.len_flags & FLAG_TTL),
                ..u.entry
            };
            match (prev.is_tombstone(), u.entry.is_tombstone()) {
                (false, true) => self.tombstones += 1,
                (true, false) => self.tombstones -= 1,
                _ => {}
            }
            self.set_extras(idx, u);
            return Some(prev);
        }
        self.grow_if_needed();
        let key_at = push_key(&mut self.arena, key);
        let entry = Entry { key_at, ..u.entry };
        let idx = match self.free.pop() {
            Some(idx) => {
                if let Some(e) = self.entries.get_mut(idx as usize) {
                    *e = entry;
                }
                idx
            }
            None => {
                self.entries.push(entry);
                if self.event_time {
                    self.ts.push(0);
                }
                (self.entries.len() - 1) as u32
            }
        };
        self.set_extras(idx, u);
        let mask = self.mask();
        let tag = (h >> 32) as u32;
        let mut i = tag as usize & mask;
        while self.slots.get(i).is_some_and(|&x| x != 0) {
            i = (i + 1) & mask;
        }
        if let Some(s) = self.slots.get_mut(i) {
            *s = (u64::from(tag) << 32) | u64::from(idx + 1);
        }
        self.live += 1;
        if u.entry.is_tombstone() {
            self.tombstones += 1;
        }
        None
    }

    fn set_extras(&mut self, idx: u32, u: Update) {
        if self.event_time
            && let Some(t) = self.ts.get_mut(idx as usize)
        {
            *t = u.timestamp;
        }
        let entry = self.entries.get_mut(idx as usize);
        match u.expires {
            Some(at) => {
                if let Some(e) = entry {
                    e.len_flags |= FLAG_TTL;
                }
                self.expiry.insert(idx, at);
            }
            None => {
                if let Some(e) = entry
                    && e.has_ttl()
                {
                    e.len_flags &= !FLAG_TTL;
                    self.expiry.remove(&idx);
                }
            }
        }
    }

    /// Removes `key`; returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (hole, idx) = self.find(key, hash(key))?;
        let entry = *self.entries.get(idx as usize)?;
        let mask = self.mask();
        let mut i = hole;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = self.slots.get(j).copied().unwrap_or(0);
            if s == 0 {
                break;
            }
            let k = tag_of(s) as usize & mask;
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if stays {
                continue;
            }
            if let Some(x) = self.slots.get_mut(i) {
                *x = s;
            }
            i = j;
        }
        if let Some(x) = self.slots.get_mut(i) {
            *x = 0;
        }
        self.live -= 1;
        if entry.is_tombstone() {
            self.tombstones -= 1;
        }
        self.expiry.remove(&idx);
        self.free.push(idx);
        self.garbage += key.len() as u64 + 1;
        self.maybe_compact_arena();
        Some(entry)
    }

    /// Rewrites the arena without removed keys once they are most of it.
    fn maybe_compact_arena(&mut self) {
        if self.garbage < (1 << 20) || self.garbage * 2 < self.arena.len() as u64 {
            return;
        }
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage as usize);
        for &s in &self.slots {
            if s == 0 {
                continue;
            }
            let idx = (s as u32).wrapping_sub(1) as usize;
            if let Some(e) = self.entries.get_mut(idx) {
                e.key_at = push_key(&mut arena, key_in(&self.arena, e.key_at));
            }
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// Every key in the table with its entry index and entry (unordered).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u32, Entry)> + '_ {
        self.slots.iter().filter(|&&s| s != 0).filter_map(|&s| {
            let idx = (s as u32).wrapping_sub(1);
            let e = *self.entries.get(idx as usize)?;
            Some((key_in(&self.arena, e.key_at), idx, e))
        })
    }

    /// Heap bytes held.
    pub fn memory_bytes(&self) -> u64 {
        let map_entry = std::mem::size_of::<(u32, i64)>() + 1;
        (self.arena.capacity()
            + self.entries.capacity() * ENTRY_BYTES
            + self.slots.capacity() * 8
            + self.free.capacity() * 4
            + self.ts.capacity() * 8
            + self.expiry.capacity() * map_entry) as u64
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn put(offset: u64) -> Update {
        Update {
            entry: Entry::at(offset, offset as u32 * 10, 7),
            timestamp: offset as i64,
            expires: None,
        }
    }

    #[test]
    fn keys_of_any_length_are_stored_and_found() {
        let mut kd = KeyDir::new(false);
        let keys: Vec<Vec<u8>> = (0..300).map(|n| vec![b'k'; n]).collect();
        for (i, k) in keys.iter().enumerate().skip(1) {
            assert_eq!(kd.upsert(k, put(i as u64)), None);
        }
        for (i, k) in keys.iter().enumerate().skip(1) {
            assert_eq!(kd.get(k).map(|(_, e)| e.offset), Some(i as u64));
        }
        assert_eq!(kd.len(), 299);
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u16..400, any::<bool>()), 0..3000)) {
            let mut kd = KeyDir::new(true);
            let mut model = BTreeMap::new();
            for (n, (k, insert)) in ops.into_iter().enumerate() {
                let key = format!("key-{k}");
                if insert {
                    let expires = (n % 3 == 0).then_some(n as i64);
                    kd.upsert(key.as_bytes(), Update { expires, ..put(n as u64) });
                    model.insert(key, n as u64);
                } else {
                    prop_assert_eq!(kd.remove(key.as_bytes()).map(|e| e.offset), model.remove(&key));
                }
            }
            prop_assert_eq!(kd.len(), model.len() as u64);
            let with_ttl = model.values().filter(|&&o| o % 3 == 0).count();
            prop_assert_eq!(kd.expiry.len(), with_ttl, "no stale expiry times");
            for (k, &off) in &model {
                let (idx, e) = kd.get(k.as_bytes()).expect("present");
                prop_assert_eq!(e.offset, off);
                prop_assert_eq!(kd.timestamp(idx), Some(off as i64));
                prop_assert_eq!(kd.expiry(idx), (off % 3 == 0).then_some(off as i64));
            }
            let mut listed: Vec<(Vec<u8>, u64)> = kd.iter().map(|(k, _, e)| (k.to_vec(), e.offset)).collect();
            listed.sort();
            let expected: Vec<(Vec<u8>, u64)> = model.iter().map(|(k, &o)| (k.clone().into_bytes(), o)).collect();
            prop_assert_eq!(listed, expected);
        }
    }

    #[test]
    fn removed_key_space_is_given_back() {
        let mut kd = KeyDir::new(false);
        let big = vec![b'x'; 4096];
        for round in 0..1000u64 {
            let mut key = big.clone();
            key.extend_from_slice(&round.to_be_bytes());
            kd.upsert(&key, put(round));
            assert!(kd.remove(&key).is_some());
        }
        assert_eq!(kd.len(), 0);
        assert!(kd.arena.len() < 2 << 20, "arena {}", kd.arena.len());
        kd.upsert(b"a", put(1));
        assert_eq!(kd.get(b"a").map(|(_, e)| e.offset), Some(1));
    }
}
