//! Opening a log: the recovery protocol (see docs/FORMAT.md).
//!
//! 1. Take the directory lock; finish or undo an interrupted cleaner swap;
//!    remove leftovers (`*.deleted`, `*.tmp`).
//! 2. Read the checkpoint (log start offset, recovery point).
//! 3. Clean-shutdown marker present: trust every segment; load the active
//!    segment's indexes and scan the few bytes past its last index entry.
//! 4. Otherwise: re-validate every batch from the recovery point on (CRC,
//!    offsets), rebuilding indexes as it goes; cut a torn tail of the last
//!    segment; report anything else as corruption.
//! 5. Remove the marker (fsync the directory) before the first append, so a
//!    crash from now on is seen as unclean.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;

use super::{CLEAN_SHUTDOWN_FILE, LOCK_FILE, Log, SyncState, Writer};
use crate::checkpoint::{CHECKPOINT_FILE, Checkpoint};
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::fs::{FileSystem, OpenMode, read_up_to};
use crate::index::{Indexes, OffsetEntry, TimeEntry};
use crate::segment::file_name::{FileKind, parse_file_name};
use crate::segment::recover::{Anchor, IndexBuilder, ScanOutcome, Stop};
use crate::segment::{Segment, file_name};

fn read_checkpoint(fs: &dyn FileSystem, dir: &Path) -> Option<Checkpoint> {
    let path = dir.join(CHECKPOINT_FILE);
    let file = fs.open(&path, OpenMode::Read).ok()?;
    let mut buf = vec![0u8; 128];
    let n = read_up_to(file.as_ref(), &mut buf, 0).ok()?;
    buf.truncate(n);
    match Checkpoint::decode(&buf) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "damaged checkpoint ignored; the whole log is re-validated");
            None
        }
    }
}

