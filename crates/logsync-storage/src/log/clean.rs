//! The cleaner (`cleanup.policy=compact`): keeps the latest record of every
//! key, by offset or by record timestamp (`compaction.strategy`).
//!
//! One pass: (1) build a bounded key map over the dirty part — from the
//! cleaner checkpoint up to the first uncleanable offset (the active segment,
//! or a segment younger than `min.compaction.lag.ms`), stopping early at a
//! batch boundary if the map's budget is reached; (2) rewrite every sealed
//! segment below the map's end, oldest first, in groups merged up to
//! `segment.bytes`, keeping a record only if it is its key's winner (or its
//! key is not in the map); (3) swap each group in (`cleaner::swap`). Passes
//! repeat until the dirty part is consumed. Offsets never change: a batch
//! whose followers were removed is stretched over their offsets (its last
//! offset delta), so the batch chain of a segment has no gaps.
//!
//! With the timestamp strategy a record of the already-clean part can beat
//! the dirty part's winner (a late event): the clean part is rewritten
//! first, in offset order, so such a record replaces the map's winner before
//! the dirty records are judged.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::{Log, guard};
use crate::batch::{self, Batch, BatchHeader, RecordRef};
use crate::cleaner::map::{KeyMap, Winner, key_hash};
use crate::cleaner::swap::{Manifest, cleaned_path};
use crate::cleaner::{CleanReport, CleanerState};
use crate::error::{CorruptKind, Error, Result};
use crate::fs::{FsFile, OpenMode, write_all_at};
use crate::index::{Indexes, OffsetEntry, TimeEntry};
use crate::offset::{Offset, TimestampMs};
use crate::segment::Segment;
use crate::segment::file_name::FileKind;
use crate::segment::recover::IndexBuilder;

/// Bytes read from a segment at a time while cleaning.
const READ_CHUNK: usize = 4 << 20;
/// Bytes of cleaned batches buffered before they are written out.
const WRITE_CHUNK: usize = 1 << 20;

/// Calls `f` with every batch of `seg` from the one holding `from` on.
fn for_each_batch(
    seg: &Segment,
    from: u64,
    mut f: impl FnMut(&Batch) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let mut next = from;
    loop {
        let mut buf = Vec::new();
        let Some(n) = seg.read_batches(next, READ_CHUNK, &mut buf)?.next else {
            return Ok(());
        };
        let bytes = Bytes::from(buf);
        let batches = batch::split_batches(&bytes).map_err(|kind| Error::Corrupt {
            path: seg.path(FileKind::Log),
            position: 0,
            kind,
        })?;
        for b in &batches {
            if f(b)?.is_break() {
                return Ok(());
            }
        }
        next = n;
    }
}

fn corrupt_in(seg: &Segment) -> impl Fn(CorruptKind) -> Error + '_ {
    move |kind| Error::Corrupt {
        path: seg.path(FileKind::Log),
        position: 0,
        kind,
    }
}

/// Writes a cleaned segment to `<group start>.*.cleaned`, stretching each
/// batch over a gap that follows it, and builds its indexes.
struct CleanedWriter {
    file: Arc<dyn FsFile>,
    path: std::path::PathBuf,
    interval: u32,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    flushed: u64,
    /// The last batch pushed: its start in `buf`, header and file position.
    /// Held back until the next batch shows whether it must be stretched.
    last: Option<(usize, BatchHeader, u64)>,
    builder: Option<(u64, IndexBuilder)>,
    idx: Indexes,
    size: u64,
    stretched: bool,
}

impl CleanedWriter {
    fn create(log: &Log, group_start: u64) -> Result<Self> {
        let path = cleaned_path(&log.dir, group_start, FileKind::Log);
        let file = log
            .fs
            .open(&path, OpenMode::CreateTruncate)
            .map_err(|e| Error::io("create", &path, e))?;
        Ok(CleanedWriter {
            file,
            path,
            interval: log.config.load().index_interval_bytes,
            buf: Vec::with_capacity(WRITE_CHUNK + (64 << 10)),
            flushed: 0,
            last: None,
            builder: None,
            idx: Indexes::default(),
            size: 0,
            stretched: false,
        })
    }

    /// Adds the held-back batch to the indexes.
    fn index_last(&mut self) {
        if let (Some((_, h, pos)), Some((_, builder))) = (self.last.take(), self.builder.as_mut()) {
            let (o, t) = builder.on_batch(&h, pos, self.idx.times.last().copied());
            self.idx.offsets.extend(o);
            self.idx.times.extend(t);
        }
    }

