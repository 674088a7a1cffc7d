//! Retention (`cleanup.policy=delete`): whole segments leave the log by age
//! (the newest record timestamp they hold, as in Kafka, never the file's
//! mtime, which a copy or a restore changes) and by the partition's size.
//! The active segment is never deleted.

use std::sync::atomic::Ordering;

use super::{Log, Writer, guard};
use crate::error::{Error, Result};
use crate::offset::{Offset, TimestampMs};

/// What one retention run deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Segments taken out of the log.
    pub segments_deleted: usize,
    /// Bytes of their `.log` files.
    pub bytes_deleted: u64,
    /// The log start offset afterwards.
    pub log_start_offset: Offset,
}

impl RetentionReport {
    /// One line for partition `partition`, as `logsync topic retention` prints it.
    #[must_use]
    pub fn line(&self, partition: u32) -> String {
        format!(
            "partition {partition}: deleted {} segment(s), {} bytes; log start offset {}",
            self.segments_deleted, self.bytes_deleted, self.log_start_offset
        )
    }
}

/// Milliseconds since the Unix epoch by the system clock.
#[must_use]
pub fn now_ms() -> TimestampMs {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    TimestampMs(i64::try_from(ms).unwrap_or(i64::MAX))
}

impl Log {
    /// Applies `retention.ms` and `retention.bytes` now (by the system
    /// clock); does nothing unless `cleanup.policy` includes `delete`.
    ///
    /// # Errors
    /// [`crate::Error::Poisoned`], [`crate::Error::Closed`], I/O errors.
    pub fn apply_retention(&self) -> Result<RetentionReport> {
        self.apply_retention_at(now_ms())
    }

    /// Like [`Log::apply_retention`] with the current time given (tests
    /// inject a clock here).
    ///
    /// # Errors
    /// As [`Log::apply_retention`].
    pub fn apply_retention_at(&self, now: TimestampMs) -> Result<RetentionReport> {
        self.check_writable()?;
        let mut w = guard(&self.writer);
        self.check_writable()?;
        let report = self.retention_locked(&mut w, now, false)?;
        drop(w);
        // Outside the writer lock: renaming and unlinking many files must
        // not hold up appends.
        self.finish_deletes()?;
        Ok(report)
    }

    /// Renames and removes the files of segments retention took out of the
    /// log, without the writer lock. `apply_retention` calls it, and so does
    /// `close` in case a run was interrupted.
    ///
    /// # Errors
    /// I/O errors renaming (the files stay; the next open removes them).
    pub fn finish_deletes(&self) -> Result<()> {
        let gone = std::mem::take(&mut *guard(&self.pending_deletes));
        self.retire(&gone)
    }

    /// Retention under the writer lock. An append that met a full disk
    /// deletes the files at once (`now_delete`); otherwise they are left to
    /// [`Log::finish_deletes`].
    pub(super) fn retention_locked(
        &self,
        w: &mut Writer,
        now: TimestampMs,
        now_delete: bool,
    ) -> Result<RetentionReport> {
        let mut report = RetentionReport {
            log_start_offset: self.log_start_offset(),
            ..RetentionReport::default()
        };
        if !self.config.load().cleanup_policy.deletes() {
            return Ok(report);
        }
        let segments = self.snapshot();
        let Some((_active, sealed)) = segments.split_last() else {
            return Ok(report);
        };
        let mut n = 0;
        if let Some(ms) = self.config.load().retention_ms {
            let limit = now.0.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
            for seg in sealed {
                if seg.info()?.max_timestamp >= limit {
                    break;
                }
                n += 1;
            }
        }
        if let Some(max) = self.config.load().retention_bytes {
            let total: u64 = segments.iter().skip(n).map(|s| s.size()).sum();
            let mut excess = total.saturating_sub(max);
            for seg in sealed.iter().skip(n) {
                if seg.size() > excess {
                    break;
                }
                excess -= seg.size();
                n += 1;
            }
        }
        let Some(first_kept) = segments.get(n).filter(|_| n > 0) else {
            return Ok(report);
        };
        let new_start = first_kept
            .base_offset()
            .max(self.log_start.load(Ordering::Acquire));
        let first_kept_base = first_kept.base_offset();
        drop(segments);
        let mut checkpoint_owed = false;
        let gone = if now_delete {
            match self.delete_prefix_locked(w, new_start) {
                Err(Error::DiskFull { .. }) if new_start == first_kept_base => {
                    checkpoint_owed = true;
                    self.retire_prefix_before_checkpoint(w, new_start)?
                }
                other => other?,
            }
        } else {
            let gone = self.unlink_prefix_locked(w, new_start)?;
            guard(&self.pending_deletes).extend(gone.iter().cloned());
            gone
        };
        report.segments_deleted = gone.len();
        report.bytes_deleted = gone.iter().map(|s| s.size()).sum();
        report.log_start_offset = Offset(new_start);
        if !gone.is_empty() {
            tracing::info!(dir = %self.dir.display(), segments = gone.len(), bytes = report.bytes_deleted, log_start = new_start, "retention deleted segments");
        }
        if checkpoint_owed {
            // Dropping the last handles removes the files (unless a reader
            // still has one): now there is room for the checkpoint. If there
            // still is not, the next checkpoint written carries the new start.
            drop(gone);
            if let Err(e) = self.write_checkpoint(&w.checkpoint) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "checkpoint after retention on a full disk not written");
            }
        }
        Ok(report)
    }
}
