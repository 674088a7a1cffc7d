//! Cutting the log at either end.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Log, guard};
use crate::error::{Error, Result};
use crate::offset::Offset;
use crate::segment::Segment;
use crate::segment::recover::IndexBuilder;

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
        // Durable first, so a crash after the renames below still knows the start.
        w.checkpoint.log_start_offset = new_start;
        self.write_checkpoint(&w.checkpoint)?;
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
        if keep_from > 0 {
            let (gone, kept) = segments.split_at(keep_from);
            self.segments.store(Arc::new(kept.to_vec()));
            for seg in gone {
                seg.mark_deleted()?;
            }
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| Error::io("fsync", &self.dir, e))?;
        }
        Ok(Offset(new_start))
    }

    /// Removes every record at or after `offset` (replication uses this to
    /// drop a conflicting tail). The log is cut at the start of the batch
    /// holding `offset`, so the new end may be below `offset`; it is returned.
    /// Later segments are removed newest first, so a crash part-way leaves a
    /// shorter prefix of the old log, never a hole.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the log start, and as [`Log::flush`].
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
        {
            let mut st = guard(&self.sync);
            st.epoch += 1;
            st.synced_upto = st.synced_upto.min(offset.0);
        }
        let segments = self.snapshot();
        let keep = segments
            .partition_point(|s| s.base_offset() <= offset.0)
            .max(1);
        let (kept, gone) = segments.split_at(keep);
        for seg in gone.iter().rev() {
            seg.mark_deleted()?;
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| Error::io("fsync", &self.dir, e))?;
        }
        let seg: &Arc<Segment> = kept.last().ok_or(Error::Closed)?;
        let cut = seg
            .batch_headers_from(offset.0)?
            .into_iter()
            .find(|(_, h)| h.last_offset() >= offset.0);
        let new_end = match cut {
            Some((pos, h)) => {
                let base = h.base_offset as u64;
                seg.truncate_to(pos, base)?;
                base
            }
            None => seg.info()?.next_offset,
        };
        if !gone.is_empty() {
            seg.reactivate(self.config.segment_index_bytes)?;
            self.segments.store(Arc::new(kept.to_vec()));
        }
        self.log_end.store(new_end, Ordering::Release);
        let idx = seg.indexes()?;
        let size = seg.size();
        let since = idx
            .offsets
            .last()
            .map_or(size, |e| size - u64::from(e.position));
        w.builder = IndexBuilder::new(
            seg.base_offset(),
            self.config.index_interval_bytes,
            since,
            &idx,
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
        self.write_checkpoint(&w.checkpoint)?;
        Ok(Offset(new_end))
    }
}