    fn push(&mut self, bytes: &[u8], h: &BatchHeader) -> Result<()> {
        if let Some((at, prev, _)) = self.last.as_mut() {
            let base = h.base_offset as u64;
            if base > prev.next_offset() {
                let delta = i32::try_from(h.base_offset - prev.base_offset - 1).map_err(|_| {
                    Error::InvalidBatch(CorruptKind::BadRecord(
                        "offset gap too wide to stretch over",
                    ))
                })?;
                batch::set_last_offset_delta(self.buf.get_mut(*at..).unwrap_or_default(), delta);
                prev.last_offset_delta = delta;
                self.stretched = true;
            }
        }
        self.index_last();
        if self.builder.is_none() {
            let base = h.base_offset as u64;
            let builder = IndexBuilder::new(base, self.interval, 0, &Indexes::default());
            self.builder = Some((base, builder));
        }
        if self.buf.len() >= WRITE_CHUNK {
            self.flush()?;
        }
        self.last = Some((self.buf.len(), *h, self.size));
        self.buf.extend_from_slice(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        write_all_at(self.file.as_ref(), &self.buf, self.flushed)
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes everything out with the index files and syncs them. Returns
    /// the new segment's base, or `None` if no batch was kept.
    fn finish(mut self, log: &Log, group_start: u64) -> Result<Option<u64>> {
        self.index_last();
        self.flush()?;
        self.file
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))?;
        let Some((base, builder)) = self.builder else {
            return Ok(None);
        };
        let mut idx = std::mem::take(&mut self.idx);
        idx.times
            .extend(builder.time_entry(idx.times.last().copied()));
        for (kind, bytes) in [
            (
                FileKind::Index,
                idx.offsets
                    .iter()
                    .flat_map(OffsetEntry::encode)
                    .collect::<Vec<u8>>(),
            ),
            (
                FileKind::TimeIndex,
                idx.times.iter().flat_map(TimeEntry::encode).collect(),
            ),
        ] {
            let path = cleaned_path(&log.dir, group_start, kind);
            let f = log
                .fs
                .open(&path, OpenMode::CreateTruncate)
                .map_err(|e| Error::io("create", &path, e))?;
            write_all_at(f.as_ref(), &bytes, 0).map_err(|e| Error::io("write", &path, e))?;
            f.sync_data().map_err(|e| Error::io("fsync", &path, e))?;
        }
        Ok(Some(base))
    }
}

/// What one pass works with.
struct Pass<'a> {
    now: i64,
    /// First dirty offset: records below it were cleaned before.
    from: u64,
    /// End of the map's range: batches from here on are left alone.
    map_end: u64,
    map: &'a mut KeyMap,
    report: &'a mut CleanReport,
    /// Earliest delete horizon of the tombstones kept so far.
    next_horizon: i64,
    progress: &'a mut dyn FnMut(CleanProgress),
}

/// How far a clean has come, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanProgress {
    /// Pass number, from 1.
    pub pass: u32,
    /// Bytes of this pass's segments rewritten so far.
    pub done_bytes: u64,
    /// Bytes of all segments this pass rewrites.
    pub total_bytes: u64,
}

impl Log {
    /// Cleans the log now (by the system clock), whatever its dirty ratio.
    /// The active segment is never cleaned (see [`Log::roll_active`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `cleanup.policy` includes `compact`,
    /// [`Error::DiskFull`] (the log is left as it was), corruption met while
    /// reading, I/O errors.
    pub fn clean(&self) -> Result<CleanReport> {
        self.clean_at(super::now_ms(), true)
    }

    /// Cleans the log with the given time (tests inject a clock here). Unless
    /// `force`, only if [`Log::needs_cleaning_at`] says so.
    ///
    /// # Errors
    /// As [`Log::clean`].
    pub fn clean_at(&self, now: TimestampMs, force: bool) -> Result<CleanReport> {
        self.clean_with_progress(now, force, &mut |_| {})
    }

