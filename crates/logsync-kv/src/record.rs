//! The store's records in the log: the TTL header, scanning a segment with
//! the file position of every record, and reading one record back by
//! position.
//!
//! A store writes uncompressed batches, so each of its records has a file
//! position: the keydir keeps it and `get` reads those bytes only. Records
//! in compressed batches (written by another producer) are indexed by
//! offset and read through the log.

use std::sync::Arc;

use bytes::Bytes;
use logsync_storage::batch::{
    self, BATCH_HEADER_BYTES, BatchHeader, Compression, RecordCursor, RecordRef, TimestampType,
};
use logsync_storage::fs::{read_exact_at, read_up_to};
use logsync_storage::segment::Segment;
use logsync_storage::segment::file_name::FileKind;
use logsync_storage::{CorruptKind, RecordHeader};

use crate::error::{Error, Result};

/// Record header holding a key's expiry time: milliseconds since the Unix
/// epoch as ASCII decimal digits (so `logsync consume` shows it readably).
pub const EXPIRES_HEADER: &str = "logsync.kv.expires_at_ms";

/// The header to attach for an expiry time.
#[must_use]
pub fn expires_header(at_ms: i64) -> RecordHeader {
    RecordHeader {
        key: Bytes::from_static(EXPIRES_HEADER.as_bytes()),
        value: Some(Bytes::from(at_ms.to_string())),
    }
}

/// The expiry time in a record's headers, if any (a malformed value counts
/// as none: the record never expires).
#[must_use]
pub fn expiry_of(headers: &[(&[u8], Option<&[u8]>)]) -> Option<i64> {
    headers
        .iter()
        .rev()
        .find(|(k, _)| *k == EXPIRES_HEADER.as_bytes())
        .and_then(|(_, v)| std::str::from_utf8((*v)?).ok()?.parse().ok())
}

/// A record met by [`scan_segment`].
#[derive(Debug)]
pub(crate) struct Located<'a> {
    pub offset: u64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub expires: Option<i64>,
    /// File position and length, `None` inside a compressed batch.
    pub place: Option<(u32, u32)>,
}

fn corrupt(seg: &Segment, position: u64) -> impl Fn(CorruptKind) -> Error + '_ {
    move |kind| Error::Corrupt {
        path: seg.path(FileKind::Log),
        position,
        kind,
    }
}

/// Bytes read from a segment at a time while scanning.
const SCAN_CHUNK: usize = 8 << 20;

/// What a scan went over.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scanned {
    /// Records passed to the callback.
    pub records: u64,
    /// Position after the last batch.
    pub end: u64,
}

