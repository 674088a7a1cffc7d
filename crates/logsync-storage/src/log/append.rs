//! Appending: validation, offset assignment, segment roll and group commit.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use super::{AppendInfo, Log, Writer, guard};
use crate::batch::{self, BatchHeader, BatchSpec, Record};
use crate::config::FsyncPolicy;
use crate::error::{CorruptKind, Error, Result};
use crate::index::Indexes;
use crate::offset::{FilePosition, Offset, TimestampMs};
use crate::segment::Segment;
use crate::segment::file_name::FileKind;
use crate::segment::recover::IndexBuilder;

/// What [`Log::wait_durable_for`] waits for: the end of an append written
/// by [`Log::append_unsynced`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the append is not durable until waited for"]
pub struct Durable {
    upto: u64,
    epoch: u64,
}

impl Log {
    /// Appends `records` as one uncompressed batch (timestamps as given;
    /// offsets assigned by the log). Returns when the batch is durable under
    /// the log's [`FsyncPolicy`].
    ///
    /// # Errors
    /// [`Error::RecordTooLarge`], [`Error::DiskFull`] (nothing written),
    /// [`Error::Poisoned`], [`Error::Closed`], I/O errors.
    pub fn append_records(&self, records: &[Record]) -> Result<AppendInfo> {
        self.append_records_with(records, &BatchSpec::default())
    }

    /// Like [`Log::append_records`] with producer fields and a codec.
    ///
    /// # Errors
    /// As [`Log::append_records`].
    pub fn append_records_with(&self, records: &[Record], spec: &BatchSpec) -> Result<AppendInfo> {
        self.check_writable()?;
        let mut w = guard(&self.writer);
        self.check_writable()?;
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        let spec = BatchSpec {
            base_offset: self.log_end.load(Ordering::Acquire),
            ..*spec
        };
        let encoded = self
            .check_keys(|| records.iter().filter(|r| r.key.is_none()).count() as u32)
            .and_then(|()| {
                batch::encode_batch(&mut buf, &spec, records).map_err(Error::InvalidBatch)
            });
        let result = encoded.and_then(|()| {
            let header = BatchHeader::parse(&buf).map_err(Error::InvalidBatch)?;
            self.check_size(header.total_size())?;
            self.write_or_free_space(&mut w, &buf, &[header])
        });
        w.buf = buf;
        drop(w);
        self.finish(result?)
    }

    /// Appends one or more record batches in Kafka's format, exactly as given
    /// except for their base offsets, which the log assigns. Every batch is
    /// checked first (header, size, CRC, records); nothing is written unless
    /// all are valid.
    ///
    /// # Errors
    /// [`Error::InvalidBatch`], [`Error::RecordTooLarge`], and as [`Log::append_records`].
    pub fn append(&self, batches: &[u8]) -> Result<AppendInfo> {
        let (info, durable) = self.append_unsynced(batches)?;
        self.wait_durable_for(durable)?;
        Ok(info)
    }

    /// Like [`Log::append`], but returns once the batches are written (and
    /// readable below the log end), before they are durable: wait with
    /// [`Log::wait_durable_for`] before acknowledging them. A server uses
    /// this to write requests in order while their fsyncs overlap (one
    /// `fdatasync` covers every write before it: group commit).
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn append_unsynced(&self, batches: &[u8]) -> Result<(AppendInfo, Durable)> {
        self.check_writable()?;
        let max_decompressed = self.config.load().max_decompressed_bytes as usize;
        let mut headers = Vec::new();
        let mut pos = 0usize;
        while pos < batches.len() {
            let rest = batches.get(pos..).unwrap_or_default();
            let h = batch::parse_header_complete(rest).map_err(Error::InvalidBatch)?;
            self.check_size(h.total_size())?;
            let (_, keyless) = batch::validate_counting_keyless(rest, max_decompressed)
                .map_err(Error::InvalidBatch)?;
            if !h.attributes.is_control() {
                self.check_keys(|| keyless)?;
            }
            if h.records_count == 0 {
                return Err(Error::InvalidBatch(CorruptKind::BadRecord(
                    "a batch needs at least one record",
                )));
            }
            headers.push(h);
            pos += h.total_size() as usize;
        }
        if headers.is_empty() {
            return Err(Error::InvalidBatch(CorruptKind::truncated(
                batch::BATCH_HEADER_BYTES,
                batches.len(),
            )));
        }
        let mut w = guard(&self.writer);
        self.check_writable()?;
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        buf.extend_from_slice(batches);
        let mut next = self.log_end.load(Ordering::Acquire);
        let mut at = 0usize;
        for h in &mut headers {
            batch::set_base_offset(buf.get_mut(at..).unwrap_or_default(), next);
            h.base_offset = next as i64;
            next = h.next_offset();
            at += h.total_size() as usize;
        }
        let result = self.write_or_free_space(&mut w, &buf, &headers);
        w.buf = buf;
        drop(w);
        let (info, upto, epoch) = result?;
        Ok((info, Durable { upto, epoch }))
    }

