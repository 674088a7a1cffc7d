//! The log of one partition: a list of segments, one writer, many readers.
//!
//! Readers load an immutable snapshot of the segment list (`ArcSwap`) and the
//! published end offset; they never take the writer's lock. The writer
//! appends under a mutex, publishes the new size and end offset, and then —
//! outside the lock — waits for a shared `fdatasync` (group commit).

mod append;
mod clean;
mod open;
mod read;
mod retention;
mod truncate;

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwap;

pub use self::append::Durable;
pub use self::clean::CleanProgress;
pub use self::read::{ReadResult, Records};
pub use self::retention::{RetentionReport, now_ms};
use crate::checkpoint::{CHECKPOINT_FILE, Checkpoint};
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::fs::{FileSystem, StdFs};
use crate::index::{OffsetEntry, TimeEntry};
use crate::offset::{FilePosition, Offset, TimestampMs};
use crate::segment::recover::IndexBuilder;
use crate::segment::{Segment, SegmentInfo};

/// Marker file written by a clean close; its absence at open means recovery.
pub const CLEAN_SHUTDOWN_FILE: &str = ".logsync_cleanshutdown";
/// Advisory lock file: one process per partition directory.
pub const LOCK_FILE: &str = ".lock";

/// Where a successful append put the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record.
    pub base_offset: Offset,
    /// Offset of the last record.
    pub last_offset: Offset,
    /// Greatest record timestamp in the append.
    pub max_timestamp: TimestampMs,
    /// Number of batches written.
    pub batches: u32,
    /// Base offset of the segment the batches went to (all of them go to
    /// one segment).
    pub segment_base_offset: Offset,
    /// File position of the first batch in that segment's `.log` file.
    pub position: FilePosition,
}

/// Sizes and offsets of a log, for `topic describe`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogStats {
    /// First offset readers can get.
    pub log_start_offset: Offset,
    /// Offset the next append gets.
    pub log_end_offset: Offset,
    /// Segment by segment, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// Bytes of all `.log` files.
    pub size_bytes: u64,
    /// Offset up to which the log is known durable with its indexes.
    pub recovery_point: Offset,
    /// Offset up to which the cleaner has compacted the log.
    pub cleaner_checkpoint: Offset,
    /// Dirty bytes / cleanable bytes (0 unless the log is compacted).
    pub dirty_ratio: f64,
}

struct Writer {
    /// Encoding buffer, reused.
    buf: Vec<u8>,
    entries: Vec<(Option<OffsetEntry>, Option<TimeEntry>)>,
    builder: IndexBuilder,
    /// Max timestamp of the first batch of the active segment (`segment.ms`).
    first_timestamp: Option<i64>,
    checkpoint: Checkpoint,
    last_sync: Instant,
}

/// How many recent `truncate_suffix` cuts group commit remembers; a waiter
/// older than all of them is told its append may have been cut.
const REMEMBERED_CUTS: usize = 64;

#[derive(Debug, Default)]
struct SyncState {
    /// Every offset below this is durable.
    synced_upto: u64,
    /// A thread is in `fdatasync` for the group.
    in_progress: bool,
    /// Bumped by `truncate_suffix` so an in-flight sync cannot claim offsets
    /// that were cut and written again, and so a waiter can tell that the
    /// log was cut under it.
    epoch: u64,
    /// `(epoch after the bump, new log end)` of the latest cuts, oldest
    /// first, at most [`REMEMBERED_CUTS`].
    cuts: VecDeque<(u64, u64)>,
}

impl SyncState {
    /// Starts a new epoch for a cut of the log to `new_end`: nothing at or
    /// above it counts as durable any more.
    fn cut(&mut self, new_end: u64) {
        self.epoch += 1;
        self.synced_upto = self.synced_upto.min(new_end);
        if self.cuts.len() == REMEMBERED_CUTS {
            self.cuts.pop_front();
        }
        self.cuts.push_back((self.epoch, new_end));
    }

    /// The lowest log end that a cut after `epoch` left, if one cut below
    /// `upto` (or if the cuts since `epoch` are no longer all remembered).
    fn cut_below(&self, epoch: u64, upto: u64) -> Option<u64> {
        let remembered = self.cuts.front().is_some_and(|&(e, _)| e <= epoch + 1);
        let lowest = self
            .cuts
            .iter()
            .filter(|&&(e, _)| e > epoch)
            .map(|&(_, end)| end)
            .min();
        match lowest {
            Some(end) if end < upto => Some(end),
            _ if !remembered => Some(lowest.unwrap_or(0)),
            _ => None,
        }
    }
}

/// A partition's log. `Send + Sync`: share it with an `Arc`.
pub struct Log {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    config: ArcSwap<LogConfig>,
    segments: ArcSwap<Vec<Arc<Segment>>>,
    log_start: AtomicU64,
    log_end: AtomicU64,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    poisoned: AtomicBool,
    closed: AtomicBool,
    /// The cleaner checkpoint; the mutex also keeps cleans of this log one
    /// at a time.
    cleaner: Mutex<crate::cleaner::CleanerState>,
    /// Segments retention took out of the list whose files are not renamed
    /// and removed yet ([`Log::finish_deletes`]).
    pending_deletes: Mutex<Vec<Arc<Segment>>>,
    lock_file: Mutex<Option<Box<dyn fmt::Debug + Send + Sync>>>,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("log_start", &self.log_start)
            .field("log_end", &self.log_end)
            .finish_non_exhaustive()
    }
}

