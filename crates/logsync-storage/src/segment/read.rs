//! Reading a segment: whole checked batches by offset, index-hinted
//! lookups by offset and by time. Readers never take the writer's lock; they
//! read below the published size and check every batch they return.

use super::recover::{self, Anchor, IndexBuilder, Stop};
use super::{CutPlan, Segment, file_name::FileKind};
use crate::batch::{self, BATCH_HEADER_BYTES, BatchHeader};
use crate::error::{CorruptKind, Error, Result};
use crate::fs::{read_exact_at, read_up_to};
use crate::index::Indexes;
use std::sync::PoisonError;

/// What [`Segment::read_batches`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Offset after the last batch added, `None` if none was.
    pub next: Option<u64>,
    /// The byte budget stopped the read: do not go on to the next segment.
    pub full: bool,
}

/// Why one read attempt failed.
enum Miss {
    /// The index entry did not point at the batch it names.
    BadHint,
    Fail(Error),
}

impl From<Error> for Miss {
    fn from(e: Error) -> Self {
        Miss::Fail(e)
    }
}

impl Segment {
    /// Position of the batch holding `offset` (or the first batch after it),
    /// checking the index hint against the batch it points at.
    fn start_position(&self, offset: u64) -> Result<(u64, Anchor)> {
        self.ensure_indexes()?;
        let rel = offset
            .saturating_sub(self.base_offset)
            .min(u64::from(u32::MAX)) as u32;
        let entry = {
            let g = self.indexes.read().unwrap_or_else(PoisonError::into_inner);
            g.as_ref().and_then(|i| i.offset_lookup(rel))
        };
        let Some(entry) = entry else {
            return Ok((0, Anchor::Base(self.base_offset)));
        };
        let anchor = Anchor::Last(self.base_offset + u64::from(entry.relative_offset));
        let mut head = [0u8; BATCH_HEADER_BYTES];
        let ok = read_exact_at(self.log.as_ref(), &mut head, u64::from(entry.position)).is_ok()
            && BatchHeader::parse(&head).is_ok_and(|h| {
                h.last_offset() == self.base_offset + u64::from(entry.relative_offset)
            });
        if ok {
            return Ok((u64::from(entry.position), anchor));
        }
        self.rebuild_now()?;
        let g = self.indexes.read().unwrap_or_else(PoisonError::into_inner);
        Ok(g.as_ref().and_then(|i| i.offset_lookup(rel)).map_or(
            (0, Anchor::Base(self.base_offset)),
            |e| {
                (
                    u64::from(e.position),
                    Anchor::Last(self.base_offset + u64::from(e.relative_offset)),
                )
            },
        ))
    }