    /// A [`Durable`] for everything written so far (to wait until data
    /// already in the log, such as a batch a producer retries, is durable).
    pub fn durable_mark(&self) -> Durable {
        let _w = guard(&self.writer);
        Durable {
            upto: self.log_end.load(Ordering::Acquire),
            epoch: guard(&self.sync).epoch,
        }
    }

    /// Waits until the append that returned `durable` is durable under the
    /// log's [`FsyncPolicy`] (at once for the other policies).
    ///
    /// # Errors
    /// [`Error::Poisoned`] (a failed fsync), [`Error::Truncated`],
    /// [`Error::Closed`].
    pub fn wait_durable_for(&self, durable: Durable) -> Result<()> {
        if self.config.load().fsync == FsyncPolicy::EveryBatch {
            self.wait_durable(durable.upto, durable.epoch)?;
        }
        Ok(())
    }

    /// A compacted topic refuses records without a key (`keyless` counts
    /// them, only for such a topic).
    fn check_keys(&self, keyless: impl FnOnce() -> u32) -> Result<()> {
        let policy = self.config.load().cleanup_policy;
        if policy.compacts() {
            let records = keyless();
            if records > 0 {
                return Err(Error::MissingKey {
                    records,
                    policy: policy.name(),
                });
            }
        }
        Ok(())
    }

    fn check_size(&self, size: u64) -> Result<()> {
        let max = u64::from(self.config.load().max_message_bytes);
        if size > max {
            return Err(Error::RecordTooLarge { size, max });
        }
        Ok(())
    }

    /// Whether the active segment must roll before `len` more bytes of
    /// batches ending at `last_offset` with max timestamp `max_ts`.
    fn should_roll(
        &self,
        w: &Writer,
        active: &Segment,
        len: u64,
        last_offset: u64,
        max_ts: i64,
    ) -> bool {
        let size = active.size();
        if size == 0 {
            return false;
        }
        let c = self.config.load();
        let index_full = (active.index_entries() + 2) * crate::index::TIME_ENTRY_BYTES
            > c.segment_index_bytes as usize;
        size + len > u64::from(c.segment_bytes)
            || index_full
            || last_offset - active.base_offset() > u64::from(u32::MAX)
            || w.first_timestamp
                .is_some_and(|first| max_ts.saturating_sub(first) > c.segment_ms as i64)
    }

    /// [`Log::write_locked`]; on a full disk (the partial write already cut
    /// back) applies retention if the policy deletes, and tries once more if
    /// that freed anything.
    fn write_or_free_space(
        &self,
        w: &mut Writer,
        buf: &[u8],
        headers: &[BatchHeader],
    ) -> Result<(AppendInfo, u64, u64)> {
        self.or_free_space(w, "append", |log, w| log.write_locked(w, buf, headers))
    }

