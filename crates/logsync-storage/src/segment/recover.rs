//! Scanning a segment's batches: index rebuilds and recovery after an unclean
//! stop share this one pass.

use crate::batch::{self, BATCH_HEADER_BYTES, BatchHeader};
use crate::error::CorruptKind;
use crate::fs::{FsFile, read_up_to};
use crate::index::{Indexes, OffsetEntry, TimeEntry};

/// Decides which batches get index entries (Kafka's rule: a batch gets an
/// offset entry when more than `index.interval.bytes` were appended since the
/// last one) and tracks the segment's greatest timestamp.
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    base_offset: u64,
    interval: u64,
    /// Bytes appended since the last offset entry.
    pub bytes_since_entry: u64,
    /// Greatest batch max timestamp seen, `i64::MIN` if none.
    pub max_timestamp: i64,
    /// Last offset of the batch holding `max_timestamp`.
    pub offset_of_max_timestamp: u64,
}

impl IndexBuilder {
    /// A builder continuing after `indexes` (whose last entries it reads).
    #[must_use]
    pub fn new(base_offset: u64, interval: u32, bytes_since_entry: u64, indexes: &Indexes) -> Self {
        let max = indexes.times.last().map_or((i64::MIN, base_offset), |t| {
            (t.timestamp, base_offset + u64::from(t.relative_offset))
        });
        Self::resume(base_offset, interval, bytes_since_entry, max)
    }

    /// A builder for the active segment resuming with the segment's true
    /// greatest timestamp and the last offset of its batch (see
    /// [`crate::segment::Segment::max_timestamp_and_offset`]); the last time
    /// entry may be older than batches written after it.
    #[must_use]
    pub fn resume(
        base_offset: u64,
        interval: u32,
        bytes_since_entry: u64,
        (max_timestamp, offset_of_max_timestamp): (i64, u64),
    ) -> Self {
        IndexBuilder {
            base_offset,
            interval: u64::from(interval),
            bytes_since_entry,
            max_timestamp,
            offset_of_max_timestamp,
        }
    }

    /// Accounts for the batch `h` about to be written at `position`; returns
    /// the entries to add to the indexes.
    pub fn on_batch(
        &mut self,
        h: &BatchHeader,
        position: u64,
        last_time: Option<TimeEntry>,
    ) -> (Option<OffsetEntry>, Option<TimeEntry>) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        let mut entries = (None, None);
        if self.bytes_since_entry > self.interval {
            let relative_offset = (h.last_offset() - self.base_offset) as u32;
            entries.0 = Some(OffsetEntry {
                relative_offset,
                position: position as u32,
            });
            entries.1 = self.time_entry(last_time);
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += h.total_size();
        entries
    }

    /// A time entry for the greatest timestamp so far, if it is newer than `last`.
    #[must_use]
    pub fn time_entry(&self, last: Option<TimeEntry>) -> Option<TimeEntry> {
        let newer = last.is_none_or(|t| self.max_timestamp > t.timestamp);
        (newer && self.max_timestamp != i64::MIN).then(|| TimeEntry {
            timestamp: self.max_timestamp,
            relative_offset: (self.offset_of_max_timestamp - self.base_offset) as u32,
        })
    }
}

/// Why a scan stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Incomplete or garbage bytes with no valid batch after them (or only
    /// zeros before the next valid one): a torn write, safe to cut.
    Torn {
        /// Where the valid data ends.
        position: u64,
        /// What the first bad batch looked like.
        kind: CorruptKind,
    },
    /// A bad batch followed by valid data: real corruption, not to be cut.
    Corrupt {
        /// Position of the bad batch.
        position: u64,
        /// What is wrong with it.
        kind: CorruptKind,
    },
}

/// What a scan found.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// End of the last valid batch.
    pub valid_end: u64,
    /// Offset after the last valid batch (or the expected one if none).
    pub next_offset: u64,
    /// Set when the scan stopped before the end of the file.
    pub stop: Option<Stop>,
}

const CHUNK: usize = 1 << 20;

/// What the first batch of a scan must look like. `baseOffset` lies outside
/// Kafka's CRC, so offsets are checked as a chain from a trusted anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The first batch starts at this offset (the segment's base, or the
    /// recovery point).
    Base(u64),
    /// The first batch ends at this offset (from an index entry).
    Last(u64),
}

impl Anchor {
    /// Whether a batch may come here: starting exactly at a base, or ending
    /// exactly at the offset an index entry names. (The cleaner keeps the
    /// chain whole by stretching a batch's last offset delta over a gap.)
    #[must_use]
    pub fn admits(self, h: &BatchHeader) -> bool {
        match self {
            Anchor::Base(b) => h.base_offset >= 0 && h.base_offset as u64 == b,
            Anchor::Last(l) => h.last_offset() == l,
        }
    }
}