    /// Like [`Log::clean_at`], calling `progress` after each group of
    /// segments is rewritten.
    ///
    /// # Errors
    /// As [`Log::clean`].
    pub fn clean_with_progress(
        &self,
        now: TimestampMs,
        force: bool,
        progress: &mut dyn FnMut(CleanProgress),
    ) -> Result<CleanReport> {
        let policy = self.config.load().cleanup_policy;
        if !policy.compacts() {
            return Err(Error::InvalidConfig {
                key: "cleanup.policy".into(),
                value: policy.name().into(),
                reason: "the cleaner runs only on topics whose cleanup.policy includes compact"
                    .into(),
            });
        }
        let started = Instant::now();
        let mut state = guard(&self.cleaner);
        self.check_writable()?;
        let before = self.snapshot();
        let mut report = CleanReport {
            bytes_before: before.iter().map(|s| s.size()).sum(),
            segments_before: before.len(),
            ..CleanReport::default()
        };
        drop(before);
        loop {
            let segments = self.snapshot();
            let (from, end) = self.cleanable_range(&segments, state.first_dirty, now)?;
            let dirty = from < end;
            // Nothing dirty, but a tombstone's horizon may have passed: one
            // pass with an empty map drops such tombstones.
            let horizon_due = now.0 >= state.next_horizon;
            let first = report.passes == 0;
            if !dirty && !(first && (force || horizon_due)) {
                break;
            }
            if dirty
                && first
                && !force
                && !horizon_due
                && !self.worth_cleaning(&segments, from, end, now)?
            {
                break;
            }
            let mut map = KeyMap::new(
                self.config.load().cleaner_dedupe_buffer_size,
                self.config.load().compaction_strategy,
            );
            let map_end = if dirty {
                self.build_map(&segments, from, end, &mut map)?
            } else {
                end
            };
            report.keys += map.len() as u64;
            report.map_bytes = report.map_bytes.max(map.memory_bytes());
            let mut pass = Pass {
                now: now.0,
                from,
                map_end,
                map: &mut map,
                report: &mut report,
                next_horizon: i64::MAX,
                progress: &mut *progress,
            };
            let complete = self.rewrite(&segments, &mut pass)?;
            let next_horizon = pass.next_horizon;
            report.passes += 1;
            if !complete {
                break;
            }
            let next = CleanerState {
                first_dirty: state.first_dirty.max(map_end),
                next_horizon,
            };
            next.write(self.fs.as_ref(), &self.dir).map_err(|e| {
                Error::io(
                    "write",
                    self.dir.join(crate::cleaner::CLEANER_CHECKPOINT_FILE),
                    e,
                )
            })?;
            *state = next;
            if !dirty {
                break;
            }
        }
        let after = self.snapshot();
        report.bytes_after = after.iter().map(|s| s.size()).sum();
        report.segments_after = after.len();
        report.cleaned_upto = Offset(state.first_dirty);
        report.duration = started.elapsed();
        if report.passes > 0 {
            tracing::info!(dir = %self.dir.display(), passes = report.passes, bytes_before = report.bytes_before, bytes_after = report.bytes_after, records_before = report.records_before, records_after = report.records_after, "cleaned");
        }
        Ok(report)
    }

    /// Whether the cleaner should run now: the dirty ratio has reached
    /// `min.cleanable.dirty.ratio`, or a dirty record is older than
    /// `max.compaction.lag.ms`.
    ///
    /// # Errors
    /// I/O errors or corruption met while reading segment metadata.
    pub fn needs_cleaning_at(&self, now: TimestampMs) -> Result<bool> {
        if !self.config.load().cleanup_policy.compacts() {
            return Ok(false);
        }
        let segments = self.snapshot();
        let state = *guard(&self.cleaner);
        if now.0 >= state.next_horizon {
            return Ok(true);
        }
        let (from, end) = self.cleanable_range(&segments, state.first_dirty, now)?;
        Ok(from < end && self.worth_cleaning(&segments, from, end, now)?)
    }

    /// Dirty bytes over all bytes of the cleanable part (sealed segments
    /// old enough for `min.compaction.lag.ms`); 0 when nothing is cleanable.
    ///
    /// # Errors
    /// As [`Log::needs_cleaning_at`].
    pub fn dirty_ratio_at(&self, now: TimestampMs) -> Result<f64> {
        let segments = self.snapshot();
        let first_dirty = guard(&self.cleaner).first_dirty;
        let (from, end) = self.cleanable_range(&segments, first_dirty, now)?;
        self.ratio(&segments, from, end)
    }

    /// Offset up to which the log is clean (the cleaner checkpoint).
    #[must_use]
    pub fn cleaner_checkpoint(&self) -> Offset {
        Offset(
            guard(&self.cleaner)
                .first_dirty
                .max(self.log_start.load(Ordering::Acquire)),
        )
    }