/// Calls `f` for every record (control batches skipped) of `seg` from byte
/// `from` (a batch boundary) up to its published size, checking each
/// batch's CRC.
pub(crate) fn scan_segment(
    seg: &Segment,
    from: u64,
    max_decompressed: usize,
    f: &mut dyn FnMut(Located<'_>),
) -> Result<Scanned> {
    let size = seg.size();
    let file = seg.log_file();
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_pos = from; // file position of buf[0]
    let mut at = 0usize; // next batch in buf
    let mut scanned = Scanned {
        records: 0,
        end: from,
    };
    while buf_pos + (at as u64) < size {
        let rest = buf.get(at..).unwrap_or_default();
        let need = match batch::parse_header_complete(rest) {
            Ok(h) => {
                let pos = buf_pos + at as u64;
                let len = h.total_size() as usize;
                let bytes = rest.get(..len).unwrap_or_default();
                batch::verify_crc(bytes, &h).map_err(corrupt(seg, pos))?;
                if !h.attributes.is_control() {
                    scanned.records += visit_batch(pos, &h, bytes, max_decompressed, f)
                        .map_err(corrupt(seg, pos))?;
                }
                at += len;
                scanned.end = pos + len as u64;
                continue;
            }
            Err(CorruptKind::Truncated { needed, .. }) => needed as usize,
            Err(e) => return Err(corrupt(seg, buf_pos + at as u64)(e)),
        };
        // Refill: keep the partial batch, read at least what it needs.
        buf.drain(..at);
        buf_pos += at as u64;
        at = 0;
        let have = buf.len();
        let want = need.max(SCAN_CHUNK).min((size - buf_pos) as usize);
        if want <= have {
            return Err(corrupt(seg, buf_pos)(CorruptKind::Truncated {
                needed: need as u64,
                available: have as u64,
            }));
        }
        buf.resize(want, 0);
        let n = read_up_to(
            file.as_ref(),
            buf.get_mut(have..).unwrap_or_default(),
            buf_pos + have as u64,
        )
        .map_err(|e| Error::io("read", seg.path(FileKind::Log), e))?;
        buf.truncate(have + n);
        if n == 0 {
            return Err(corrupt(seg, buf_pos)(CorruptKind::Truncated {
                needed: need as u64,
                available: have as u64,
            }));
        }
    }
    Ok(scanned)
}

pub(crate) fn cursor_for(h: &BatchHeader) -> RecordCursor {
    let ts =
        (h.attributes.timestamp_type() == TimestampType::LogAppendTime).then_some(h.max_timestamp);
    RecordCursor::new(h.base_offset, h.base_timestamp, h.records_count, ts)
}

/// Calls `f` for every record of one complete batch (`bytes`, at file
/// position `pos`), with the file position of each record of an
/// uncompressed batch.
pub(crate) fn visit_batch(
    pos: u64,
    h: &BatchHeader,
    bytes: &[u8],
    max_decompressed: usize,
    f: &mut dyn FnMut(Located<'_>),
) -> Result<u64, CorruptKind> {
    let raw = bytes.get(BATCH_HEADER_BYTES..).unwrap_or_default();
    let codec = h.attributes.compression()?;
    let plain;
    let (payload, positioned) = if codec == Compression::None {
        (raw, true)
    } else {
        plain = batch::decompress(codec, raw, max_decompressed)?;
        (plain.as_slice(), false)
    };
    let mut cursor = cursor_for(h);
    let mut n = 0;
    loop {
        let start = cursor.position();
        let Some(r) = cursor.next_record(payload) else {
            break;
        };
        let r = r?;
        let place = positioned.then(|| {
            let at = pos + (BATCH_HEADER_BYTES + start) as u64;
            let len = cursor.position() - start;
            (
                u32::try_from(at).unwrap_or(u32::MAX),
                u32::try_from(len).unwrap_or(u32::MAX),
            )
        });
        f(Located {
            offset: r.offset.0,
            timestamp: r.timestamp.0,
            key: r.key,
            value: r.value,
            expires: expiry_of(&r.headers),
            place,
        });
        n += 1;
    }
    Ok(n)
}

/// Reads the record at `pos` (`len` bytes) of `seg` into a buffer.
pub(crate) fn read_record(seg: &Arc<Segment>, pos: u32, len: u32) -> Result<Bytes> {
    let mut buf = vec![0u8; len as usize];
    read_exact_at(seg.log_file().as_ref(), &mut buf, u64::from(pos))
        .map_err(|e| Error::io("read", seg.path(FileKind::Log), e))?;
    Ok(Bytes::from(buf))
}

thread_local! {
    /// Buffer of `get`'s positioned reads, reused by each thread.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What [`read_value`] found at an indexed position.
#[derive(Debug)]
pub(crate) enum Found {
    /// `key`'s record, with its value (`None` for a tombstone).
    Value(Option<Bytes>),
    /// A well-formed record of another key (two keys share a hash tag).
    OtherKey,
}

/// The value of the record at `pos` (`len` bytes) of `seg` if it is
/// `key`'s: one `pread` into a per-thread buffer, the value copied out.
pub(crate) fn read_value(seg: &Segment, pos: u32, len: u32, key: &[u8]) -> Result<Found> {
    READ_BUF.with(|cell| {
        let mut fresh = Vec::new();
        let mut borrowed = cell.try_borrow_mut();
        let buf = match borrowed.as_deref_mut() {
            Ok(b) => b,
            Err(_) => &mut fresh,
        };
        buf.resize(len as usize, 0);
        read_exact_at(seg.log_file().as_ref(), buf, u64::from(pos))
            .map_err(|e| Error::io("read", seg.path(FileKind::Log), e))?;
        decode_value(seg, pos, buf, key)
    })
}

/// [`read_value`] on bytes already at hand (a memory map).
pub(crate) fn decode_value(seg: &Segment, pos: u32, bytes: &[u8], key: &[u8]) -> Result<Found> {
    let r = RecordCursor::new(0, 0, 1, None)
        .next_record(bytes)
        .ok_or(CorruptKind::BadRecord("no record"))
        .and_then(|r| r)
        .map_err(corrupt(seg, u64::from(pos)))?;
    if r.key != Some(key) {
        return Ok(Found::OtherKey);
    }
    Ok(Found::Value(r.value.map(Bytes::copy_from_slice)))
}

/// Decodes a record read by [`read_record`], checking that it is `key`'s.
pub(crate) fn decode_record<'a>(
    seg: &Segment,
    pos: u32,
    buf: &'a [u8],
    key: &[u8],
) -> Result<RecordRef<'a>> {
    let bad = corrupt(seg, u64::from(pos));
    let r = RecordCursor::new(0, 0, 1, None)
        .next_record(buf)
        .ok_or(CorruptKind::BadRecord("no record"))
        .and_then(|r| r)
        .map_err(&bad)?;
    if r.key != Some(key) {
        return Err(bad(CorruptKind::BadRecord(
            "the indexed record holds another key",
        )));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_header_round_trips_and_garbage_means_none() {
        let h = expires_header(1_700_000_123_456);
        let pairs = [(h.key.as_ref(), h.value.as_deref())];
        assert_eq!(expiry_of(&pairs), Some(1_700_000_123_456));
        let bad: [(&[u8], Option<&[u8]>); 2] = [
            (EXPIRES_HEADER.as_bytes(), Some(b"soon")),
            (b"other", Some(b"1")),
        ];
        assert_eq!(expiry_of(&bad), None);
        assert_eq!(expiry_of(&[]), None);
    }
}