/// Takes the partition's lock file, mapping "held elsewhere" to [`Error::Locked`].
pub(crate) fn lock_partition(
    fs: &dyn FileSystem,
    lock_path: &Path,
) -> Result<Box<dyn fmt::Debug + Send + Sync>> {
    fs.lock(lock_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked {
                path: lock_path.to_path_buf(),
            }
        } else {
            Error::io("lock", lock_path, e)
        }
    })
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Log {
    /// Opens (or creates) the log in `dir` on the real file system,
    /// recovering it if it was not closed cleanly.
    ///
    /// # Errors
    /// [`Error::Locked`] if another process has it open, [`Error::Corrupt`]
    /// for damage that is not a torn tail, I/O errors.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log> {
        Self::open_with(dir, config, Arc::new(StdFs))
    }

    /// Like [`Log::open`], on any [`FileSystem`] (tests inject faults here).
    ///
    /// # Errors
    /// As [`Log::open`].
    pub fn open_with(
        dir: impl AsRef<Path>,
        config: LogConfig,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Log> {
        open::open(dir.as_ref(), config, fs)
    }

    /// The partition directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether [`Log::close`] has run.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> Arc<LogConfig> {
        self.config.load_full()
    }

    /// Changes the configuration of the open log (Kafka's dynamic topic
    /// config): retention, cleaning, flush and size limits apply from the
    /// next operation; `segment.bytes` and the index settings from the next
    /// segment. Keyless records already in a log that becomes compacted are
    /// dropped by the cleaner.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the values do not work together.
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        let _writer = guard(&self.writer);
        self.config.store(Arc::new(config));
        Ok(())
    }

    /// First offset readers can get.
    #[must_use]
    pub fn log_start_offset(&self) -> Offset {
        Offset(self.log_start.load(Ordering::Acquire))
    }

    /// Offset the next append gets.
    #[must_use]
    pub fn log_end_offset(&self) -> Offset {
        Offset(self.log_end.load(Ordering::Acquire))
    }

    /// The offset below which records may be served to consumers: under
    /// `FsyncPolicy::EveryBatch`, what has been fsynced (a record readable
    /// but not yet durable could vanish in a crash after a consumer saw it);
    /// under the other policies, which promise no durability, the log end.
    #[must_use]
    pub fn high_watermark(&self) -> Offset {
        let end = self.log_end.load(Ordering::Acquire);
        match self.config.load().fsync {
            crate::config::FsyncPolicy::EveryBatch => {
                Offset(guard(&self.sync).synced_upto.min(end))
            }
            _ => Offset(end),
        }
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Segment>>> {
        self.segments.load_full()
    }

    /// The current segment list, oldest first, the active segment last. A
    /// segment held here stays readable (through [`Segment::log_file`]) even
    /// after retention or the cleaner removed it from the log: its files go
    /// when the last holder drops it.
    #[must_use]
    pub fn segments(&self) -> Arc<Vec<Arc<Segment>>> {
        self.snapshot()
    }

    fn active(&self) -> Result<Arc<Segment>> {
        self.segments.load().last().cloned().ok_or(Error::Closed)
    }

    fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// Marks the log unusable for writes after a failed fsync (or a write
    /// that could not be undone) and returns the error to report.
    fn poison(&self, cause: Error) -> Error {
        tracing::error!(dir = %self.dir.display(), error = %cause, "poisoning log: writes refused until it is reopened");
        self.poisoned.store(true, Ordering::Release);
        self.synced.notify_all();
        cause
    }

    fn write_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        let path = self.dir.join(CHECKPOINT_FILE);
        crate::fs::write_atomic(self.fs.as_ref(), &path, &c.encode())
            .map_err(|e| Error::io("write", &path, e))
    }

    /// Forces everything appended so far to disk (log and indexes) and moves
    /// the recovery point to the end, so a crash later re-checks only what
    /// comes after.
    ///
    /// # Errors
    /// [`Error::Poisoned`], or the failed fsync (which poisons the log).
    pub fn flush(&self) -> Result<()> {
        self.check_writable()?;
        let mut w = guard(&self.writer);
        self.flush_locked(&mut w)
    }

    fn flush_locked(&self, w: &mut Writer) -> Result<()> {
        let active = self.active()?;
        let end = self.log_end.load(Ordering::Acquire);
        active.sync().map_err(|e| self.poison(e))?;
        w.last_sync = Instant::now();
        self.mark_synced(end, None);
        w.checkpoint.recovery_point = end;
        w.checkpoint.recovery_segment = active.base_offset();
        w.checkpoint.recovery_position = active.size();
        self.write_checkpoint(&w.checkpoint)
    }

    /// For `FsyncPolicy::IntervalMs`: syncs if the interval has passed since
    /// the last sync. A background thread of the embedding program calls this.
    ///
    /// # Errors
    /// As [`Log::flush`].
    pub fn flush_if_due(&self) -> Result<()> {
        if let crate::config::FsyncPolicy::IntervalMs(ms) = self.config.load().fsync {
            let mut w = guard(&self.writer);
            if w.last_sync.elapsed().as_millis() >= u128::from(ms) {
                self.check_writable()?;
                self.flush_locked(&mut w)?;
            }
        }
        Ok(())
    }

    fn mark_synced(&self, upto: u64, epoch: Option<u64>) {
        let mut st = guard(&self.sync);
        if epoch.is_none_or(|e| e == st.epoch) {
            st.synced_upto = st.synced_upto.max(upto);
        }
        drop(st);
        self.synced.notify_all();
    }

    /// Closes the log cleanly: syncs, trims the index files, writes the
    /// checkpoint and the clean-shutdown marker. Later calls do nothing;
    /// other operations then fail with [`Error::Closed`].
    ///
    /// # Errors
    /// I/O errors; the marker is then not written and the next open recovers.
    pub fn close(&self) -> Result<()> {
        if let Err(e) = self.finish_deletes() {
            tracing::warn!(dir = %self.dir.display(), error = %e, "removing deleted segments at close failed; the next open removes them");
        }
        let mut w = guard(&self.writer);
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // The last index entry and the checkpoint need a little room: on a
        // full disk, retention (if the policy deletes) makes it, as for an
        // append. Once sealed, everything is synced: a checkpoint that still
        // cannot be written only costs the next open a re-validation.
        let result = self
            .or_free_space(&mut w, "close", Self::seal_for_close)
            .and_then(
                |()| match self.or_free_space(&mut w, "close", Self::write_close_files) {
                    Err(e @ Error::DiskFull { .. }) => {
                        tracing::warn!(dir = %self.dir.display(), error = %e, "disk full: closed without a new checkpoint and clean-shutdown marker; the next open re-validates the tail");
                        Ok(())
                    }
                    other => other,
                },
            );
        guard(&self.lock_file).take();
        self.synced.notify_all();
        result
    }

    /// The first half of [`Log::close`], under the writer lock: seal the
    /// active segment (its last time-index entry, fsync, index files
    /// trimmed). Safe to repeat after a failure part way.
    fn seal_for_close(&self, w: &mut Writer) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned {
                path: self.dir.clone(),
            });
        }
        let active = self.active()?;
        let final_time = w.builder.time_entry(active.last_time_entry());
        match active.seal(final_time) {
            // The entry only shortens lookups by time (loading the indexes
            // scans on from the last offset entry, where the greatest
            // timestamp is found either way): seal without it.
            Err(e @ Error::DiskFull { .. }) if final_time.is_some() => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "disk full: sealing without the last time-index entry");
                active.seal(None)?;
            }
            other => other?,
        }
        let end = self.log_end.load(Ordering::Acquire);
        // Sealing synced everything: appenders still waiting return Ok.
        self.mark_synced(end, None);
        w.checkpoint.recovery_point = end;
        w.checkpoint.recovery_segment = active.base_offset();
        w.checkpoint.recovery_position = active.size();
        Ok(())
    }

    /// The second half of [`Log::close`]: the checkpoint, then the
    /// clean-shutdown marker.
    fn write_close_files(&self, w: &mut Writer) -> Result<()> {
        self.write_checkpoint(&w.checkpoint)?;
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        crate::fs::write_atomic(self.fs.as_ref(), &marker, b"")
            .map_err(|e| Error::io("write", &marker, e))
    }

    /// Seals the active segment (if it holds anything) and starts a new one,
    /// so that everything appended so far can be cleaned.
    ///
    /// # Errors
    /// [`Error::Poisoned`], [`Error::Closed`], I/O errors.
    pub fn roll_active(&self) -> Result<()> {
        self.check_writable()?;
        let mut w = guard(&self.writer);
        self.check_writable()?;
        if self.active()?.size() > 0 {
            self.roll(&mut w)?;
        }
        Ok(())
    }

    /// Sizes, offsets and segments.
    ///
    /// # Errors
    /// I/O errors or corruption met while loading a segment's indexes.
    pub fn stats(&self) -> Result<LogStats> {
        let segments = self
            .snapshot()
            .iter()
            .map(|s| s.info())
            .collect::<Result<Vec<_>>>()?;
        let recovery_point = Offset(guard(&self.writer).checkpoint.recovery_point);
        let dirty_ratio = if self.config.load().cleanup_policy.compacts() {
            self.dirty_ratio_at(now_ms())?
        } else {
            0.0
        };
        Ok(LogStats {
            cleaner_checkpoint: self.cleaner_checkpoint(),
            dirty_ratio,
            log_start_offset: self.log_start_offset(),
            log_end_offset: self.log_end_offset(),
            size_bytes: segments.iter().map(|s| s.size).sum(),
            segments,
            recovery_point,
        })
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire)
            && let Err(e) = self.close()
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "closing log on drop failed; it will be recovered on next open");
        }
    }
}