pub(super) fn open(dir: &Path, config: LogConfig, fs: Arc<dyn FileSystem>) -> Result<Log> {
    config.validate()?;
    fs.create_dir_all(dir)
        .map_err(|e| Error::io("create", dir, e))?;
    let lock_path = dir.join(LOCK_FILE);
    let lock_file = crate::log::lock_partition(fs.as_ref(), &lock_path)?;

    // A cleaner swap interrupted by a crash: finish or undo it first.
    crate::cleaner::swap::recover(fs.as_ref(), dir)?;
    let cleaner_state = crate::cleaner::CleanerState::read(fs.as_ref(), dir);
    let mut bases = Vec::new();
    for path in fs.read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(file_name::DELETED_SUFFIX) || name.ends_with(".tmp") {
            fs.remove_file(&path)
                .map_err(|e| Error::io("remove", &path, e))?;
        } else if let Some((base, FileKind::Log)) = parse_file_name(name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();

    let clean = fs.exists(&dir.join(CLEAN_SHUTDOWN_FILE));
    let found = read_checkpoint(fs.as_ref(), dir);
    let mut checkpoint = found.unwrap_or_default();
    let clean = clean && found.is_some();

    // Segments wholly below the log start (a crash during truncate_prefix).
    while bases.len() > 1
        && bases
            .get(1)
            .is_some_and(|&b| b <= checkpoint.log_start_offset)
    {
        let base = bases.remove(0);
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            let p = file_name::file_path(dir, base, kind);
            if fs.exists(&p) {
                fs.remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
            }
        }
    }

    let mut segments = Vec::with_capacity(bases.len().max(1));
    for (i, &base) in bases.iter().enumerate() {
        let seg = Segment::open(&fs, dir, base, config.index_interval_bytes)?;
        // A roll needs a non-empty active segment, so an empty segment that
        // is not the last can only be left by a roll that failed half-way:
        // it holds nothing and would hide the records after its base.
        if seg.size() == 0 && i + 1 < bases.len() {
            tracing::warn!(segment = %seg.path(FileKind::Log).display(), "removing an empty segment left by a failed roll");
            drop(seg);
            for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
                let p = file_name::file_path(dir, base, kind);
                if fs.exists(&p) {
                    fs.remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
                }
            }
            fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
            continue;
        }
        segments.push(Arc::new(seg));
    }
    // An empty last segment whose base lies inside the previous segment's
    // offsets was left by a roll that failed before anything was appended
    // to it (appends went on in the previous segment): drop it.
    if let [.., prev, last] = segments.as_slice()
        && last.size() == 0
        && prev
            .info()
            .is_ok_and(|p| p.next_offset > last.base_offset())
    {
        let base = last.base_offset();
        tracing::warn!(segment = %last.path(FileKind::Log).display(), "removing an empty last segment left by a failed roll");
        segments.pop();
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            let p = file_name::file_path(dir, base, kind);
            if fs.exists(&p) {
                fs.remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
            }
        }
        fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    }
    if segments.is_empty() {
        let base = checkpoint.log_start_offset;
        segments.push(Arc::new(Segment::create(
            &fs,
            dir,
            base,
            config.segment_index_bytes,
            config.index_interval_bytes,
        )?));
        fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
        checkpoint = Checkpoint {
            log_start_offset: base,
            recovery_point: base,
            recovery_segment: base,
            recovery_position: 0,
        };
    } else if clean && clean_open(&segments, &checkpoint, &config)? {
        // Trusted.
    } else {
        recover(&segments, &checkpoint, &config)?;
    }

    let active = segments.last().ok_or(Error::Closed)?;
    let info = active.info()?;
    let log_end = info.next_offset;
    let first_base = segments.first().map_or(0, |s| s.base_offset());
    let log_start = checkpoint.log_start_offset.max(first_base).min(log_end);
    let idx = active.indexes()?;
    let since = idx
        .offsets
        .last()
        .map_or(info.size, |e| info.size - u64::from(e.position));
    let builder = IndexBuilder::resume(
        active.base_offset(),
        config.index_interval_bytes,
        since,
        active.max_timestamp_and_offset(),
    );

    // From here on a crash must be seen as unclean.
    let marker = dir.join(CLEAN_SHUTDOWN_FILE);
    if fs.exists(&marker) {
        fs.remove_file(&marker)
            .map_err(|e| Error::io("remove", &marker, e))?;
    }
    active.sync()?;
    fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    checkpoint.log_start_offset = log_start;
    checkpoint.recovery_point = log_end;
    checkpoint.recovery_segment = active.base_offset();
    checkpoint.recovery_position = info.size;
    let log = Log {
        dir: dir.to_path_buf(),
        fs,
        segments: ArcSwap::from_pointee(segments),
        log_start: AtomicU64::new(log_start),
        log_end: AtomicU64::new(log_end),
        writer: Mutex::new(Writer {
            buf: Vec::new(),
            entries: Vec::new(),
            builder,
            first_timestamp: None,
            checkpoint,
            last_sync: Instant::now(),
        }),
        sync: Mutex::new(SyncState {
            synced_upto: log_end,
            ..SyncState::default()
        }),
        synced: Condvar::new(),
        poisoned: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        cleaner: Mutex::new(cleaner_state),
        pending_deletes: Mutex::new(Vec::new()),
        lock_file: Mutex::new(Some(lock_file)),
        config: ArcSwap::from_pointee(config),
    };
    match log.write_checkpoint(&checkpoint) {
        // A full disk must not keep anyone from reading what is there. The
        // checkpoint on disk is older but still true (its recovery point was
        // synced, its log start is at most this one); the next flush or
        // close writes the new one.
        Err(e @ Error::DiskFull { .. }) => {
            tracing::warn!(dir = %dir.display(), error = %e, "disk full: checkpoint not updated at open");
        }
        other => other?,
    }
    Ok(log)
}

