//! The index checkpoint (Bitcask's hint file): the keydir as of a log
//! offset, so that opening the store reads this file and replays only the
//! log after that offset instead of the whole log.
//!
//! ```text
//! magic           8   "LSKVHNT1"
//! flags           u32 bit 0: event-time keydir (a timestamp per entry)
//! covered_end     u64 log end offset the keydir covers
//! segments        u32 count, then per segment (oldest first):
//!                     base offset u64, size u64, CRC-32C of its last
//!                     (up to) 4 KiB below that size u32
//! live, tombstones                     u64 each
//! arena_len, entries, slots, free, ttl u64 counts
//! arena           arena_len bytes: per entry, in entry order, its key's
//!                 length (LEB128 varint) and bytes (length 0 for a free
//!                 entry), so each entry's key position follows from it
//! entries         16 bytes each: offset u64, pos u32, len_flags u32
//! slots           u64 each
//! free            u32 each
//! ts              i64 each, one per entry (event-time only)
//! ttl             (entry u32, expires_at_ms i64) each
//! crc             u32 CRC-32C of everything before it
//! ```
//! All integers little-endian. The file is written to a temporary name,
//! fsynced, renamed over the old one and the directory fsynced, so a crash
//! leaves the old or the new checkpoint. On open it is used only if its CRC
//! holds and every segment it lists is still there with the same base, at
//! least the same size (only the last may have grown) and the same tail
//! bytes: a log that was compacted, truncated or cut since fails this, and
//! the keydir is rebuilt from the log.

use std::path::Path;

use logsync_storage::fs::{FileSystem, FsFile, OpenMode, read_exact_at, read_up_to, write_atomic};
use logsync_storage::segment::Segment;

use crate::error::{Error, Result};
use crate::keydir::{Entry, KeyDir, key_in, push_key};

/// Bytes of one entry in the file (its key position is implied).
const ENTRY_FILE_BYTES: usize = 16;

/// File name of the checkpoint inside the partition directory.
pub const HINT_FILE: &str = "kv.hint";
const MAGIC: &[u8; 8] = b"LSKVHNT1";
/// Bytes at the end of a segment whose CRC identifies its contents.
const TAIL_BYTES: u64 = 4096;

/// One segment as the checkpoint saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentMark {
    pub base: u64,
    pub size: u64,
    pub tail_crc: u32,
}

impl SegmentMark {
    /// Reads the mark of `seg` at `size` bytes.
    pub fn of(seg: &Segment, size: u64) -> std::io::Result<SegmentMark> {
        let n = size.min(TAIL_BYTES);
        let mut buf = vec![0u8; n as usize];
        read_exact_at(seg.log_file().as_ref(), &mut buf, size - n)?;
        Ok(SegmentMark {
            base: seg.base_offset(),
            size,
            tail_crc: crc32c::crc32c(&buf),
        })
    }
}

/// A decoded checkpoint.
#[derive(Debug)]
pub(crate) struct Hint {
    pub covered_end: u64,
    pub segments: Vec<SegmentMark>,
    pub keydir: KeyDir,
}

/// Why a checkpoint was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unusable {
    Missing,
    Damaged(&'static str),
    Stale(&'static str),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Missing => f.write_str("no checkpoint"),
            Unusable::Damaged(why) => write!(f, "damaged checkpoint: {why}"),
            Unusable::Stale(why) => write!(f, "checkpoint does not match the log: {why}"),
        }
    }
}