    /// Runs `op` under the writer lock; if it meets a full disk and the
    /// cleanup policy deletes, applies retention at once (files removed
    /// now, not later) and, if that freed anything, runs `op` once more.
    pub(super) fn or_free_space<T>(
        &self,
        w: &mut Writer,
        what: &str,
        mut op: impl FnMut(&Self, &mut Writer) -> Result<T>,
    ) -> Result<T> {
        match op(self, w) {
            Err(full @ Error::DiskFull { .. }) if self.config.load().cleanup_policy.deletes() => {
                let freed = self.retention_locked(w, super::now_ms(), true)?;
                tracing::warn!(dir = %self.dir.display(), segments = freed.segments_deleted, bytes = freed.bytes_deleted, "disk full on {what}; applied retention");
                if freed.segments_deleted == 0 {
                    return Err(full);
                }
                op(self, w)
            }
            other => other,
        }
    }

    /// Writes checked batches (offsets already assigned) under the writer
    /// lock. Returns where they went, the end offset, and the group-commit
    /// epoch they were written in (so the wait for durability can tell if a
    /// `truncate_suffix` cut them meanwhile).
    fn write_locked(
        &self,
        w: &mut Writer,
        buf: &[u8],
        headers: &[BatchHeader],
    ) -> Result<(AppendInfo, u64, u64)> {
        let (first, last) = match (headers.first(), headers.last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => return Err(Error::InvalidBatch(CorruptKind::BadRecord("no batches"))),
        };
        let max_ts = headers
            .iter()
            .map(|h| h.max_timestamp)
            .max()
            .unwrap_or(i64::MIN);
        let mut active = self.active()?;
        if self.should_roll(w, &active, buf.len() as u64, last.last_offset(), max_ts) {
            self.roll(w)?;
            active = self.active()?;
        }
        let start = active.size();
        let saved = w.builder.clone();
        w.entries.clear();
        let mut pos = start;
        let mut last_time = active.last_time_entry();
        for h in headers {
            let e = w.builder.on_batch(h, pos, last_time);
            last_time = e.1.or(last_time);
            w.entries.push(e);
            pos += h.total_size();
        }
        let c = self.config.load();
        if c.preallocate_bytes > 0 {
            active.preallocate(
                start + buf.len() as u64,
                u64::from(c.preallocate_bytes),
                u64::from(c.segment_bytes),
            );
        }
        if c.fsync == FsyncPolicy::EveryBatch && c.zero_ahead_bytes > 0 {
            active.zero_ahead(
                start + buf.len() as u64,
                u64::from(c.zero_ahead_bytes),
                u64::from(c.segment_bytes),
            );
        }
        if let Err(e) = active.write_batches(buf, start, &w.entries) {
            w.builder = saved;
            // Cut the partial write back so nothing half-written is ever
            // visible; if even that fails the file state is unknown.
            if let Err(cut) = active.cut_file(start) {
                return Err(self.poison(cut));
            }
            return Err(e);
        }
        w.first_timestamp.get_or_insert(first.max_timestamp);
        let next = last.next_offset();
        let offset_of_max = headers
            .iter()
            .find(|h| h.max_timestamp == max_ts)
            .map_or(last.last_offset(), BatchHeader::last_offset);
        active.publish(start + buf.len() as u64, next, max_ts, offset_of_max);
        self.log_end.store(next, Ordering::Release);
        let info = AppendInfo {
            base_offset: Offset(first.base_offset as u64),
            last_offset: Offset(last.last_offset()),
            max_timestamp: TimestampMs(max_ts),
            batches: headers.len() as u32,
            segment_base_offset: Offset(active.base_offset()),
            position: FilePosition(u32::try_from(start).unwrap_or(u32::MAX)),
        };
        if let FsyncPolicy::IntervalMs(ms) = self.config.load().fsync
            && w.last_sync.elapsed().as_millis() >= u128::from(ms)
        {
            active
                .log_file()
                .sync_data()
                .map_err(|e| self.poison(Error::io("fsync", active.path(FileKind::Log), e)))?;
            w.last_sync = Instant::now();
            self.mark_synced(next, None);
        }
        // Read under the writer lock, which truncate_suffix holds while it
        // bumps the epoch: a later bump is a cut after this write.
        let epoch = guard(&self.sync).epoch;
        Ok((info, next, epoch))
    }

