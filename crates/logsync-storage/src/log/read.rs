//! Reading: whole stored batches by offset, records, and offsets by time.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Log;
use crate::batch::{Batch, Record, split_batches};
use crate::error::{Error, Result};
use crate::offset::{Offset, TimestampMs};
use crate::segment::file_name::FileKind;

/// Whole batches as stored, for serving without re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Concatenated batches, each CRC checked. Empty at the end of the log.
    pub bytes: Bytes,
    /// Offset after the last batch returned (where the next read starts).
    pub next_offset: Offset,
    /// Log start offset when the read began.
    pub log_start_offset: Offset,
    /// Log end offset when the read began.
    pub log_end_offset: Offset,
}

impl Log {
    fn check_range(&self, offset: u64) -> Result<(u64, u64)> {
        let end = self.log_end.load(Ordering::Acquire);
        let start = self.log_start.load(Ordering::Acquire);
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                requested: Offset(offset),
                log_start: Offset(start),
                log_end: Offset(end),
            });
        }
        Ok((start, end))
    }

    /// Reads whole batches starting with the one holding `offset`, up to
    /// `max_bytes` (but at least one batch, as Kafka does, so a batch larger
    /// than `max_bytes` can still be consumed). The first batch may start
    /// before `offset`; callers skip the records below it.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`], [`Error::Corrupt`] for a batch failing
    /// its CRC, I/O errors.
    pub fn read(&self, offset: Offset, max_bytes: usize) -> Result<ReadResult> {
        self.read_checked(offset, max_bytes, true)
    }

    /// [`Log::read`] without the CRC check of each batch, for serving
    /// consumers that check CRCs themselves, as Kafka's broker serves them
    /// (every batch was checked when it was appended, or at recovery).
    /// Headers, lengths and the offset chain are still checked.
    ///
    /// # Errors
    /// As [`Log::read`], but for a bad CRC.
    pub fn read_unverified(&self, offset: Offset, max_bytes: usize) -> Result<ReadResult> {
        self.read_checked(offset, max_bytes, false)
    }

    fn read_checked(
        &self,
        offset: Offset,
        max_bytes: usize,
        verify_crc: bool,
    ) -> Result<ReadResult> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let (start, end) = self.check_range(offset.0)?;
        let mut out = Vec::new();
        let mut next = offset.0;
        if offset.0 < end {
            let segments = self.snapshot();
            let first = segments
                .partition_point(|s| s.base_offset() <= offset.0)
                .saturating_sub(1);
            // A `truncate_prefix` between the range check and the snapshot
            // may have removed the segment holding `offset`: reading on from
            // the next one would skip offsets silently.
            if segments
                .get(first)
                .is_some_and(|s| s.base_offset() > offset.0)
            {
                return Err(Error::OffsetOutOfRange {
                    requested: offset,
                    log_start: Offset(self.log_start.load(Ordering::Acquire)),
                    log_end: Offset(end),
                });
            }
            for seg in segments.iter().skip(first) {
                let outcome = seg.read_batches_checked(next, max_bytes, &mut out, verify_crc)?;
                if let Some(n) = outcome.next {
                    next = n;
                }
                // Stop when the budget is used: going on to the next segment
                // would skip the batch that did not fit.
                if outcome.full || (!out.is_empty() && next >= end) {
                    break;
                }
            }
        }
        Ok(ReadResult {
            bytes: Bytes::from(out),
            next_offset: Offset(next),
            log_start_offset: Offset(start),
            log_end_offset: Offset(end),
        })
    }

    /// Iterates records from `from` on, at most `max_records`, skipping
    /// control batches. The iterator reads in chunks and stops at the log end
    /// offset as it stands when each chunk is read.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `from` is outside the log.
    pub fn records(&self, from: Offset, max_records: usize) -> Result<Records<'_>> {
        self.check_range(from.0)?;
        Ok(Records {
            log: self,
            next: from.0,
            remaining: max_records,
            pending: VecDeque::new(),
            done: false,
            resume: from.0,
        })
    }

    /// The first offset whose record timestamp is at or after `timestamp`
    /// (Kafka's ListOffsets by time), found through the time indexes;
    /// `None` if every record is older.
    ///
    /// # Errors
    /// I/O errors or corruption.
    pub fn offset_for_timestamp(&self, timestamp: TimestampMs) -> Result<Option<Offset>> {
        let start = self.log_start.load(Ordering::Acquire);
        let max_decompressed = self.config.load().max_decompressed_bytes as usize;
        for seg in self.snapshot().iter() {
            let info = seg.info()?;
            if info.max_timestamp < timestamp.0 || info.next_offset <= start {
                continue;
            }
            let mut from = seg.time_lookup(timestamp.0)?.max(start);
            // Scan batches of this segment from the hint.
            loop {
                let mut buf = Vec::new();
                let Some(next) = seg.read_batches(from, 1 << 20, &mut buf)?.next else {
                    break;
                };
                let bytes = Bytes::from(buf);
                let corrupt = |kind| Error::Corrupt {
                    path: seg.path(FileKind::Log),
                    position: 0,
                    kind,
                };
                for batch in split_batches(&bytes).map_err(corrupt)? {
                    let h = batch.header();
                    if h.max_timestamp < timestamp.0 || h.attributes.is_control() {
                        continue;
                    }
                    for r in batch.records(max_decompressed).map_err(corrupt)? {
                        let r = r.map_err(corrupt)?;
                        if r.offset.0 >= from && r.timestamp >= timestamp {
                            return Ok(Some(r.offset));
                        }
                    }
                }
                if next >= info.next_offset {
                    break;
                }
                from = next;
            }
        }
        Ok(None)
    }
}