pub(crate) fn encode(covered_end: u64, segments: &[SegmentMark], kd: &KeyDir) -> Vec<u8> {
    // The arena in entry order, without removed keys.
    let mut is_free = vec![false; kd.entries.len()];
    for &f in &kd.free {
        if let Some(x) = is_free.get_mut(f as usize) {
            *x = true;
        }
    }
    let mut arena = Vec::with_capacity(kd.arena.len());
    for (e, free) in kd.entries.iter().zip(&is_free) {
        let key = if *free {
            &[][..]
        } else {
            key_in(&kd.arena, e.key_at)
        };
        push_key(&mut arena, key);
    }
    let mut out = Vec::with_capacity(
        128 + segments.len() * 20
            + arena.len()
            + kd.entries.len() * (ENTRY_FILE_BYTES + 8)
            + kd.slots.len() * 8
            + kd.free.len() * 4
            + kd.expiry.len() * 12,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&u32::from(kd.event_time).to_le_bytes());
    out.extend_from_slice(&covered_end.to_le_bytes());
    out.extend_from_slice(&(segments.len() as u32).to_le_bytes());
    for s in segments {
        out.extend_from_slice(&s.base.to_le_bytes());
        out.extend_from_slice(&s.size.to_le_bytes());
        out.extend_from_slice(&s.tail_crc.to_le_bytes());
    }
    for n in [
        kd.live,
        kd.tombstones,
        arena.len() as u64,
        kd.entries.len() as u64,
        kd.slots.len() as u64,
        kd.free.len() as u64,
        kd.expiry.len() as u64,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&arena);
    drop(arena);
    for e in &kd.entries {
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.pos.to_le_bytes());
        out.extend_from_slice(&e.len_flags.to_le_bytes());
    }
    for s in &kd.slots {
        out.extend_from_slice(&s.to_le_bytes());
    }
    for f in &kd.free {
        out.extend_from_slice(&f.to_le_bytes());
    }
    if kd.event_time {
        for t in &kd.ts {
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
    let mut ttl: Vec<(&u32, &i64)> = kd.expiry.iter().collect();
    ttl.sort_unstable();
    for (idx, at) in ttl {
        out.extend_from_slice(&idx.to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Where a checkpoint is decoded from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// In memory (the unit tests).
    #[cfg(test)]
    Bytes(&'a [u8]),
    File(&'a dyn FsFile),
}

/// Bytes read from the file at a time.
const CHUNK: usize = 1 << 20;

/// Reads one byte range of a checkpoint front to back in chunks, computing
/// the CRC of what it consumed, so that loading never holds a second copy
/// of the whole file (at 10M keys it is ~450 MB, and fresh memory costs
/// page faults). Everything is bounds-checked: the bytes are untrusted
/// until the CRC holds.
struct Reader<'a> {
    src: Source<'a>,
    /// File position this reader stops at.
    limit: u64,
    /// File position of `buf[0]`.
    pos: u64,
    buf: Vec<u8>,
    at: usize,
    end: usize,
    crc: u32,
}

impl<'a> Reader<'a> {
    fn new(src: Source<'a>, from: u64, limit: u64) -> Self {
        Reader {
            src,
            limit,
            pos: from,
            buf: Vec::new(),
            at: 0,
            end: 0,
            crc: 0,
        }
    }

    /// File position of the next byte.
    fn position(&self) -> u64 {
        self.pos + self.at as u64
    }

    /// Bytes not consumed yet.
    fn left(&self) -> u64 {
        self.limit.saturating_sub(self.position())
    }

    fn fill(&mut self, n: usize) -> Result<(), Unusable> {
        self.buf.copy_within(self.at..self.end, 0);
        self.pos += self.at as u64;
        self.end -= self.at;
        self.at = 0;
        let rest = usize::try_from(self.limit - self.pos).unwrap_or(usize::MAX);
        let want = n.max(CHUNK.min(rest));
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.end < n {
            let from = self.pos + self.end as u64;
            let room_len = (self.buf.len() - self.end).min(rest - self.end);
            let room = self
                .buf
                .get_mut(self.end..self.end + room_len)
                .unwrap_or_default();
            let got = match self.src {
                #[cfg(test)]
                Source::Bytes(b) => {
                    let rest = usize::try_from(from)
                        .ok()
                        .and_then(|f| b.get(f..))
                        .unwrap_or_default();
                    let k = rest.len().min(room.len());
                    room.get_mut(..k)
                        .unwrap_or_default()
                        .copy_from_slice(rest.get(..k).unwrap_or_default());
                    k
                }
                Source::File(f) => {
                    read_up_to(f, room, from).map_err(|_| Unusable::Damaged("cannot read"))?
                }
            };
            if got == 0 {
                return Err(Unusable::Damaged("truncated"));
            }
            self.end += got;
        }
        Ok(())
    }

    /// The next `n` bytes, added to the CRC.
    fn take(&mut self, n: usize) -> Result<&[u8], Unusable> {
        if (n as u64) > self.left() {
            return Err(Unusable::Damaged("truncated"));
        }
        if self.end - self.at < n {
            self.fill(n)?;
        }
        let b = self
            .buf
            .get(self.at..self.at + n)
            .ok_or(Unusable::Damaged("truncated"))?;
        self.at += n;
        self.crc = crc32c::crc32c_append(self.crc, b);
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, Unusable> {
        Ok(le_u32(self.take(4)?, 0))
    }

    fn u64(&mut self) -> Result<u64, Unusable> {
        Ok(le_u64(self.take(8)?, 0))
    }

    /// A count of items of `size` bytes that must fit in what is left.
    fn count(&mut self, size: usize) -> Result<usize, Unusable> {
        let n = usize::try_from(self.u64()?).map_err(|_| Unusable::Damaged("count"))?;
        if (n as u64).saturating_mul(size as u64) > self.left() {
            return Err(Unusable::Damaged("count larger than the file"));
        }
        Ok(n)
    }

    /// Passes `n` items of `size` bytes to `f`, a chunk at a time.
    fn items(&mut self, n: usize, size: usize, mut f: impl FnMut(&[u8])) -> Result<(), Unusable> {
        let per_chunk = (CHUNK / size).max(1);
        let mut left = n;
        while left > 0 {
            let k = left.min(per_chunk);
            for item in self.take(k * size)?.chunks_exact(size) {
                f(item);
            }
            left -= k;
        }
        Ok(())
    }
}

/// Where the key stored at `at` in `arena` ends, `None` if it overruns.
fn key_end(arena: &[u8], at: usize) -> Option<usize> {
    let mut len = 0usize;
    let mut i = at;
    for shift in (0..35).step_by(7) {
        let b = *arena.get(i)?;
        i += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let end = i.checked_add(len)?;
            return (end <= arena.len()).then_some(end);
        }
    }
    None
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

#[cfg(test)]
pub(crate) fn decode(bytes: &[u8]) -> Result<Hint, Unusable> {
    decode_from(Source::Bytes(bytes), bytes.len() as u64)
}

/// The counts in a checkpoint's header.
struct Counts {
    arena: usize,
    entries: usize,
    slots: usize,
    free: usize,
    ttl: usize,
}

/// What the second loading thread decodes: the arena and the hash table.
struct ArenaAndSlots {
    arena: Vec<u8>,
    arena_crc: u32,
    slots: Vec<u64>,
    slots_crc: u32,
    occupied: u64,
    bad_slot: bool,
}

fn read_arena_and_slots(
    src: Source<'_>,
    arena_at: u64,
    slots_at: u64,
    c: &Counts,
) -> Result<ArenaAndSlots, Unusable> {
    let mut r = Reader::new(src, arena_at, arena_at + c.arena as u64);
    let mut arena = Vec::with_capacity(c.arena);
    let mut left = c.arena;
    while left > 0 {
        let k = left.min(CHUNK);
        arena.extend_from_slice(r.take(k)?);
        left -= k;
    }
    let arena_crc = r.crc;
    let mut r = Reader::new(src, slots_at, slots_at + c.slots as u64 * 8);
    let mut slots = Vec::with_capacity(c.slots);
    let (mut occupied, mut bad_slot) = (0u64, false);
    r.items(c.slots, 8, |b| {
        let s = le_u64(b, 0);
        if s != 0 {
            occupied += 1;
            let idx = s as u32;
            bad_slot |= idx == 0 || idx as usize > c.entries;
        }
        slots.push(s);
    })?;
    Ok(ArenaAndSlots {
        arena,
        arena_crc,
        slots,
        slots_crc: r.crc,
        occupied,
        bad_slot,
    })
}

/// Decodes a checkpoint of `len` bytes. The sections are read by two
/// threads (the arena and the hash table in one, the entries and the rest
/// in the other): most of the time goes into faulting in fresh memory, and
/// the CRCs of the parts are combined into the file's.
fn decode_from(src: Source<'_>, len: u64) -> Result<Hint, Unusable> {
    let body_end = len.checked_sub(4).ok_or(Unusable::Damaged("truncated"))?;
    let mut r = Reader::new(src, 0, body_end);
    if r.take(8)? != MAGIC {
        return Err(Unusable::Damaged("bad magic"));
    }
    let flags = r.u32()?;
    let event_time = flags & 1 != 0;
    let covered_end = r.u64()?;
    let nseg = r.u32()? as usize;
    if (nseg as u64).saturating_mul(20) > r.left() {
        return Err(Unusable::Damaged("segment count larger than the file"));
    }
    let mut segments = Vec::with_capacity(nseg);
    for _ in 0..nseg {
        segments.push(SegmentMark {
            base: r.u64()?,
            size: r.u64()?,
            tail_crc: r.u32()?,
        });
    }
    let live = r.u64()?;
    let tombstones = r.u64()?;
    let c = Counts {
        arena: r.count(1)?,
        entries: r.count(ENTRY_FILE_BYTES)?,
        slots: r.count(8)?,
        free: r.count(4)?,
        ttl: r.count(12)?,
    };
    if c.entries > u32::MAX as usize - 1 || !c.slots.is_power_of_two() {
        return Err(Unusable::Damaged("table sizes"));
    }
    let ts_len = if event_time { c.entries * 8 } else { 0 };
    let arena_at = r.position();
    let entries_at = arena_at + c.arena as u64;
    let slots_at = entries_at + (c.entries * ENTRY_FILE_BYTES) as u64;
    let rest_at = slots_at + c.slots as u64 * 8;
    let rest_len = (c.free * 4 + ts_len + c.ttl * 12) as u64;
    if rest_at.checked_add(rest_len) != Some(body_end) {
        return Err(Unusable::Damaged("section sizes do not add up to the file"));
    }
    let header_crc = r.crc;
    let (other, mine) = std::thread::scope(|scope| {
        let other = scope.spawn(|| read_arena_and_slots(src, arena_at, slots_at, &c));
        let mine = (|| -> Result<_, Unusable> {
            let mut r = Reader::new(src, entries_at, slots_at);
            let mut entries = Vec::with_capacity(c.entries);
            r.items(c.entries, ENTRY_FILE_BYTES, |b| {
                entries.push(Entry {
                    key_at: 0,
                    offset: le_u64(b, 0),
                    pos: le_u32(b, 8),
                    len_flags: le_u32(b, 12),
                });
            })?;
            let entries_crc = r.crc;
            let mut r = Reader::new(src, rest_at, body_end);
            let mut free = Vec::with_capacity(c.free);
            r.items(c.free, 4, |b| free.push(le_u32(b, 0)))?;
            let mut ts = Vec::new();
            if event_time {
                ts.reserve_exact(c.entries);
                r.items(c.entries, 8, |b| ts.push(le_u64(b, 0) as i64))?;
            }
            let mut expiry = std::collections::HashMap::with_capacity(c.ttl);
            r.items(c.ttl, 12, |b| {
                expiry.insert(le_u32(b, 0), le_u64(b, 4) as i64);
            })?;
            Ok((entries, entries_crc, free, ts, expiry, r.crc))
        })();
        let other = other
            .join()
            .unwrap_or(Err(Unusable::Damaged("loading thread failed")));
        (other, mine)
    });
    let other = other?;
    let (mut entries, entries_crc, free, ts, expiry, rest_crc) = mine?;
    let mut crc = header_crc;
    for (part, part_len) in [
        (other.arena_crc, c.arena),
        (entries_crc, c.entries * ENTRY_FILE_BYTES),
        (other.slots_crc, c.slots * 8),
        (rest_crc, rest_len as usize),
    ] {
        crc = crc32c::crc32c_combine(crc, part, part_len);
    }
    let mut r = Reader::new(src, body_end, len);
    if le_u32(r.take(4)?, 0) != crc {
        return Err(Unusable::Damaged("CRC mismatch"));
    }
    // Each entry's key follows the previous one's in the arena.
    let arena = other.arena;
    let mut key_at = 0usize;
    for e in &mut entries {
        e.key_at = key_at as u64;
        key_at = key_end(&arena, key_at).ok_or(Unusable::Damaged("keys overrun the arena"))?;
    }
    if key_at != arena.len() {
        return Err(Unusable::Damaged("keys do not match the entries"));
    }
    if other.bad_slot {
        return Err(Unusable::Damaged("slot names no entry"));
    }
    if other.occupied != live || tombstones > live {
        return Err(Unusable::Damaged("key counts"));
    }
    Ok(Hint {
        covered_end,
        segments,
        keydir: KeyDir {
            event_time,
            arena,
            entries,
            slots: other.slots,
            live,
            tombstones,
            free,
            garbage: 0,
            ts,
            expiry,
        },
    })
}

/// Writes the checkpoint atomically.
pub(crate) fn write(fs: &dyn FileSystem, path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(fs, path, bytes).map_err(|e| Error::io("write", path, e))
}

/// Reads and decodes the checkpoint file, `Missing` if there is none.
pub(crate) fn load(fs: &dyn FileSystem, path: &Path) -> Result<Hint, Unusable> {
    if !fs.exists(path) {
        return Err(Unusable::Missing);
    }
    let file = fs
        .open(path, OpenMode::Read)
        .map_err(|_| Unusable::Damaged("cannot open"))?;
    let len = file.len().map_err(|_| Unusable::Damaged("cannot stat"))?;
    decode_from(Source::File(file.as_ref()), len)
}

/// Whether the log still holds what the checkpoint covered: returns where
/// to resume (index into `current` and file position in that segment).
pub(crate) fn resume_point(
    marks: &[SegmentMark],
    current: &[std::sync::Arc<Segment>],
) -> Result<(usize, u64), Unusable> {
    let Some((last, _)) = marks.split_last() else {
        return Ok((0, 0));
    };
    for (i, m) in marks.iter().enumerate() {
        let seg = current
            .get(i)
            .filter(|s| s.base_offset() == m.base)
            .ok_or(Unusable::Stale("segment list changed"))?;
        let size = seg.size();
        let is_last = std::ptr::eq(m, last);
        if size < m.size || (!is_last && size != m.size) {
            return Err(Unusable::Stale("segment size changed"));
        }
        let now =
            SegmentMark::of(seg, m.size).map_err(|_| Unusable::Stale("segment unreadable"))?;
        if now.tail_crc != m.tail_crc {
            return Err(Unusable::Stale("segment bytes changed"));
        }
    }
    Ok((marks.len() - 1, last.size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keydir::Update;

    fn sample() -> Vec<u8> {
        let mut kd = KeyDir::new(true);
        for i in 0..50u64 {
            kd.upsert(
                format!("k{i}").as_bytes(),
                Update {
                    entry: Entry::at(i, i as u32 * 30, 30),
                    timestamp: i as i64 * 1000,
                    expires: (i % 7 == 0).then_some(99),
                },
            );
        }
        kd.remove(b"k3");
        let marks = [SegmentMark {
            base: 0,
            size: 1500,
            tail_crc: 7,
        }];
        encode(50, &marks, &kd)
    }

    #[test]
    fn decode_of_encode_gives_the_same_keydir() {
        let bytes = sample();
        let hint = decode(&bytes).expect("decodes");
        assert_eq!(hint.covered_end, 50);
        assert_eq!(hint.segments.len(), 1);
        assert_eq!(hint.keydir.len(), 49);
        let (idx, e) = hint.keydir.get(b"k14").expect("k14");
        assert_eq!(e.offset, 14);
        assert_eq!(hint.keydir.timestamp(idx), Some(14_000));
        assert_eq!(hint.keydir.expiry(idx), Some(99));
        assert!(hint.keydir.get(b"k3").is_none());
        assert_eq!(encode(50, &hint.segments, &hint.keydir), bytes);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused_without_panic() {
        let bytes = sample();
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            assert!(decode(&bad).is_err(), "flip at {i}");
        }
    }
}