    /// After the writer lock is released: waits for durability if the policy
    /// asks for it.
    fn finish(&self, (info, next, epoch): (AppendInfo, u64, u64)) -> Result<AppendInfo> {
        if self.config.load().fsync == FsyncPolicy::EveryBatch {
            self.wait_durable(next, epoch)?;
        }
        Ok(info)
    }

    /// Group commit: the first waiter syncs for everyone written so far;
    /// the others wait for it and return if it covered them.
    ///
    /// `epoch` is the sync epoch the append was written in. A
    /// `truncate_suffix` since then that cut below `upto` means the records
    /// are gone (and `log_end` may never reach `upto` again): that is
    /// [`Error::Truncated`], never another sync. Cuts that left the records
    /// whole do not matter: the records stay where they were written.
    fn wait_durable(&self, upto: u64, mut epoch: u64) -> Result<()> {
        let mut st = guard(&self.sync);
        loop {
            if self.poisoned.load(Ordering::Acquire) {
                return Err(Error::Poisoned {
                    path: self.dir.clone(),
                });
            }
            if st.epoch != epoch {
                if let Some(end) = st.cut_below(epoch, upto) {
                    return Err(Error::Truncated {
                        offset: Offset(end),
                    });
                }
                epoch = st.epoch;
            }
            if st.synced_upto >= upto {
                return Ok(());
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            if st.in_progress {
                st = self.synced.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            st.in_progress = true;
            let sync_epoch = st.epoch;
            drop(st);
            // Let appenders that are about to publish do so, so that this
            // fdatasync covers more of them (measured: more batches per sync).
            std::thread::yield_now();
            // Bounded commit delay: an appender holding the writer lock is
            // writing a batch this sync can cover; wait (at most ~50 µs) for
            // it rather than leave it to the next fdatasync.
            let delay = std::time::Instant::now();
            while delay.elapsed() < std::time::Duration::from_micros(50) {
                match self.writer.try_lock() {
                    Ok(_) | Err(std::sync::TryLockError::Poisoned(_)) => break,
                    Err(std::sync::TryLockError::WouldBlock) => std::thread::yield_now(),
                }
            }
            // Read the end before the segment: a roll syncs the old segment
            // before publishing the new one, so everything below `target`
            // is either in `active` or already synced.
            let target = self.log_end.load(Ordering::Acquire);
            let active = self.active();
            let result = active.and_then(|a| {
                a.log_file()
                    .sync_data()
                    .map_err(|e| Error::io("fsync", a.path(FileKind::Log), e))
            });
            st = guard(&self.sync);
            st.in_progress = false;
            match result {
                Ok(()) => {
                    if st.epoch == sync_epoch {
                        st.synced_upto = st.synced_upto.max(target);
                    }
                    self.synced.notify_all();
                }
                Err(e) => {
                    drop(st);
                    return Err(self.poison(e));
                }
            }
        }
    }

    /// Seals the active segment and starts a new one at the end offset.
    pub(super) fn roll(&self, w: &mut Writer) -> Result<()> {
        let old = self.active()?;
        let final_time = w.builder.time_entry(old.last_time_entry());
        old.seal(final_time).map_err(|e| self.poison(e))?;
        let base = self.log_end.load(Ordering::Acquire);
        let c = self.config.load();
        let seg = match Segment::create(
            &self.fs,
            &self.dir,
            base,
            c.segment_index_bytes,
            c.index_interval_bytes,
        ) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                // Keep appending to the old segment rather than lose the log.
                old.reactivate(c.segment_index_bytes)?;
                return Err(e);
            }
        };
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| self.poison(Error::io("fsync", &self.dir, e)))?;
        let mut list = Vec::clone(&self.snapshot());
        list.push(seg);
        self.segments.store(Arc::new(list));
        w.builder = IndexBuilder::new(base, c.index_interval_bytes, 0, &Indexes::default());
        w.first_timestamp = None;
        self.mark_synced(base, None);
        w.checkpoint.recovery_point = base;
        w.checkpoint.recovery_segment = base;
        w.checkpoint.recovery_position = 0;
        self.write_checkpoint(&w.checkpoint)
    }
}