/// Reads batches from `from` to `file_len`, checking header, CRC and that
/// offsets run on without a gap from `anchor`, and feeds each to `builder`
/// (adding entries to `indexes`).
///
/// # Errors
/// I/O errors only; bad data is reported in [`ScanOutcome::stop`].
pub fn scan(
    file: &dyn FsFile,
    from: u64,
    file_len: u64,
    anchor: Anchor,
    builder: &mut IndexBuilder,
    indexes: &mut Indexes,
) -> std::io::Result<ScanOutcome> {
    let mut next_offset = match anchor {
        Anchor::Base(b) => b,
        Anchor::Last(l) => l,
    };
    let mut buf = Vec::new();
    let mut buf_start = from;
    let mut pos = from;
    let mut last_offset: Option<u64> = None; // of the previous batch
    while pos < file_len {
        // Make sure the whole batch at `pos` is in `buf`.
        let mut in_buf = (pos - buf_start) as usize;
        let header =
            match batch::header::peek_offset_and_length(buf.get(in_buf..).unwrap_or_default()) {
                Ok((_, len))
                    if len >= 0 && buf.len() - in_buf >= len as usize + batch::LOG_OVERHEAD =>
                {
                    BatchHeader::parse(buf.get(in_buf..).unwrap_or_default())
                }
                _ => {
                    let want = CHUNK.min((file_len - pos) as usize).max(BATCH_HEADER_BYTES);
                    buf.resize(want, 0);
                    let n = read_up_to(file, &mut buf, pos)?;
                    buf.truncate(n.min((file_len - pos) as usize));
                    buf_start = pos;
                    in_buf = 0;
                    let h = BatchHeader::parse(&buf);
                    if let Ok(h) = &h {
                        let total = h.total_size();
                        if total > buf.len() as u64 && pos + total <= file_len {
                            buf.resize(total as usize, 0);
                            let n = read_up_to(file, &mut buf, pos)?;
                            buf.truncate(n);
                        }
                    }
                    h
                }
            };
        let checked = header.and_then(|h| {
            let bytes = buf.get(in_buf..).unwrap_or_default();
            let complete = batch::parse_header_complete(bytes)?;
            batch::verify_crc(bytes, &complete)?;
            let chained = match last_offset {
                None => anchor.admits(&complete),
                Some(_) => Anchor::Base(next_offset).admits(&complete),
            };
            if !chained {
                return Err(CorruptKind::NonMonotonicOffset {
                    previous: next_offset,
                    found: complete.base_offset as u64,
                });
            }
            Ok(h)
        });
        match checked {
            Ok(h) => {
                let (o, t) = builder.on_batch(&h, pos, indexes.times.last().copied());
                indexes.offsets.extend(o);
                indexes.times.extend(t);
                last_offset = Some(h.last_offset());
                next_offset = h.next_offset();
                pos += h.total_size();
            }
            Err(kind) => {
                let stop = classify_failure(file, pos, file_len, next_offset, kind)?;
                return Ok(ScanOutcome {
                    valid_end: pos,
                    next_offset,
                    stop: Some(stop),
                });
            }
        }
    }
    Ok(ScanOutcome {
        valid_end: pos,
        next_offset,
        stop: None,
    })
}

/// After a bad batch at `bad`: if a valid batch continuing the offsets lies
/// later in the file and the bytes in between are not all zero, it is
/// corruption; otherwise a torn write (zeros are pages the OS never wrote).
fn classify_failure(
    file: &dyn FsFile,
    bad: u64,
    file_len: u64,
    next_offset: u64,
    kind: CorruptKind,
) -> std::io::Result<Stop> {
    let len = (file_len - bad) as usize;
    let mut rest = vec![0u8; len];
    let n = read_up_to(file, &mut rest, bad)?;
    rest.truncate(n);
    let found = (1..rest.len()).find(|&q| {
        let tail = rest.get(q..).unwrap_or_default();
        if tail.get(batch::header::MAGIC_POS) != Some(&2) {
            return false;
        }
        match batch::parse_header_complete(tail) {
            Ok(h) => h.base_offset as u64 >= next_offset && batch::verify_crc(tail, &h).is_ok(),
            Err(_) => false,
        }
    });
    Ok(match found {
        Some(q) if rest.get(..q).is_some_and(|gap| gap.iter().any(|&b| b != 0)) => Stop::Corrupt {
            position: bad,
            kind,
        },
        _ => Stop::Torn {
            position: bad,
            kind,
        },
    })
}
