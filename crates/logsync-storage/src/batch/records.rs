//! Records inside a batch: both directions of Kafka's v2 record encoding.
//!
//! ```text
//! length          varint   bytes after this field
//! attributes      int8     unused, 0
//! timestampDelta  varlong  from the batch's baseTimestamp
//! offsetDelta     varint   from the batch's baseOffset
//! keyLength       varint   -1 = null
//! key             bytes
//! valueLength     varint   -1 = null (a tombstone)
//! value           bytes
//! headerCount     varint
//!   keyLength varint, key bytes, valueLength varint (-1 = null), value bytes
//! ```

use bytes::Bytes;

use super::varint::{get_varint, get_varlong};
use crate::error::CorruptKind;
use crate::offset::{Offset, TimestampMs};

/// Smallest possible encoded record: a one-byte varint for each of length,
/// timestampDelta, offsetDelta, keyLength, valueLength and headerCount, plus the
/// attributes byte. Used to bound record counts read from untrusted bytes.
pub const MIN_RECORD_BYTES: usize = 7;

/// A record header (Kafka's `Header`: a string key and optional bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// Header key (UTF-8 by Kafka's convention, not enforced).
    pub key: Bytes,
    /// Header value; `None` is null.
    pub value: Option<Bytes>,
}

/// One record: what producers send and consumers receive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Record {
    /// Offset in the partition (ignored when appending: the log assigns it).
    pub offset: Offset,
    /// Record timestamp.
    pub timestamp: TimestampMs,
    /// Key; `None` is null.
    pub key: Option<Bytes>,
    /// Value; `None` is null (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<RecordHeader>,
}

impl Record {
    /// A record with a value, an optional key and the given timestamp.
    #[must_use]
    pub fn new(key: Option<&[u8]>, value: &[u8], timestamp: TimestampMs) -> Self {
        Record {
            offset: Offset(0),
            timestamp,
            key: key.map(Bytes::copy_from_slice),
            value: Some(Bytes::copy_from_slice(value)),
            headers: Vec::new(),
        }
    }
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => zigzag_len(zigzag(b.len() as i64)) + b.len(),
    }
}

/// Encodes one record at the end of `out`.
pub fn encode_record(out: &mut Vec<u8>, record: &Record, offset_delta: i32, timestamp_delta: i64) {
    let headers = record
        .headers
        .iter()
        .map(|h| (h.key.as_ref(), h.value.as_deref()));
    encode_record_parts(
        out,
        RecordParts {
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers,
        },
        offset_delta,
        timestamp_delta,
    );
}

/// The fields of a record to encode, borrowed from wherever they live.
#[derive(Debug, Clone)]
pub struct RecordParts<'a, H> {
    /// Key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is null.
    pub value: Option<&'a [u8]>,
    /// Header keys and values.
    pub headers: H,
}

/// Encodes one record from its parts at the end of `out`.
///
/// The varints between the variable-length fields are gathered in a small
/// [`Staging`] buffer and copied out with one fixed-size move each, rather
/// than pushed a byte at a time: this is the inner loop of every append of
/// records (1,000 records per batch in the benchmark), where per-byte
/// pushes and short variable-length copies cost more than the value copies.
pub fn encode_record_parts<'a, H>(
    out: &mut Vec<u8>,
    parts: RecordParts<'a, H>,
    offset_delta: i32,
    timestamp_delta: i64,
) where
    H: ExactSizeIterator<Item = (&'a [u8], Option<&'a [u8]>)> + Clone,
{
    let ts = zigzag(timestamp_delta);
    let od = zigzag(i64::from(offset_delta));
    let header_count = parts.headers.len();
    let mut body = 1 + zigzag_len(ts) + zigzag_len(od);
    body += bytes_len(parts.key) + bytes_len(parts.value);
    body += zigzag_len(zigzag(header_count as i64));
    for (k, v) in parts.headers.clone() {
        body += bytes_len(Some(k)) + bytes_len(v);
    }
    out.reserve(body + 5 + STAGING);
    let start = out.len();
    let mut s = Staging::default();
    s.varint(out, zigzag(body as i64));
    let body_start = start + s.n;
    s.put(out, 0, 1); // attributes (unused)
    s.varint(out, ts);
    s.varint(out, od);
    s.bytes(out, parts.key);
    s.bytes(out, parts.value);
    s.varint(out, zigzag(header_count as i64));
    for (k, v) in parts.headers {
        s.bytes(out, Some(k));
        s.bytes(out, v);
    }
    s.flush(out);
    debug_assert_eq!(out.len() - body_start, body);
}