    /// `[first dirty offset, first uncleanable offset)`.
    fn cleanable_range(
        &self,
        segments: &[Arc<Segment>],
        first_dirty: u64,
        now: TimestampMs,
    ) -> Result<(u64, u64)> {
        let from = first_dirty.max(self.log_start.load(Ordering::Acquire));
        let Some((active, sealed)) = segments.split_last() else {
            return Ok((from, from));
        };
        let mut end = active.base_offset();
        let lag = self.config.load().min_compaction_lag_ms;
        if lag > 0 {
            let limit = now.0.saturating_sub(i64::try_from(lag).unwrap_or(i64::MAX));
            for seg in sealed {
                let info = seg.info()?;
                if info.next_offset > from && info.max_timestamp > limit {
                    end = end.min(seg.base_offset());
                    break;
                }
            }
        }
        Ok((from, end))
    }

    fn ratio(&self, segments: &[Arc<Segment>], from: u64, end: u64) -> Result<f64> {
        let (mut total, mut dirty) = (0u64, 0u64);
        for seg in segments.iter().take_while(|s| s.base_offset() < end) {
            let size = seg.size();
            total += size;
            if seg.info()?.next_offset > from {
                dirty += size;
            }
        }
        Ok(if total == 0 {
            0.0
        } else {
            dirty as f64 / total as f64
        })
    }

    fn worth_cleaning(
        &self,
        segments: &[Arc<Segment>],
        from: u64,
        end: u64,
        now: TimestampMs,
    ) -> Result<bool> {
        if self.ratio(segments, from, end)? >= self.config.load().min_cleanable_dirty_ratio {
            return Ok(true);
        }
        // max.compaction.lag.ms: the first dirty batch's timestamp.
        let max_lag = i64::try_from(self.config.load().max_compaction_lag_ms).unwrap_or(i64::MAX);
        let holder = segments
            .partition_point(|s| s.base_offset() <= from)
            .saturating_sub(1);
        if let Some(seg) = segments.get(holder)
            && let Some((_, h)) = seg.batch_headers_from(from)?.last()
        {
            return Ok(now.0.saturating_sub(h.max_timestamp) > max_lag);
        }
        Ok(false)
    }

    /// Fills `map` with the winner of every key in `[from, end)`, stopping
    /// at a batch boundary if the budget runs out. Returns where it stopped.
    fn build_map(
        &self,
        segments: &[Arc<Segment>],
        from: u64,
        end: u64,
        map: &mut KeyMap,
    ) -> Result<u64> {
        let max = self.config.load().max_decompressed_bytes as usize;
        let mut stop = end;
        for seg in segments.iter().filter(|s| s.base_offset() < end) {
            if seg.info()?.next_offset <= from {
                continue;
            }
            let corrupt = corrupt_in(seg);
            for_each_batch(seg, from.max(seg.base_offset()), |b| {
                let h = b.header();
                if h.last_offset() < from || h.attributes.is_control() {
                    return Ok(ControlFlow::Continue(()));
                }
                if (map.room() as u64) < u64::from(h.records_count.unsigned_abs()) {
                    stop = (h.base_offset as u64).max(from);
                    return Ok(ControlFlow::Break(()));
                }
                let payload = b.payload(max).map_err(&corrupt)?;
                let mut cursor = b.cursor();
                while let Some(r) = cursor.next_record(&payload) {
                    let r = r.map_err(&corrupt)?;
                    if let (Some(key), true) = (r.key, r.offset.0 >= from) {
                        let w = Winner {
                            offset: r.offset.0,
                            timestamp: r.timestamp.0,
                        };
                        map.offer(key_hash(key), w);
                    }
                }
                Ok(ControlFlow::Continue(()))
            })?;
            if stop < end {
                break;
            }
        }
        if stop == from {
            return Err(Error::InvalidConfig {
                key: "cleaner.dedupe.buffer.size".into(),
                value: self.config.load().cleaner_dedupe_buffer_size.to_string(),
                reason: format!(
                    "too small for one batch of the log (room for {} keys)",
                    map.capacity()
                ),
            });
        }
        Ok(stop)
    }

