//! Cutting the log at either end.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Log, Writer, guard};
use crate::error::{Error, Result};
use crate::offset::Offset;
use crate::segment::recover::IndexBuilder;
use crate::segment::{CutPlan, Segment};

impl Log {
    /// Moves the log start offset up to `offset` (at most the end offset) and
    /// deletes every segment wholly below it (Kafka's DeleteRecords). Segment
    /// files are removed when the last reader drops them. Returns the new log
    /// start offset.
    ///
    /// # Errors
    /// [`Error::Poisoned`], [`Error::Closed`], I/O errors.
    pub fn truncate_prefix(&self, offset: Offset) -> Result<Offset> {
        self.check_writable()?;
        let mut w = guard(&self.writer);
        self.check_writable()?;
        let end = self.log_end.load(Ordering::Acquire);
        let new_start = offset.0.min(end);
        if new_start <= self.log_start.load(Ordering::Acquire) {
            return Ok(self.log_start_offset());
        }
        // Everything goes: start a fresh active segment at the end first.
        let active = self.active()?;
        if new_start == end && active.base_offset() < end && active.size() > 0 {
            self.roll(&mut w)?;
        }
        self.delete_prefix_locked(&mut w, new_start)?;
        Ok(Offset(new_start))
    }

    /// Moves the log start to `new_start` (above the current one) and takes
    /// every segment wholly below it out of the log, under the writer lock.
    /// Returns the segments taken out; their files are removed when the last
    /// reader (and the caller) drops them.
    pub(super) fn delete_prefix_locked(
        &self,
        w: &mut Writer,
        new_start: u64,
    ) -> Result<Vec<Arc<Segment>>> {
        let gone = self.unlink_prefix_locked(w, new_start)?;
        self.retire(&gone)?;
        Ok(gone)
    }

    /// The first half of [`Log::delete_prefix_locked`]: the new start is
    /// durable and the segments are out of the list (readers no longer find
    /// them), but their files are still there. A crash from here on is
    /// repaired by open, which removes segments wholly below the log start.
    pub(super) fn unlink_prefix_locked(
        &self,
        w: &mut Writer,
        new_start: u64,
    ) -> Result<Vec<Arc<Segment>>> {
        // Durable first, so a crash after the renames below still knows the start.
        w.checkpoint.log_start_offset = new_start;
        self.write_checkpoint(&w.checkpoint)?;
        Ok(self.move_start_to(new_start))
    }

    /// Publishes the log start `new_start` and takes every segment wholly
    /// below it out of the segment list (never the last one); returns them.
    fn move_start_to(&self, new_start: u64) -> Vec<Arc<Segment>> {
        self.log_start.store(new_start, Ordering::Release);
        let segments = self.snapshot();
        let keep_from = segments
            .iter()
            .enumerate()
            .skip(1)
            .take_while(|(_, s)| s.base_offset() <= new_start)
            .map(|(i, _)| i)
            .last()
            .unwrap_or(0);
        let (gone, kept) = segments.split_at(keep_from);
        if !gone.is_empty() {
            self.segments.store(Arc::new(kept.to_vec()));
        }
        gone.to_vec()
    }

    /// Retention on a disk too full to write even the checkpoint: the
    /// segments below `new_start`, which must be a segment's base offset,
    /// are retired first (renamed, oldest first, and the directory synced)
    /// and the new log start is made durable by the caller once their
    /// files are gone. A crash before that leaves a log starting at its
    /// first remaining segment: at worst some of what retention deleted is
    /// still there, never a record below a log start made durable before.
    pub(super) fn retire_prefix_before_checkpoint(
        &self,
        w: &mut Writer,
        new_start: u64,
    ) -> Result<Vec<Arc<Segment>>> {
        w.checkpoint.log_start_offset = new_start;
        let gone = self.move_start_to(new_start);
        self.retire(&gone)?;
        Ok(gone)
    }