/// Bytes [`Staging`] holds before it must flush.
const STAGING: usize = 16;

/// Varint bytes waiting to be copied to the output, held in a register
/// (little-endian: byte `i` in bits `8i..8i+8`). A stack buffer written a
/// byte at a time and read back 16 bytes at once stalls the CPU on every
/// record (the narrow stores cannot be forwarded to the wide load); a
/// register has no such stall.
#[derive(Debug, Default)]
struct Staging {
    bits: u128,
    n: usize,
}

impl Staging {
    /// Stages `len` (at most 8) bytes given little-endian in `v`.
    #[inline(always)]
    fn put(&mut self, out: &mut Vec<u8>, v: u64, len: usize) {
        if self.n + len > STAGING {
            self.flush(out);
        }
        self.bits |= u128::from(v) << (8 * self.n);
        self.n += len;
    }

    /// A zig-zagged value as a varint; one and two bytes (every length up
    /// to 8 KiB, every offset delta up to 8,191) without a loop.
    #[inline(always)]
    fn varint(&mut self, out: &mut Vec<u8>, u: u64) {
        if u < 1 << 7 {
            self.put(out, u, 1);
        } else if u < 1 << 14 {
            self.put(out, (u & 0x7f) | 0x80 | ((u >> 7) << 8), 2);
        } else {
            let mut u = u;
            while u >= 0x80 {
                self.put(out, (u & 0x7f) | 0x80, 1);
                u >>= 7;
            }
            self.put(out, u, 1);
        }
    }

    /// A length-prefixed field (`None` is length -1): the length is staged,
    /// then the staged bytes and the field are copied out.
    #[inline(always)]
    fn bytes(&mut self, out: &mut Vec<u8>, b: Option<&[u8]>) {
        match b {
            None => self.varint(out, zigzag(-1)),
            Some(b) => {
                self.varint(out, zigzag(b.len() as i64));
                self.flush(out);
                out.extend_from_slice(b);
            }
        }
    }

    /// Copies the staged bytes out: all 16 in one fixed-size store (the
    /// caller reserved room for it), then the length cut back.
    #[inline(always)]
    fn flush(&mut self, out: &mut Vec<u8>) {
        let keep = out.len() + self.n;
        out.extend_from_slice(&self.bits.to_le_bytes());
        out.truncate(keep);
        self.bits = 0;
        self.n = 0;
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Bytes of a zig-zagged value as a varint.
fn zigzag_len(u: u64) -> usize {
    if u < 1 << 7 {
        1
    } else if u < 1 << 14 {
        2
    } else {
        (64 - u.leading_zeros() as usize).div_ceil(7)
    }
}

/// A record borrowed from a batch's (decompressed) bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Absolute offset.
    pub offset: Offset,
    /// Record timestamp.
    pub timestamp: TimestampMs,
    /// Key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is null.
    pub value: Option<&'a [u8]>,
    /// Headers: key and optional value.
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

impl RecordRef<'_> {
    /// Copies the record out, sharing `parent`'s allocation when the borrowed
    /// slices lie inside it.
    #[must_use]
    pub fn to_owned_in(&self, parent: &Bytes) -> Record {
        let share = |s: &[u8]| parent.slice_ref(s);
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(share),
            value: self.value.map(share),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| RecordHeader {
                    key: share(k),
                    value: v.map(share),
                })
                .collect(),
        }
    }
}

/// One record's fields as [`RecordCursor::frame_one`] found them.
struct Framed<'a> {
    offset_delta: i64,
    ts_delta: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    /// The headers' bytes (already checked) and how many there are.
    headers: &'a [u8],
    header_count: usize,
}

/// Decoding state over the records part of one batch. The bytes are passed to
/// each call so that borrowed and owned iteration share this one decoder.
#[derive(Debug, Clone)]
pub struct RecordCursor {
    pos: usize,
    base_offset: i64,
    base_timestamp: i64,
    /// Records left according to the batch header.
    remaining: i64,
    declared: i64,
    /// Offset delta the next record must exceed.
    last_delta: i64,
    /// LogAppendTime batches: every record takes the batch's max timestamp.
    override_timestamp: Option<i64>,
}