    /// Rewrites every sealed segment below the map's end, group by group.
    /// Returns `false` if a group was abandoned because the log changed
    /// under it (retention or a truncation).
    fn rewrite(&self, segments: &[Arc<Segment>], pass: &mut Pass<'_>) -> Result<bool> {
        let targets: Vec<&Arc<Segment>> = segments
            .iter()
            .take(segments.len().saturating_sub(1))
            .take_while(|s| s.base_offset() < pass.map_end)
            .collect();
        let total_bytes: u64 = targets.iter().map(|s| s.size()).sum();
        let mut done_bytes = 0;
        let mut i = 0;
        while let Some(rest) = targets.get(i..).filter(|r| !r.is_empty()) {
            let Some(taken) = self.clean_group(rest, segments, pass)? else {
                return Ok(false);
            };
            done_bytes += rest.iter().take(taken).map(|s| s.size()).sum::<u64>();
            (pass.progress)(CleanProgress {
                pass: pass.report.passes + 1,
                done_bytes,
                total_bytes,
            });
            i += taken.max(1);
        }
        Ok(true)
    }

    /// Cleans the next group of `rest` (consecutive sealed segments whose
    /// cleaned output fits in `segment.bytes`) into one new segment and swaps
    /// it in. Returns how many segments the group took, or `None` if it was
    /// abandoned because the log changed under it.
    fn clean_group(
        &self,
        rest: &[&Arc<Segment>],
        segments: &[Arc<Segment>],
        pass: &mut Pass<'_>,
    ) -> Result<Option<usize>> {
        let Some(first) = rest.first() else {
            return Ok(Some(0));
        };
        let group_start = first.base_offset();
        let written = self.write_group(rest, group_start, pass);
        let (taken, new_base, changed) = match written {
            Ok(x) => x,
            Err(e) => {
                Manifest::abandon(self.fs.as_ref(), &self.dir, group_start);
                return Err(e);
            }
        };
        let group: Vec<Arc<Segment>> = rest.iter().take(taken).map(|s| Arc::clone(s)).collect();
        let sizes: Vec<u64> = group.iter().map(|s| s.size()).collect();
        let at_in_pass = segments.iter().position(|s| Arc::ptr_eq(s, first));
        let group_end = at_in_pass
            .and_then(|a| segments.get(a + taken))
            .map_or(u64::MAX, |s| s.base_offset());
        if !changed && group.len() == 1 {
            Manifest::abandon(self.fs.as_ref(), &self.dir, group_start);
            return Ok(Some(taken));
        }
        let mut w = guard(&self.writer);
        let current = self.snapshot();
        let at = current.iter().position(|s| Arc::ptr_eq(s, *first));
        let intact = at.is_some_and(|at| {
            current.len() > at + group.len()
                && group.iter().zip(&sizes).enumerate().all(|(k, (g, &size))| {
                    current
                        .get(at + k)
                        .is_some_and(|c| Arc::ptr_eq(c, g) && c.size() == size)
                })
        });
        let (Some(at), true, Ok(())) = (at, intact, self.check_writable()) else {
            drop(w);
            tracing::info!(dir = %self.dir.display(), "log changed while cleaning; cleaned group abandoned");
            Manifest::abandon(self.fs.as_ref(), &self.dir, group_start);
            return Ok(None);
        };
        let manifest = Manifest {
            group_start,
            group_end,
            new_base,
        };
        if let Err(e) = manifest.commit(self.fs.as_ref(), &self.dir) {
            Manifest::abandon(self.fs.as_ref(), &self.dir, group_start);
            return Err(e);
        }
        // Committed: from here a failure leaves files that only the roll
        // forward at the next open can be sure of.
        let swapped = (|| -> Result<Vec<Arc<Segment>>> {
            for seg in &group {
                seg.mark_deleted()?;
            }
            manifest.roll_forward(self.fs.as_ref(), &self.dir, false)?;
            let mut list: Vec<Arc<Segment>> = current.get(..at).unwrap_or_default().to_vec();
            if let Some(base) = new_base {
                list.push(Arc::new(Segment::open(
                    &self.fs,
                    &self.dir,
                    base,
                    self.config.load().index_interval_bytes,
                )?));
            }
            list.extend(
                current
                    .get(at + group.len()..)
                    .unwrap_or_default()
                    .iter()
                    .cloned(),
            );
            Ok(list)
        })();
        let list = swapped.map_err(|e| self.poison(e))?;
        let first_base = list.first().map_or(0, |s| s.base_offset());
        self.segments.store(Arc::new(list));
        if at == 0 && first_base > self.log_start.load(Ordering::Acquire) {
            // Nothing is left below the first segment: the log starts there.
            w.checkpoint.log_start_offset = first_base;
            self.write_checkpoint(&w.checkpoint)?;
            self.log_start.store(first_base, Ordering::Release);
        }
        Ok(Some(taken))
    }