    /// The second half: renames the segments' files to `*.deleted` (removed
    /// when the last reader drops them) and syncs the directory.
    pub(super) fn retire(&self, gone: &[Arc<Segment>]) -> Result<()> {
        if gone.is_empty() {
            return Ok(());
        }
        for seg in gone {
            seg.mark_deleted()?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync", &self.dir, e))
    }

    /// Removes every record at or after `offset` (replication uses this to
    /// drop a conflicting tail). The log is cut at the start of the batch
    /// holding `offset`, so the new end may be below `offset`; it is returned.
    /// Later segments are removed newest first, so a crash part-way leaves a
    /// shorter prefix of the old log, never a hole.
    ///
    /// The cut point is found (and its batch checked) before anything
    /// changes; a failure after the first file is touched poisons the log,
    /// because the files may then no longer match what the log has in memory.
    /// Appends still waiting for their fsync whose records were cut get
    /// [`Error::Truncated`].
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the log start, [`Error::Corrupt`] if
    /// the batches leading to the cut fail their checks (nothing is cut), and
    /// as [`Log::flush`].
    pub fn truncate_suffix(&self, offset: Offset) -> Result<Offset> {
        self.check_writable()?;
        let mut w = guard(&self.writer);
        self.check_writable()?;
        let end = self.log_end.load(Ordering::Acquire);
        let start = self.log_start.load(Ordering::Acquire);
        if offset.0 >= end {
            return Ok(Offset(end));
        }
        if offset.0 < start {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                log_start: Offset(start),
                log_end: Offset(end),
            });
        }
        let segments = self.snapshot();
        let keep = segments
            .partition_point(|s| s.base_offset() <= offset.0)
            .max(1);
        let (kept, gone) = segments.split_at(keep);
        let seg: &Arc<Segment> = kept.last().ok_or(Error::Closed)?;
        // Read-only so far: a damaged header is reported, not cut at.
        let cut = seg.plan_cut(offset.0)?;
        let new_end = match &cut {
            Some(plan) => plan.next_offset,
            None => seg.info()?.next_offset,
        };
        {
            let mut st = guard(&self.sync);
            st.cut(new_end);
        }
        self.synced.notify_all();
        // Readers asking for cut offsets get OffsetOutOfRange from here on,
        // before their bytes go.
        self.log_end.store(new_end, Ordering::Release);
        self.cut_suffix(&mut w, kept, gone, cut, new_end)
            .map_err(|e| self.poison(e))?;
        Ok(Offset(new_end))
    }

    /// The destructive part of `truncate_suffix`, under the writer lock.
    fn cut_suffix(
        &self,
        w: &mut Writer,
        kept: &[Arc<Segment>],
        gone: &[Arc<Segment>],
        cut: Option<CutPlan>,
        new_end: u64,
    ) -> Result<()> {
        for seg in gone.iter().rev() {
            seg.mark_deleted()?;
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| Error::io("fsync", &self.dir, e))?;
        }
        let seg: &Arc<Segment> = kept.last().ok_or(Error::Closed)?;
        if let Some(plan) = cut {
            seg.truncate_to(plan)?;
        }
        if !gone.is_empty() {
            seg.reactivate(self.config.load().segment_index_bytes)?;
            self.segments.store(Arc::new(kept.to_vec()));
        }
        let idx = seg.indexes()?;
        let size = seg.size();
        let since = idx
            .offsets
            .last()
            .map_or(size, |e| size - u64::from(e.position));
        w.builder = IndexBuilder::resume(
            seg.base_offset(),
            self.config.load().index_interval_bytes,
            since,
            seg.max_timestamp_and_offset(),
        );
        w.first_timestamp = None;
        if w.checkpoint.recovery_point > new_end {
            w.checkpoint.recovery_point = new_end;
            w.checkpoint.recovery_segment = seg.base_offset();
            w.checkpoint.recovery_position = size;
        }
        if w.checkpoint.log_start_offset > new_end {
            w.checkpoint.log_start_offset = new_end;
            self.log_start.store(new_end, Ordering::Release);
        }
        self.write_checkpoint(&w.checkpoint)
    }
}