#[inline(always)]
fn take_varint(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<i32, CorruptKind> {
    let (v, n) =
        get_varint(buf.get(*pos..).unwrap_or_default()).ok_or(CorruptKind::BadRecord(what))?;
    *pos += n;
    Ok(v)
}

#[inline(always)]
fn take_bytes<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    end: usize,
    what: &'static str,
) -> Result<Option<&'a [u8]>, CorruptKind> {
    let len = take_varint(buf, pos, what)?;
    if len < 0 {
        return if len == -1 {
            Ok(None)
        } else {
            Err(CorruptKind::BadRecord(what))
        };
    }
    let stop = *pos + len as usize;
    if stop > end {
        return Err(CorruptKind::BadRecord(what));
    }
    let b = buf.get(*pos..stop).ok_or(CorruptKind::BadRecord(what))?;
    *pos = stop;
    Ok(Some(b))
}

impl RecordCursor {
    /// A cursor for `count` records.
    #[must_use]
    pub fn new(
        base_offset: i64,
        base_timestamp: i64,
        count: i32,
        override_timestamp: Option<i64>,
    ) -> Self {
        RecordCursor {
            pos: 0,
            base_offset,
            base_timestamp,
            remaining: i64::from(count),
            declared: i64::from(count),
            last_delta: -1,
            override_timestamp,
        }
    }

    /// Checks the next record's framing and fields (headers included) and
    /// moves past it, without collecting its headers.
    fn frame_one<'a>(&mut self, buf: &'a [u8]) -> Result<Framed<'a>, CorruptKind> {
        let pos = &mut self.pos;
        let len = take_varint(buf, pos, "record length")?;
        if len < 1 || *pos + len as usize > buf.len() {
            return Err(CorruptKind::BadRecord("record length beyond batch"));
        }
        let end = *pos + len as usize;
        *pos += 1; // attributes, unused in v2
        let (ts_delta, n) = get_varlong(buf.get(*pos..end).unwrap_or_default())
            .ok_or(CorruptKind::BadRecord("timestamp delta"))?;
        *pos += n;
        let offset_delta = i64::from(take_varint(buf, pos, "offset delta")?);
        if offset_delta <= self.last_delta {
            return Err(CorruptKind::BadRecord("offset deltas must increase"));
        }
        self.last_delta = offset_delta;
        let key = take_bytes(buf, pos, end, "key")?;
        let value = take_bytes(buf, pos, end, "value")?;
        let count = take_varint(buf, pos, "header count")?;
        if count < 0 || count as usize > end.saturating_sub(*pos) / 2 {
            return Err(CorruptKind::BadRecord("header count"));
        }
        let headers_at = *pos;
        for _ in 0..count {
            take_bytes(buf, pos, end, "header key")?
                .ok_or(CorruptKind::BadRecord("null header key"))?;
            take_bytes(buf, pos, end, "header value")?;
        }
        if *pos != end {
            return Err(CorruptKind::BadRecord(
                "record length does not match its fields",
            ));
        }
        Ok(Framed {
            offset_delta,
            ts_delta,
            key,
            value,
            headers: buf.get(headers_at..end).unwrap_or_default(),
            header_count: count as usize,
        })
    }

    fn decode_one<'a>(&mut self, buf: &'a [u8]) -> Result<RecordRef<'a>, CorruptKind> {
        let f = self.frame_one(buf)?;
        // The headers were checked by `frame_one`: read them again.
        let mut headers = Vec::new();
        if f.header_count > 0 {
            headers.reserve_exact(f.header_count);
            let mut at = 0;
            for _ in 0..f.header_count {
                let key = take_bytes(f.headers, &mut at, f.headers.len(), "header key")?
                    .ok_or(CorruptKind::BadRecord("null header key"))?;
                let value = take_bytes(f.headers, &mut at, f.headers.len(), "header value")?;
                headers.push((key, value));
            }
        }
        let timestamp = match self.override_timestamp {
            Some(ts) => ts,
            None => self.base_timestamp.wrapping_add(f.ts_delta),
        };
        Ok(RecordRef {
            offset: Offset(self.base_offset.saturating_add(f.offset_delta) as u64),
            timestamp: TimestampMs(timestamp),
            key: f.key,
            value: f.value,
            headers,
        })
    }

    /// Byte position in the records part of the next record to decode
    /// (after the last one decoded), so that a caller can locate a record
    /// inside the batch.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next record, or `None` after the declared count (or after an error).
    pub fn next_record<'a>(&mut self, buf: &'a [u8]) -> Option<Result<RecordRef<'a>, CorruptKind>> {
        if self.remaining <= 0 {
            return None;
        }
        self.remaining -= 1;
        let r = self.decode_one(buf);
        if r.is_err() {
            self.remaining = 0;
        }
        Some(r)
    }

    /// Checks that exactly the declared records are present and well formed,
    /// and that none lies past `last_offset_delta` (a cleaned batch may end
    /// below it, as in Kafka, when the cleaner removed its last records).
    /// Returns how many records have a null key.
    ///
    /// # Errors
    /// The first malformed record, or a count mismatch.
    pub fn validate_all(mut self, buf: &[u8], last_offset_delta: i32) -> Result<u32, CorruptKind> {
        let mut found = 0i64;
        let mut keyless = 0u32;
        while self.pos < buf.len() {
            if found >= self.declared {
                return Err(CorruptKind::CountMismatch {
                    declared: self.declared,
                    found: found + 1,
                });
            }
            if self.frame_one(buf)?.key.is_none() {
                keyless += 1;
            }
            found += 1;
        }
        if found != self.declared {
            return Err(CorruptKind::CountMismatch {
                declared: self.declared,
                found,
            });
        }
        if found > 0 && self.last_delta > i64::from(last_offset_delta) {
            return Err(CorruptKind::BadRecord(
                "a record lies past the batch's last offset delta",
            ));
        }
        Ok(keyless)
    }
}