/// Records of a log from an offset; see [`Log::records`].
#[derive(Debug)]
pub struct Records<'a> {
    log: &'a Log,
    next: u64,
    remaining: usize,
    pending: VecDeque<Record>,
    done: bool,
    resume: u64,
}

impl Records<'_> {
    /// Where to resume after the records yielded so far: the offset after
    /// the last one (or the start offset if none was yielded yet).
    #[must_use]
    pub fn position(&self) -> Offset {
        Offset(self.resume)
    }

    fn refill(&mut self) -> Result<()> {
        // Size the read to what is still wanted: a one-record read should not
        // pull a megabyte.
        let want = self.remaining.saturating_mul(128).clamp(1, 1 << 20);
        let read = self.log.read(Offset(self.next), want)?;
        if read.bytes.is_empty() {
            self.done = true;
            return Ok(());
        }
        let max = self.log.config.load().max_decompressed_bytes as usize;
        let corrupt = |kind| Error::Corrupt {
            path: self.log.dir.clone(),
            position: 0,
            kind,
        };
        for batch in split_batches(&read.bytes).map_err(corrupt)? {
            if batch.header().attributes.is_control() {
                continue;
            }
            let room = self.remaining.saturating_sub(self.pending.len());
            push_records(&batch, self.next, max, room, &mut self.pending).map_err(corrupt)?;
        }
        self.next = read.next_offset.0;
        Ok(())
    }
}

/// Queues up to `room` records of `batch` at or after `from` (decoding
/// stops there: a one-record read decodes one record).
fn push_records(
    batch: &Batch,
    from: u64,
    max: usize,
    room: usize,
    out: &mut VecDeque<Record>,
) -> Result<(), crate::error::CorruptKind> {
    let mut left = room;
    for r in batch.records(max)? {
        if left == 0 {
            break;
        }
        let r = r?;
        if r.offset.0 >= from {
            out.push_back(r);
            left -= 1;
        }
    }
    Ok(())
}

impl Iterator for Records<'_> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.remaining > 0 {
            if let Some(r) = self.pending.pop_front() {
                self.remaining -= 1;
                self.resume = r.offset.0 + 1;
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.refill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        None
    }
}