    /// Appends to `out` whole batches, starting with the one that holds
    /// `offset` (or the first after it), while they fit in `max_bytes`
    /// counting what `out` already holds — but always one batch when `out` is
    /// empty. Every batch is CRC checked and its offsets checked as a chain
    /// from the segment base or a verified index entry. A wrong index entry
    /// rebuilds the indexes once.
    ///
    /// # Errors
    /// I/O errors, or [`Error::Corrupt`] for a batch that fails its checks.
    pub fn read_batches(
        &self,
        offset: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> Result<ReadOutcome> {
        self.read_batches_checked(offset, max_bytes, out, true)
    }

    /// [`Segment::read_batches`], with the CRC check of each batch only when
    /// `verify_crc` (headers, lengths and the offset chain are always checked).
    ///
    /// # Errors
    /// As [`Segment::read_batches`].
    pub fn read_batches_checked(
        &self,
        offset: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
        verify_crc: bool,
    ) -> Result<ReadOutcome> {
        match self.read_batches_once(offset, max_bytes, out, verify_crc) {
            Err(Miss::BadHint) => {
                self.rebuild_now()?;
                self.read_batches_once(offset, max_bytes, out, verify_crc)
                    .map_err(|m| match m {
                        Miss::BadHint => {
                            self.corrupt(0, CorruptKind::BadFile("index entry wrong after rebuild"))
                        }
                        Miss::Fail(e) => e,
                    })
            }
            Err(Miss::Fail(e)) => Err(e),
            Ok(o) => Ok(o),
        }
    }

    fn read_batches_once(
        &self,
        offset: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
        verify_crc: bool,
    ) -> Result<ReadOutcome, Miss> {
        const WINDOW: usize = 4096;
        self.ensure_indexes()?;
        let size = self.size();
        let rel = offset
            .saturating_sub(self.base_offset)
            .min(u64::from(u32::MAX)) as u32;
        let entry = self
            .indexes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|i| i.offset_lookup(rel));
        let (mut pos, mut expected) = entry.map_or((0, Anchor::Base(self.base_offset)), |e| {
            (
                u64::from(e.position),
                Anchor::Last(self.base_offset + u64::from(e.relative_offset)),
            )
        });
        let from_index = entry.is_some();
        let io = |e| Miss::Fail(Error::io("read", self.path(FileKind::Log), e));

        // 1. Walk headers through a small window to the batch holding `offset`.
        let mut window = [0u8; WINDOW];
        let (mut win_start, mut win_len) = (pos, 0usize);
        let mut first_header = true;
        let header = loop {
            if pos >= size {
                return Ok(ReadOutcome {
                    next: None,
                    full: false,
                });
            }
            let at = (pos - win_start) as usize;
            let parsed = match window.get(at..win_len).map(BatchHeader::parse) {
                Some(Ok(h)) => Ok(h),
                _ => {
                    let n = ((size - pos) as usize).min(WINDOW);
                    let got = read_up_to(
                        self.log.as_ref(),
                        window.get_mut(..n).unwrap_or_default(),
                        pos,
                    )
                    .map_err(io)?;
                    win_start = pos;
                    win_len = got;
                    BatchHeader::parse(window.get(..got).unwrap_or_default())
                }
            };
            let chained = parsed.as_ref().is_ok_and(|h| expected.admits(h));
            if !chained {
                if first_header && from_index {
                    return Err(Miss::BadHint);
                }
                return Err(Miss::Fail(match parsed {
                    Err(k) => self.corrupt(pos, k),
                    Ok(h) => {
                        let (Anchor::Base(want) | Anchor::Last(want)) = expected;
                        self.corrupt(
                            pos,
                            CorruptKind::NonMonotonicOffset {
                                previous: want,
                                found: h.base_offset as u64,
                            },
                        )
                    }
                }));
            }
            let h = parsed.map_err(|k| Miss::Fail(self.corrupt(pos, k)))?;
            first_header = false;
            if pos + h.total_size() > size {
                return Err(Miss::Fail(
                    self.corrupt(pos, CorruptKind::BadLength(h.batch_length.into())),
                ));
            }
            if h.last_offset() >= offset {
                break h;
            }
            expected = Anchor::Base(h.next_offset());
            pos += h.total_size();
        };

        // 2. Read whole batches from `pos` straight into `out`.
        let first_size = header.total_size() as usize;
        let budget = max_bytes.saturating_sub(out.len());
        if !out.is_empty() && first_size > budget {
            return Ok(ReadOutcome {
                next: None,
                full: true,
            });
        }
        let want = budget.max(first_size).min((size - pos) as usize);
        let start = out.len();
        let at = (pos - win_start) as usize;
        match window.get(at..at + want).filter(|_| at + want <= win_len) {
            Some(bytes) => out.extend_from_slice(bytes),
            // Into an empty buffer (the usual case): read without zero-filling it first.
            None if out.is_empty() => {
                *out = self.log.read_vec(want, pos).map_err(io)?;
            }
            None => {
                out.resize(start + want, 0);
                let got = read_up_to(
                    self.log.as_ref(),
                    out.get_mut(start..).unwrap_or_default(),
                    pos,
                )
                .map_err(io)?;
                out.truncate(start + got);
            }
        }

        // 3. Check each whole batch in place; keep those that fit.
        let mut kept = start;
        let mut next = None;
        let mut full = false;
        let mut expected = Anchor::Base(header.base_offset as u64);
        while kept < out.len() {
            let rest = out.get(kept..).unwrap_or_default();
            let h = match batch::parse_header_complete(rest) {
                Ok(h) => h,
                // Past the end of what was read: the budget stops here.
                Err(CorruptKind::Truncated { .. }) if kept > start => {
                    full = true;
                    break;
                }
                Err(k) => return Err(Miss::Fail(self.corrupt(pos + (kept - start) as u64, k))),
            };
            let file_pos = pos + (kept - start) as u64;
            let chained = expected.admits(&h);
            if !chained {
                return Err(Miss::Fail(self.corrupt(
                    file_pos,
                    CorruptKind::NonMonotonicOffset {
                        previous: next.unwrap_or(0),
                        found: h.base_offset as u64,
                    },
                )));
            }
            if verify_crc {
                batch::verify_crc(rest, &h).map_err(|k| Miss::Fail(self.corrupt(file_pos, k)))?;
            }
            kept += h.total_size() as usize;
            next = Some(h.next_offset());
            expected = Anchor::Base(h.next_offset());
        }
        out.truncate(kept);
        if out.len() >= max_bytes {
            full = true;
        }
        Ok(ReadOutcome { next, full })
    }