    /// Writes the cleaned segment of a group. Returns its base (`None` if
    /// nothing was kept) and whether anything differs from the input.
    fn write_group(
        &self,
        rest: &[&Arc<Segment>],
        group_start: u64,
        pass: &mut Pass<'_>,
    ) -> Result<(usize, Option<u64>, bool)> {
        let max = self.config.load().max_decompressed_bytes as usize;
        let strategy = self.config.load().compaction_strategy;
        let horizon = pass.now.saturating_add(
            i64::try_from(self.config.load().delete_retention_ms).unwrap_or(i64::MAX),
        );
        let mut out = CleanedWriter::create(self, group_start)?;
        let mut changed = false;
        let mut scratch = Vec::new();
        let mut taken = 0;
        for seg in rest {
            // The group goes on while what is written plus the whole next
            // segment (an upper bound of its output) fits in a segment.
            if taken > 0 {
                let span = seg.info()?.next_offset.saturating_sub(group_start);
                if out.size + seg.size() > u64::from(self.config.load().segment_bytes)
                    || span > i32::MAX as u64
                {
                    break;
                }
            }
            taken += 1;
            let corrupt = corrupt_in(seg);
            for_each_batch(seg, seg.base_offset(), |b| {
                let h = *b.header();
                let count = u64::from(h.records_count.unsigned_abs());
                if h.attributes.is_control() {
                    out.push(b.bytes(), &h)?;
                    return Ok(ControlFlow::Continue(()));
                }
                pass.report.records_before += count;
                if h.base_offset as u64 >= pass.map_end {
                    pass.report.records_after += count;
                    out.push(b.bytes(), &h)?;
                    return Ok(ControlFlow::Continue(()));
                }
                let payload = b.payload(max).map_err(&corrupt)?;
                let mut cursor = b.cursor();
                let mut kept: Vec<RecordRef<'_>> = Vec::new();
                let mut tombstone_kept = false;
                while let Some(r) = cursor.next_record(&payload) {
                    let r = r.map_err(&corrupt)?;
                    let Some(key) = r.key else {
                        pass.report.keyless_dropped += 1;
                        continue;
                    };
                    let hash = key_hash(key);
                    let me = Winner {
                        offset: r.offset.0,
                        timestamp: r.timestamp.0,
                    };
                    let keep = match pass.map.get(hash) {
                        None => true,
                        Some(winner) if me.at_least(winner, strategy) => {
                            if me != winner && r.offset.0 < pass.from {
                                // A clean record that beats the dirty part's
                                // winner (a late event, timestamp strategy).
                                pass.map.replace(hash, me);
                            }
                            true
                        }
                        Some(_) => false,
                    };
                    if !keep {
                        continue;
                    }
                    if r.value.is_none() {
                        if h.attributes.has_delete_horizon() && pass.now >= h.base_timestamp {
                            pass.report.tombstones_dropped += 1;
                            continue;
                        }
                        tombstone_kept = true;
                    }
                    kept.push(r);
                }
                pass.report.records_after += kept.len() as u64;
                let has_horizon = h.attributes.has_delete_horizon();
                let needs_horizon = tombstone_kept && !has_horizon;
                if tombstone_kept {
                    let at = if has_horizon {
                        h.base_timestamp
                    } else {
                        horizon
                    };
                    pass.next_horizon = pass.next_horizon.min(at);
                }
                if kept.len() as u64 == count && !needs_horizon {
                    out.push(b.bytes(), &h)?;
                } else {
                    changed = true;
                    if !kept.is_empty() {
                        let delete_horizon = if has_horizon {
                            Some(h.base_timestamp)
                        } else {
                            needs_horizon.then_some(horizon)
                        };
                        scratch.clear();
                        batch::encode_rewritten(&mut scratch, &h, &kept, delete_horizon)
                            .map_err(&corrupt)?;
                        let nh = BatchHeader::parse(&scratch).map_err(&corrupt)?;
                        out.push(&scratch, &nh)?;
                    }
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        changed |= out.stretched || taken > 1;
        let new_base = out.finish(self, group_start)?;
        changed |= new_base != Some(group_start);
        Ok((taken, new_base, changed))
    }
}