/// After a clean shutdown: the active segment must end exactly where the
/// checkpoint says (a cheap check that also catches a damaged last batch);
/// `false` sends the open through full recovery instead.
fn clean_open(
    segments: &[Arc<Segment>],
    checkpoint: &Checkpoint,
    config: &LogConfig,
) -> Result<bool> {
    let last = segments.last().ok_or(Error::Closed)?;
    match last.reactivate(config.segment_index_bytes) {
        Ok(()) => {}
        Err(Error::Corrupt {
            path,
            position,
            kind,
        }) => {
            tracing::warn!(path = %path.display(), position, %kind, "damage in the active segment after a clean shutdown; recovering");
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    let info = last.info()?;
    // A clean close leaves the checkpoint naming the active segment and its
    // exact end; anything else (a stray segment from a failed roll, a lost
    // write) goes through recovery.
    let as_closed = checkpoint.recovery_segment == last.base_offset()
        && info.next_offset == checkpoint.recovery_point
        && info.size == checkpoint.recovery_position;
    if !as_closed {
        tracing::warn!(segment = %last.path(FileKind::Log).display(), "active segment differs from the checkpoint; recovering");
    }
    Ok(as_closed)
}

/// Re-validates every segment from the one holding the recovery point.
fn recover(segments: &[Arc<Segment>], checkpoint: &Checkpoint, config: &LogConfig) -> Result<()> {
    let rp = checkpoint.recovery_point;
    let first = segments
        .iter()
        .rposition(|s| s.base_offset() <= rp)
        .unwrap_or(0);
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate().skip(first) {
        let (out, mut idx, builder) = scan_segment(seg, checkpoint, config)?;
        match out.stop {
            // Give back blocks a crash left reserved past the end (a torn
            // tail's cut does that too).
            None if i == last => seg.cut_file(out.valid_end)?,
            None => {}
            Some(Stop::Torn { position, kind }) if i == last => {
                if seg.only_zeros_from(position) {
                    tracing::info!(segment = %seg.path(FileKind::Log).display(), position, "cutting the zeros written ahead of the data");
                } else {
                    tracing::warn!(segment = %seg.path(FileKind::Log).display(), position, %kind, "cutting torn tail");
                }
                seg.cut_torn_tail(position)?;
            }
            Some(Stop::Torn { position, kind } | Stop::Corrupt { position, kind }) => {
                return Err(Error::Corrupt {
                    path: seg.path(FileKind::Log),
                    position,
                    kind,
                });
            }
        }
        seg.set_recovered_size(out.valid_end);
        let max = (builder.max_timestamp, builder.offset_of_max_timestamp);
        if i == last {
            seg.install_recovered(idx, out.next_offset, max, config.segment_index_bytes)?;
        } else {
            idx.times
                .extend(builder.time_entry(idx.times.last().copied()));
            seg.install_sealed(idx, out.next_offset, max)?;
        }
    }
    Ok(())
}

/// Scans one segment for recovery, rebuilding its indexes as it goes.
///
/// In the recovery segment the scan resumes at the last offset index entry
/// below the recovery position, keeping the entries up to it (they were
/// synced with the data below the recovery point): the batches between that
/// entry and the recovery position must be seen again, because the greatest
/// timestamp of the segment may lie among them and no time entry records it.
/// The kept time entries (those up to that entry's offset) cover everything
/// before its batch. Anything else is scanned from the start.
fn scan_segment(
    seg: &Segment,
    checkpoint: &Checkpoint,
    config: &LogConfig,
) -> Result<(ScanOutcome, Indexes, IndexBuilder)> {
    let base = seg.base_offset();
    let len = seg
        .log_file()
        .len()
        .map_err(|e| Error::io("stat", seg.path(FileKind::Log), e))?;
    let pos = checkpoint.recovery_position;
    if base == checkpoint.recovery_segment && pos > 0 && pos <= len {
        let mut idx = seg.raw_index_entries();
        idx.offsets.retain(|e| u64::from(e.position) < pos);
        if let Some(e) = idx.offsets.last().copied() {
            idx.times.retain(|t| t.relative_offset <= e.relative_offset);
            if OffsetEntry::is_sane(&idx.offsets, pos)
                && TimeEntry::is_sane(&idx.times, e.relative_offset)
            {
                // The entry's batch is seen again with no bytes counted since
                // its (kept) entry, so the scan does not add it twice.
                let mut builder = IndexBuilder::new(base, config.index_interval_bytes, 0, &idx);
                let from = u64::from(e.position);
                let anchor = Anchor::Last(base + u64::from(e.relative_offset));
                let out = seg.scan_from(from, anchor, &mut builder, &mut idx)?;
                // A bad first batch leaves the next offset unknown (the anchor
                // names its last offset, not its first): check it all instead.
                if out.stop.is_none() || out.valid_end > from {
                    return Ok((out, idx, builder));
                }
                tracing::warn!(segment = %seg.path(FileKind::Log).display(), position = from, "batch at the last index entry below the recovery point is bad; checking the whole segment");
            }
        }
    }
    let mut idx = Indexes::default();
    let mut builder = IndexBuilder::new(base, config.index_interval_bytes, 0, &idx);
    let out = seg.scan_from(0, Anchor::Base(base), &mut builder, &mut idx)?;
    Ok((out, idx, builder))
}