    /// Where to start scanning for the first record with timestamp >=
    /// `timestamp`: the offset after the last time index entry below it.
    /// The entry is checked against the batch it names (that batch's max
    /// timestamp must be the entry's); a wrong entry rebuilds the indexes.
    ///
    /// # Errors
    /// I/O errors or corruption.
    pub fn time_lookup(&self, timestamp: i64) -> Result<u64> {
        for attempt in 0..2 {
            let entry = self.indexes()?.time_lookup_below(timestamp);
            let Some(entry) = entry else {
                return Ok(self.base_offset);
            };
            let last = self.base_offset + u64::from(entry.relative_offset);
            let header = self
                .batch_headers_from(last)?
                .into_iter()
                .map(|(_, h)| h)
                .find(|h| h.last_offset() >= last);
            if header.is_some_and(|h| h.last_offset() == last && h.max_timestamp == entry.timestamp)
            {
                return Ok(last + 1);
            }
            if attempt == 0 {
                tracing::warn!(segment = %self.path(FileKind::TimeIndex).display(), "time index entry does not match its batch; rebuilding");
                self.rebuild_now()?;
            }
        }
        Ok(self.base_offset)
    }

    /// Where `truncate_suffix(offset)` cuts: the position and base offset of
    /// the batch holding `offset` (or the first batch after it), `None` if
    /// the segment ends before `offset`. Every header on the way is checked
    /// as an offset chain from the verified index entry (or the segment
    /// base), and the batch at the cut is CRC checked: `baseOffset` lies
    /// outside the CRC, so an unchecked header could name a wrong cut.
    ///
    /// # Errors
    /// I/O errors, or [`Error::Corrupt`] for a header or batch that fails.
    pub fn cut_point(&self, offset: u64) -> Result<Option<(u64, u64)>> {
        let size = self.size();
        let (mut pos, mut expected) = self.start_position(offset)?;
        let mut head = [0u8; BATCH_HEADER_BYTES];
        while pos < size {
            read_exact_at(self.log.as_ref(), &mut head, pos)
                .map_err(|e| Error::io("read", self.path(FileKind::Log), e))?;
            let h = BatchHeader::parse(&head).map_err(|k| self.corrupt(pos, k))?;
            let chained = expected.admits(&h);
            if !chained {
                let (Anchor::Base(want) | Anchor::Last(want)) = expected;
                return Err(self.corrupt(
                    pos,
                    CorruptKind::NonMonotonicOffset {
                        previous: want,
                        found: h.base_offset as u64,
                    },
                ));
            }
            if pos + h.total_size() > size {
                return Err(self.corrupt(pos, CorruptKind::BadLength(h.batch_length.into())));
            }
            if h.last_offset() >= offset {
                // Bounded by the published size, checked just above.
                let mut bytes = vec![0u8; h.total_size() as usize];
                read_exact_at(self.log.as_ref(), &mut bytes, pos)
                    .map_err(|e| Error::io("read", self.path(FileKind::Log), e))?;
                batch::verify_crc(&bytes, &h).map_err(|k| self.corrupt(pos, k))?;
                return Ok(Some((pos, h.base_offset as u64)));
            }
            expected = Anchor::Base(h.next_offset());
            pos += h.total_size();
        }
        Ok(None)
    }

