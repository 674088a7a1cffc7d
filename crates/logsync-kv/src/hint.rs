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
//! live, tombstones, garbage            u64 each
//! arena_len, entries, slots, free, ttl u64 counts
//! arena           arena_len bytes (varint length + key, per key)
//! entries         24 bytes each: key_at u64, offset u64, pos u32, len_flags u32
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

use logsync_storage::fs::{FileSystem, OpenMode, read_exact_at, read_up_to, write_atomic};
use logsync_storage::segment::Segment;

use crate::error::{Error, Result};
use crate::keydir::{ENTRY_BYTES, Entry, KeyDir};

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
    let mut out = Vec::with_capacity(
        128 + segments.len() * 20
            + kd.arena.len()
            + kd.entries.len() * (ENTRY_BYTES + 8)
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
        kd.garbage,
        kd.arena.len() as u64,
        kd.entries.len() as u64,
        kd.slots.len() as u64,
        kd.free.len() as u64,
        kd.expiry.len() as u64,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&kd.arena);
    for e in &kd.entries {
        out.extend_from_slice(&e.key_at.to_le_bytes());
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

/// Bounds-checked little-endian reader over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Unusable> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(Unusable::Damaged("length overflow"))?;
        let b = self
            .buf
            .get(self.at..end)
            .ok_or(Unusable::Damaged("truncated"))?;
        self.at = end;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, Unusable> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(
            b.try_into().map_err(|_| Unusable::Damaged("u32"))?,
        ))
    }
    fn u64(&mut self) -> Result<u64, Unusable> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| Unusable::Damaged("u64"))?,
        ))
    }
    /// A count of items of `size` bytes that must fit in what is left.
    fn count(&mut self, size: usize) -> Result<usize, Unusable> {
        let n = usize::try_from(self.u64()?).map_err(|_| Unusable::Damaged("count"))?;
        if n.saturating_mul(size) > self.buf.len().saturating_sub(self.at) {
            return Err(Unusable::Damaged("count larger than the file"));
        }
        Ok(n)
    }
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

pub(crate) fn decode(bytes: &[u8]) -> Result<Hint, Unusable> {
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or(Unusable::Damaged("truncated"))?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(Unusable::Damaged("CRC mismatch"));
    }
    let mut r = Reader { buf: body, at: 0 };
    if r.take(8)? != MAGIC {
        return Err(Unusable::Damaged("bad magic"));
    }
    let flags = r.u32()?;
    let event_time = flags & 1 != 0;
    let covered_end = r.u64()?;
    let nseg = r.u32()? as usize;
    if nseg.saturating_mul(20) > body.len() {
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
    let garbage = r.u64()?;
    let arena_len = r.count(1)?;
    let n_entries = r.count(ENTRY_BYTES)?;
    let n_slots = r.count(8)?;
    let n_free = r.count(4)?;
    let n_ttl = r.count(12)?;
    if n_entries > u32::MAX as usize - 1 || !n_slots.is_power_of_two() {
        return Err(Unusable::Damaged("table sizes"));
    }
    let arena = r.take(arena_len)?.to_vec();
    let raw = r.take(n_entries * ENTRY_BYTES)?;
    let entries: Vec<Entry> = raw
        .chunks_exact(ENTRY_BYTES)
        .map(|c| Entry {
            key_at: le_u64(c, 0),
            offset: le_u64(c, 8),
            pos: le_u32(c, 16),
            len_flags: le_u32(c, 20),
        })
        .collect();
    let raw = r.take(n_slots * 8)?;
    let mut slots = Vec::with_capacity(n_slots);
    let mut occupied = 0u64;
    for c in raw.chunks_exact(8) {
        let s = le_u64(c, 0);
        if s != 0 {
            occupied += 1;
            if (s as u32) as usize > n_entries || s as u32 == 0 {
                return Err(Unusable::Damaged("slot names no entry"));
            }
        }
        slots.push(s);
    }
    if occupied != live || tombstones > live {
        return Err(Unusable::Damaged("key counts"));
    }
    let free: Vec<u32> = r
        .take(n_free * 4)?
        .chunks_exact(4)
        .map(|c| le_u32(c, 0))
        .collect();
    let ts: Vec<i64> = if event_time {
        r.take(n_entries * 8)?
            .chunks_exact(8)
            .map(|c| le_u64(c, 0) as i64)
            .collect()
    } else {
        Vec::new()
    };
    let mut expiry = std::collections::HashMap::with_capacity(n_ttl);
    for _ in 0..n_ttl {
        let idx = r.u32()?;
        let at = r.u64()? as i64;
        expiry.insert(idx, at);
    }
    if r.at != body.len() {
        return Err(Unusable::Damaged("trailing bytes"));
    }
    Ok(Hint {
        covered_end,
        segments,
        keydir: KeyDir {
            event_time,
            arena,
            entries,
            slots,
            live,
            tombstones,
            free,
            garbage,
            ts,
            expiry,
        },
    })
}

/// Writes the checkpoint atomically.
pub(crate) fn write(fs: &dyn FileSystem, path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(fs, path, bytes).map_err(|e| Error::io("write", path, e))
}

/// Reads the checkpoint file, `Missing` if there is none.
pub(crate) fn read(fs: &dyn FileSystem, path: &Path) -> Result<Vec<u8>, Unusable> {
    if !fs.exists(path) {
        return Err(Unusable::Missing);
    }
    let file = fs
        .open(path, OpenMode::Read)
        .map_err(|_| Unusable::Damaged("cannot open"))?;
    let len = file.len().map_err(|_| Unusable::Damaged("cannot stat"))?;
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| Unusable::Damaged("size"))?];
    let n = read_up_to(file.as_ref(), &mut buf, 0).map_err(|_| Unusable::Damaged("cannot read"))?;
    buf.truncate(n);
    Ok(buf)
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