/// Owned iteration over a batch's records, sharing the batch's allocation.
#[derive(Debug, Clone)]
pub struct RecordIter {
    buf: Bytes,
    cursor: RecordCursor,
}

impl RecordIter {
    /// Iterates the records encoded in `buf` with `cursor`'s state.
    #[must_use]
    pub fn new(buf: Bytes, cursor: RecordCursor) -> Self {
        RecordIter { buf, cursor }
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record, CorruptKind>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf.clone();
        Some(self.cursor.next_record(&buf)?.map(|r| r.to_owned_in(&buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::varint::{put_varint, put_varlong};

    type Headers<'a> = std::vec::IntoIter<(&'a [u8], Option<&'a [u8]>)>;

    /// The record as the format describes it, a field at a time.
    fn reference(parts: &RecordParts<'_, Headers<'_>>, od: i32, ts: i64) -> Vec<u8> {
        let put = |out: &mut Vec<u8>, b: Option<&[u8]>| match b {
            None => put_varint(out, -1),
            Some(b) => {
                put_varint(out, b.len() as i32);
                out.extend_from_slice(b);
            }
        };
        let mut body = vec![0];
        put_varlong(&mut body, ts);
        put_varint(&mut body, od);
        put(&mut body, parts.key);
        put(&mut body, parts.value);
        put_varint(&mut body, parts.headers.len() as i32);
        for (k, v) in parts.headers.clone() {
            put(&mut body, Some(k));
            put(&mut body, v);
        }
        let mut out = Vec::new();
        put_varint(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn staged_encoding_matches_the_format_at_every_varint_width() {
        let big = vec![7u8; 20_000];
        let fields: [Option<&[u8]>; 5] =
            [None, Some(b""), Some(b"k"), Some(&big[..200]), Some(&big)];
        let deltas = [
            0,
            1,
            -1,
            63,
            -64,
            64,
            8191,
            8192,
            1 << 20,
            i64::MAX,
            i64::MIN,
        ];
        let offsets = [0, 63, 64, 8191, 8192, i32::MAX];
        for (i, &ts) in deltas.iter().enumerate() {
            for (j, &od) in offsets.iter().enumerate() {
                let key = fields[(i + j) % fields.len()];
                let value = fields[(i + 2 * j + 1) % fields.len()];
                let headers: Vec<(&[u8], Option<&[u8]>)> = (0..(i + j) % 4)
                    .map(|h| (&b"hdr"[..h % 3], fields[(h + i) % fields.len()]))
                    .collect();
                let parts = RecordParts {
                    key,
                    value,
                    headers: headers.into_iter(),
                };
                let want = reference(&parts, od, ts);
                let mut got = vec![9u8; 3];
                encode_record_parts(&mut got, parts, od, ts);
                assert_eq!(got.get(..3), Some(&[9u8, 9, 9][..]), "bytes before kept");
                assert!(got.get(3..) == Some(&want[..]), "ts {ts} od {od}");
            }
        }
    }
}