    /// Position and header of every batch from the index entry at or below
    /// `offset` up to and including the batch holding `offset` (or the
    /// segment's end), headers only, no CRC check.
    ///
    /// # Errors
    /// I/O errors or an unparsable header.
    pub fn batch_headers_from(&self, offset: u64) -> Result<Vec<(u64, BatchHeader)>> {
        let size = self.size();
        let (mut pos, _) = self.start_position(offset)?;
        let mut out = Vec::new();
        let mut head = [0u8; BATCH_HEADER_BYTES];
        while pos < size {
            read_exact_at(self.log.as_ref(), &mut head, pos)
                .map_err(|e| Error::io("read", self.path(FileKind::Log), e))?;
            let h = BatchHeader::parse(&head).map_err(|k| self.corrupt(pos, k))?;
            out.push((pos, h));
            pos += h.total_size();
            if h.last_offset() >= offset {
                break;
            }
        }
        Ok(out)
    }

    /// Plans `truncate_suffix(offset)` in this segment without changing
    /// anything: where the cut goes ([`Segment::cut_point`]), the index
    /// entries that stay, and the greatest timestamp of what stays,
    /// recomputed from the data (the kept time entries plus a scan from the
    /// last kept offset entry to the cut): the last kept time entry alone can
    /// be older than batches written after it. `None` if the segment ends
    /// before `offset`.
    ///
    /// # Errors
    /// I/O errors, or [`Error::Corrupt`] if the batches before the cut fail
    /// their checks.
    pub fn plan_cut(&self, offset: u64) -> Result<Option<CutPlan>> {
        let Some((position, next_offset)) = self.cut_point(offset)? else {
            return Ok(None);
        };
        let rel = next_offset
            .saturating_sub(self.base_offset)
            .min(u64::from(u32::MAX)) as u32;
        let mut kept = self.indexes()?;
        kept.truncate(position as u32, rel);
        let max = self.max_below(&kept, position)?;
        Ok(Some(CutPlan {
            position,
            next_offset,
            kept,
            max,
        }))
    }

    /// The greatest timestamp (and its batch's last offset) of the batches
    /// below `end`, given the index entries `kept` below it: the last kept
    /// time entry covers everything up to the last kept offset entry's batch,
    /// and a scan from that batch to `end` covers the rest.
    fn max_below(&self, kept: &Indexes, end: u64) -> Result<(i64, u64)> {
        let (from, anchor) = kept
            .offsets
            .last()
            .map_or((0, Anchor::Base(self.base_offset)), |e| {
                (
                    u64::from(e.position),
                    Anchor::Last(self.base_offset + u64::from(e.relative_offset)),
                )
            });
        let mut builder = IndexBuilder::new(self.base_offset, u32::MAX, 0, kept);
        let mut scratch = kept.clone();
        let out = recover::scan(
            self.log.as_ref(),
            from,
            end,
            anchor,
            &mut builder,
            &mut scratch,
        )
        .map_err(|e| Error::io("read", self.path(FileKind::Log), e))?;
        if let Some(Stop::Torn { position, kind } | Stop::Corrupt { position, kind }) = out.stop {
            return Err(self.corrupt(position, kind));
        }
        Ok((builder.max_timestamp, builder.offset_of_max_timestamp))
    }
}
