//! [`Store`]: the key/value store over a compacted topic.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use logsync_storage::batch::{self, BatchHeader, BatchSpec};
use logsync_storage::fs::{FileSystem, StdFs};
use logsync_storage::segment::Segment;
use logsync_storage::segment::file_name::FileKind;
use logsync_storage::{
    CleanupPolicy, CompactionStrategy, CorruptKind, Log, LogConfig, LogManager, Offset, Record,
    TimestampMs,
};

use crate::config::{Clock, KvConfig, Mode};
use crate::error::{Error, Result};
use crate::hint::{self, HINT_FILE, SegmentMark, Unusable};
use crate::keydir::{Entry, KeyDir, Update};
use crate::mmap::Mapping;
use crate::record::{self, Located};

/// The keydir and the segments its entries point into. Holding the
/// segments (`Arc`s) keeps their files readable even after the cleaner has
/// replaced them, so a reader with an older keydir never reads a file that
/// is gone or another segment's bytes.
#[derive(Debug)]
pub(crate) struct Inner {
    pub keydir: KeyDir,
    pub segments: Arc<Vec<Arc<Segment>>>,
    /// Memory maps of the segments (same order), where mapping worked.
    pub maps: Vec<Option<Arc<Mapping>>>,
}

/// Maps every segment's file (the last one reserved up to `reserve` bytes,
/// as it grows). `None` where mapping fails (or `enabled` is false: a
/// store on a simulated file system); reads there use `pread`.
fn map_segments(
    segments: &[Arc<Segment>],
    reserve: u64,
    enabled: bool,
) -> Vec<Option<Arc<Mapping>>> {
    let last = segments.len().saturating_sub(1);
    segments
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            if !enabled {
                return None;
            }
            let len = if i == last { seg.size().max(reserve) } else { seg.size() };
            let len = usize::try_from(len).ok()?;
            match Mapping::map(&seg.path(FileKind::Log), len) {
                Ok(m) => Some(Arc::new(m)),
                Err(e) => {
                    tracing::debug!(segment = seg.base_offset(), error = %e, "segment not mapped; reads use pread");
                    None
                }
            }
        })
        .collect()
}

/// A snapshot of the log's segments.
type SegmentList = Arc<Vec<Arc<Segment>>>;

/// How the store came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The keydir came from the checkpoint (then only the log after it was read).
    pub from_checkpoint: bool,
    /// Why the checkpoint was not used, when it was not.
    pub fallback: Option<String>,
    /// Records read from the log to bring the keydir up to date.
    pub replayed_records: u64,
    /// Wall time of the open.
    pub duration: Duration,
}

/// What [`Store::compact`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactReport {
    /// Bytes of the store's log before.
    pub bytes_before: u64,
    /// Bytes after.
    pub bytes_after: u64,
    /// Records in the cleaned segments before and after.
    pub records_before: u64,
    /// Records after.
    pub records_after: u64,
    /// Expired keys for which a tombstone was written first.
    pub expired_keys: u64,
    /// Wall time, the keydir rebuild and checkpoint included.
    pub duration: Duration,
}

impl CompactReport {
    /// Bytes freed.
    #[must_use]
    pub fn bytes_reclaimed(&self) -> u64 {
        self.bytes_before.saturating_sub(self.bytes_after)
    }
}

/// Sizes of a store, for `logsync kv stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStats {
    /// Visible keys (not expired, not deleted).
    pub keys: u64,
    /// Bytes of the visible records (record encoding, batch headers not counted).
    pub live_bytes: u64,
    /// Bytes of the log that are not visible records: overwritten or deleted
    /// records, tombstones, expired records and batch headers.
    pub dead_bytes: u64,
    /// `dead_bytes / log_bytes` (0 for an empty log): what a compaction could
    /// reclaim at most.
    pub dirty_ratio: f64,
    /// Bytes of the store's log.
    pub log_bytes: u64,
    /// Heap bytes of the keydir.
    pub index_memory_bytes: u64,
    /// Segments of the log.
    pub segments: usize,
    /// Offset the next write gets.
    pub log_end_offset: Offset,
}

/// What an [`Store::ingest`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Offset of the written record.
    pub offset: Offset,
    /// Whether it is now the key's visible value (`false` for a late event
    /// older than the current value: it is in the log, but does not win).
    pub visible: bool,
}

/// The remaining lifetime of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// No such key (or it has expired).
    Missing,
    /// The key never expires.
    Persistent,
    /// The key expires after this long.
    ExpiresIn(Duration),
}

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Set {
        key: Bytes,
        value: Bytes,
        ttl: Option<Duration>,
    },
    Delete {
        key: Bytes,
    },
}

/// Operations written together as one record batch: all of them or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> Self {
        WriteBatch::default()
    }

    /// Adds a set.
    pub fn set(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> &mut Self {
        self.ops.push(Op::Set {
            key: key.into(),
            value: value.into(),
            ttl: None,
        });
        self
    }

    /// Adds a set that expires after `ttl`.
    pub fn set_with_ttl(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> &mut Self {
        self.ops.push(Op::Set {
            key: key.into(),
            value: value.into(),
            ttl: Some(ttl),
        });
        self
    }

    /// Adds a delete (a tombstone).
    pub fn delete(&mut self, key: impl Into<Bytes>) -> &mut Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }

    /// Operations in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes all operations (to reuse the allocation).
    pub fn clear(&mut self) {
        self.ops.clear();
    }
}

/// Writers' state, behind the mutex that serializes writes.
#[derive(Debug, Default)]
struct WriterState {
    buf: Vec<u8>,
    records: Vec<Record>,
}

/// The key/value store. `Send + Sync`: share it with an `Arc`; reads run
/// in parallel, writes are serialized (and share fsyncs: group commit).
#[derive(Debug)]
pub struct Store {
    topic: String,
    log: Log,
    fs: Arc<dyn FileSystem>,
    hint_path: PathBuf,
    mode: Mode,
    clock: Arc<dyn Clock>,
    max_decompressed: usize,
    inner: RwLock<Inner>,
    writer: Mutex<WriterState>,
    opened: OpenReport,
    closed: AtomicBool,
    /// Whether segment files may be memory-mapped (the real file system).
    map_files: bool,
    /// Records not covered by the checkpoint file.
    uncovered: AtomicU64,
    checkpoint_min_records: u64,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Store>();
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Applies one record met in the log (in offset order) to the keydir.
/// Returns whether it became the key's visible record.
pub(crate) fn apply(kd: &mut KeyDir, mode: Mode, r: &Located<'_>) -> bool {
    let Some(key) = r.key.filter(|k| !k.is_empty()) else {
        return false;
    };
    let entry = match (r.value, r.place) {
        (None, _) => Entry::tombstone(r.offset),
        (Some(_), Some((pos, len))) => Entry::at(r.offset, pos, len),
        (Some(_), None) => Entry::unpositioned(r.offset),
    };
    let update = Update {
        entry,
        timestamp: r.timestamp,
        expires: r.expires,
    };
    match mode {
        Mode::Arrival => {
            if r.value.is_none() {
                kd.remove(key);
            } else {
                kd.upsert(key, update);
            }
            true
        }
        Mode::EventTime => {
            if let Some((idx, _)) = kd.get(key)
                && kd.timestamp(idx).is_some_and(|t| t > r.timestamp)
            {
                return false;
            }
            kd.upsert(key, update);
            true
        }
    }
}

/// The index of the segment holding `offset`.
fn segment_index(segments: &[Arc<Segment>], offset: u64) -> Option<usize> {
    segments
        .partition_point(|s| s.base_offset() <= offset)
        .checked_sub(1)
}

/// The segment holding `offset`.
fn segment_for(segments: &[Arc<Segment>], offset: u64) -> Option<&Arc<Segment>> {
    segments.get(segment_index(segments, offset)?)
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::EmptyKey);
    }
    Ok(())
}

impl Store {
    /// Opens the store whose data is topic `config.topic` in `data_dir`,
    /// creating the topic (1 partition, `cleanup.policy=compact`) if needed.
    ///
    /// # Errors
    /// [`Error::UnsuitableTopic`] for a topic that is not compacted or has
    /// more than one partition; storage errors (another process has it
    /// open: `Locked`).
    pub fn open(data_dir: impl AsRef<Path>, config: KvConfig) -> Result<Store> {
        Self::open_inner(data_dir.as_ref(), config, Arc::new(StdFs), true)
    }

    /// Like [`Store::open`], on any [`FileSystem`] (tests inject crashes).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(
        data_dir: impl AsRef<Path>,
        config: KvConfig,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Store> {
        Self::open_inner(data_dir.as_ref(), config, fs, false)
    }

    fn open_inner(
        data_dir: &Path,
        config: KvConfig,
        fs: Arc<dyn FileSystem>,
        map_files: bool,
    ) -> Result<Store> {
        let started = Instant::now();
        let manager = LogManager::with_fs(data_dir, Arc::clone(&fs));
        let topic = config.topic.clone();
        let info = match manager.topic(&topic) {
            Ok(info) => info,
            Err(logsync_storage::Error::UnknownTopic(_)) => {
                let log_config = LogConfig {
                    cleanup_policy: CleanupPolicy::Compact,
                    compaction_strategy: match config.mode {
                        Mode::Arrival => CompactionStrategy::Offset,
                        Mode::EventTime => CompactionStrategy::Timestamp,
                    },
                    ..LogConfig::default()
                };
                match manager.create_topic(&topic, 1, log_config) {
                    Ok(info) => info,
                    Err(logsync_storage::Error::TopicExists(_)) => manager.topic(&topic)?,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        if info.partitions != 1 {
            return Err(Error::UnsuitableTopic {
                topic,
                reason: format!("it has {} partitions, a store needs 1", info.partitions),
            });
        }
        if !info.config.cleanup_policy.compacts() {
            return Err(Error::UnsuitableTopic {
                topic,
                reason: format!(
                    "its cleanup.policy is {}, a store needs compact",
                    info.config.cleanup_policy.name()
                ),
            });
        }
        let mode = match info.config.compaction_strategy {
            CompactionStrategy::Timestamp => Mode::EventTime,
            _ => Mode::Arrival,
        };
        let log = manager.open_partition(&topic, 0)?;
        if let Some(fsync) = config.fsync {
            let mut c = (*log.config()).clone();
            c.fsync = fsync;
            log.set_config(c)?;
        }
        let hint_path = log.dir().join(HINT_FILE);
        let max_decompressed = log.config().max_decompressed_bytes as usize;
        let segments = log.segments();
        let (keydir, from_checkpoint, fallback, replayed) =
            Self::load(fs.as_ref(), &hint_path, &segments, &log, mode)?;
        let reserve = u64::from(log.config().segment_bytes);
        let opened = OpenReport {
            from_checkpoint,
            fallback,
            replayed_records: replayed,
            duration: started.elapsed(),
        };
        Ok(Store {
            topic,
            log,
            fs,
            hint_path,
            mode,
            clock: config.clock,
            max_decompressed,
            inner: RwLock::new(Inner {
                maps: map_segments(&segments, reserve, map_files),
                keydir,
                segments,
            }),
            map_files,
            writer: Mutex::new(WriterState::default()),
            uncovered: AtomicU64::new(if opened.from_checkpoint {
                opened.replayed_records
            } else {
                u64::MAX
            }),
            checkpoint_min_records: config.checkpoint_min_records,
            opened,
            closed: AtomicBool::new(false),
        })
    }

    /// The keydir from the checkpoint plus the log after it, or from the
    /// whole log.
    fn load(
        fs: &dyn FileSystem,
        hint_path: &Path,
        segments: &[Arc<Segment>],
        log: &Log,
        mode: Mode,
    ) -> Result<(KeyDir, bool, Option<String>, u64)> {
        let max_decompressed = log.config().max_decompressed_bytes as usize;
        let log_end = log.log_end_offset().0;
        let event_time = mode == Mode::EventTime;
        let usable = hint::load(fs, hint_path).and_then(|h| {
            if h.keydir.event_time != event_time {
                return Err(Unusable::Stale("written for the other mode"));
            }
            if h.covered_end > log_end {
                return Err(Unusable::Stale("the log ends before the offset it covers"));
            }
            let resume = hint::resume_point(&h.segments, segments)?;
            Ok((h, resume))
        });
        let (mut keydir, (first, from_pos), from_checkpoint, fallback) = match usable {
            Ok((h, resume)) => (h.keydir, resume, true, None),
            Err(why) => {
                if why != Unusable::Missing || segments.iter().any(|s| s.size() > 0) {
                    tracing::warn!(path = %hint_path.display(), reason = %why, "index checkpoint not used; rebuilding the keydir from the whole log");
                }
                (
                    KeyDir::new(event_time),
                    (0, 0),
                    false,
                    Some(why.to_string()),
                )
            }
        };
        let mut replayed = 0;
        for (i, seg) in segments.iter().enumerate().skip(first) {
            let from = if i == first { from_pos } else { 0 };
            let scanned = record::scan_segment(seg, from, max_decompressed, &mut |r| {
                apply(&mut keydir, mode, &r);
            })?;
            replayed += scanned.records;
        }
        Ok((keydir, from_checkpoint, fallback, replayed))
    }

    fn read_inner(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_inner(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The store's topic.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Which record of a key is visible (from the topic's `compaction.strategy`).
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How the open went (checkpoint used or not, records replayed).
    #[must_use]
    pub fn open_report(&self) -> &OpenReport {
        &self.opened
    }

    /// The underlying log (to read the store's records as a stream).
    #[must_use]
    pub fn log(&self) -> &Log {
        &self.log
    }

    fn reserve(&self) -> u64 {
        u64::from(self.log.config().segment_bytes)
    }

    pub(crate) fn now(&self) -> TimestampMs {
        self.clock.now()
    }

    /// The value of `key`, or `None` if it is absent, deleted or expired:
    /// one keydir lookup and one positioned read.
    ///
    /// # Errors
    /// [`Error::EmptyKey`], [`Error::Closed`], I/O errors, [`Error::Corrupt`]
    /// if the bytes at the indexed position are not the key's record.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key(key)?;
        self.check_open()?;
        let inner = self.read_inner();
        let kd = &inner.keydir;
        let expired =
            |idx: u32, e: Entry| e.has_ttl() && kd.expiry(idx).is_some_and(|at| at <= self.now().0);
        let found = kd.probe(key, |idx, e| {
            // A record the store wrote: its key is checked in the bytes read,
            // so the arena is not touched.
            if let Some((pos, len)) = e.place()
                && let Some(i) = segment_index(&inner.segments, e.offset)
                && let Some(seg) = inner.segments.get(i)
            {
                let end = u64::from(pos) + u64::from(len);
                let mapped = inner
                    .maps
                    .get(i)
                    .and_then(Option::as_deref)
                    .filter(|_| end <= seg.size())
                    .and_then(|m| m.get(pos, len));
                let found = match mapped {
                    Some(bytes) => record::decode_value(seg, pos, bytes, key),
                    None => record::read_value(seg, pos, len, key),
                };
                return match found {
                    Ok(record::Found::OtherKey) => ControlFlow::Continue(()),
                    Ok(record::Found::Value(v)) if !expired(idx, e) => {
                        ControlFlow::Break(Ok(Some(v.unwrap_or_default())))
                    }
                    Ok(record::Found::Value(_)) => ControlFlow::Break(Ok(None)),
                    Err(err) => ControlFlow::Break(Err(err)),
                };
            }
            if kd.key_of(e) != key {
                return ControlFlow::Continue(());
            }
            if e.is_tombstone() || expired(idx, e) {
                return ControlFlow::Break(Ok(None));
            }
            ControlFlow::Break(
                self.read_entry(&inner.segments, key, e)
                    .map(|r| Some(r.value.unwrap_or_default())),
            )
        });
        found.unwrap_or(Ok(None))
    }

    /// Reads the value of the record `entry` names.
    pub(crate) fn read_value(
        &self,
        segments: &[Arc<Segment>],
        key: &[u8],
        entry: Entry,
    ) -> Result<Bytes> {
        if let Some((pos, len)) = entry.place()
            && let Some(seg) = segment_for(segments, entry.offset)
            && let record::Found::Value(v) = record::read_value(seg, pos, len, key)?
        {
            return Ok(v.unwrap_or_default());
        }
        Ok(self
            .read_entry(segments, key, entry)?
            .value
            .unwrap_or_default())
    }

    /// Reads the whole record `entry` names (its timestamp is right only
    /// for records read through the log; positioned reads see a delta).
    pub(crate) fn read_entry(
        &self,
        segments: &[Arc<Segment>],
        key: &[u8],
        entry: Entry,
    ) -> Result<Record> {
        let missing = |seg: Option<&Arc<Segment>>| Error::Corrupt {
            path: seg.map_or_else(|| self.log.dir().to_path_buf(), |s| s.path(FileKind::Log)),
            position: u64::from(entry.pos),
            kind: CorruptKind::BadRecord("the indexed record is not in the log"),
        };
        match entry.place() {
            Some((pos, len)) => {
                let seg = segment_for(segments, entry.offset).ok_or_else(|| missing(None))?;
                let buf = record::read_record(seg, pos, len)?;
                let r = record::decode_record(seg, pos, &buf, key)?;
                Ok(r.to_owned_in(&buf))
            }
            None => {
                let mut records = self.log.records(Offset(entry.offset), 1)?;
                match records.next().transpose()? {
                    Some(r) if r.offset.0 == entry.offset && r.key.as_deref() == Some(key) => Ok(r),
                    _ => Err(missing(None)),
                }
            }
        }
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// [`Error::EmptyKey`], [`Error::RecordTooLarge`], storage errors (disk
    /// full, poisoned log).
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.set(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
        self.write_batch(&b)
    }

    /// Sets `key` to `value`, expiring after `ttl`: from then on `get` and
    /// `scan` do not see it, and [`Store::compact`] drops it.
    ///
    /// # Errors
    /// As [`Store::set`].
    pub fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        let mut b = WriteBatch::new();
        b.set_with_ttl(
            Bytes::copy_from_slice(key),
            Bytes::copy_from_slice(value),
            ttl,
        );
        self.write_batch(&b)
    }

    /// Deletes `key` (writes a tombstone). Returns whether it had a visible
    /// value; nothing is written if the key is not in the store at all.
    ///
    /// # Errors
    /// As [`Store::set`].
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key(key)?;
        let now = self.now().0;
        let visible = {
            let inner = self.read_inner();
            match inner.keydir.get(key) {
                None => return Ok(false),
                Some((_, e)) if e.is_tombstone() => return Ok(false),
                Some((idx, _)) => inner.keydir.expiry(idx).is_none_or(|at| at > now),
            }
        };
        let mut b = WriteBatch::new();
        b.delete(Bytes::copy_from_slice(key));
        self.write_batch(&b)?;
        Ok(visible)
    }

    /// Writes every operation of `batch` as one record batch (atomically:
    /// after a crash all of it or none of it is there). Returns once it is
    /// durable under the topic's fsync policy; concurrent writers share
    /// fsyncs. The keydir is updated before the fsync completes, so a
    /// concurrent `get` may see a write that a crash could still lose.
    ///
    /// # Errors
    /// As [`Store::set`]; an empty batch does nothing.
    pub fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        for op in &batch.ops {
            match op {
                Op::Set { key, .. } | Op::Delete { key } => check_key(key)?,
            }
        }
        let mut w = lock(&self.writer);
        self.check_open()?;
        let now = self.now().0;
        let records = std::mem::take(&mut w.records);
        let mut records = records;
        records.clear();
        {
            let inner = self.read_inner();
            for op in &batch.ops {
                records.push(match op {
                    Op::Set { key, value, ttl } => Record {
                        offset: Offset(0),
                        timestamp: TimestampMs(now),
                        key: Some(key.clone()),
                        value: Some(value.clone()),
                        headers: ttl
                            .map(|t| {
                                let ms = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
                                vec![record::expires_header(now.saturating_add(ms))]
                            })
                            .unwrap_or_default(),
                    },
                    Op::Delete { key } => {
                        // In event-time mode a tombstone must not lose to the
                        // value it deletes, whose timestamp may be ahead.
                        let ts = match self.mode {
                            Mode::EventTime => inner
                                .keydir
                                .get(key)
                                .and_then(|(idx, _)| inner.keydir.timestamp(idx))
                                .map_or(now, |t| t.max(now)),
                            Mode::Arrival => now,
                        };
                        Record {
                            offset: Offset(0),
                            timestamp: TimestampMs(ts),
                            key: Some(key.clone()),
                            value: None,
                            headers: Vec::new(),
                        }
                    }
                });
            }
        }
        let result = self.append_locked(&mut w, &records);
        records.clear();
        w.records = records;
        let (durable, _) = result?;
        drop(w);
        self.log.wait_durable_for(durable)?;
        Ok(())
    }

    /// Encodes `records` as one batch, appends it and applies it to the
    /// keydir (under the writer mutex). Returns the durability token and,
    /// per record, its offset and whether it became visible.
    fn append_locked(
        &self,
        w: &mut WriterState,
        records: &[Record],
    ) -> Result<(logsync_storage::log::Durable, Vec<(u64, bool)>)> {
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        let encoded = batch::encode_batch(&mut buf, &BatchSpec::default(), records);
        let result = encoded
            .map_err(|kind| Error::Corrupt {
                path: self.log.dir().to_path_buf(),
                position: 0,
                kind,
            })
            .and_then(|()| Ok(self.log.append_unsynced(&buf)?))
            .and_then(|(info, durable)| {
                let header = BatchHeader::parse(&buf).map_err(|kind| Error::Corrupt {
                    path: self.log.dir().to_path_buf(),
                    position: 0,
                    kind,
                })?;
                let h = BatchHeader {
                    base_offset: info.base_offset.0 as i64,
                    ..header
                };
                let n = records.len() as u64;
                let _ = self
                    .uncovered
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                        Some(u.saturating_add(n))
                    });
                let mut inner = self.write_inner();
                if inner
                    .segments
                    .last()
                    .is_none_or(|s| s.base_offset() != info.segment_base_offset.0)
                {
                    inner.segments = self.log.segments();
                    inner.maps = map_segments(&inner.segments, self.reserve(), self.map_files);
                }
                let mode = self.mode;
                let mut outcomes = Vec::new();
                record::visit_batch(
                    u64::from(info.position.0),
                    &h,
                    &buf,
                    self.max_decompressed,
                    &mut |r| {
                        let visible = apply(&mut inner.keydir, mode, &r);
                        if outcomes.len() < 16 {
                            outcomes.push((r.offset, visible));
                        }
                    },
                )
                .map_err(|kind| Error::Corrupt {
                    path: self.log.dir().to_path_buf(),
                    position: u64::from(info.position.0),
                    kind,
                })?;
                Ok((durable, outcomes))
            });
        w.buf = buf;
        result
    }

    /// Writes one record with the given timestamp (for `ingest`).
    pub(crate) fn write_timestamped(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: TimestampMs,
    ) -> Result<(u64, bool)> {
        check_key(key)?;
        let mut w = lock(&self.writer);
        self.check_open()?;
        let records = [Record {
            offset: Offset(0),
            timestamp,
            key: Some(Bytes::copy_from_slice(key)),
            value: value.map(Bytes::copy_from_slice),
            headers: Vec::new(),
        }];
        let (durable, outcomes) = self.append_locked(&mut w, &records)?;
        drop(w);
        self.log.wait_durable_for(durable)?;
        outcomes.first().copied().ok_or(Error::Corrupt {
            path: self.log.dir().to_path_buf(),
            position: 0,
            kind: CorruptKind::BadRecord("appended batch holds no record"),
        })
    }

    /// The remaining lifetime of `key`.
    ///
    /// # Errors
    /// [`Error::EmptyKey`], [`Error::Closed`].
    pub fn ttl(&self, key: &[u8]) -> Result<Ttl> {
        check_key(key)?;
        self.check_open()?;
        let now = self.now().0;
        let inner = self.read_inner();
        Ok(match inner.keydir.get(key) {
            None => Ttl::Missing,
            Some((_, e)) if e.is_tombstone() => Ttl::Missing,
            Some((idx, _)) => match inner.keydir.expiry(idx) {
                None => Ttl::Persistent,
                Some(at) if at <= now => Ttl::Missing,
                Some(at) => Ttl::ExpiresIn(Duration::from_millis((at - now) as u64)),
            },
        })
    }

    /// Visible keys (not deleted, not expired).
    #[must_use]
    pub fn len(&self) -> u64 {
        let now = self.now().0;
        let inner = self.read_inner();
        let expired = inner
            .keydir
            .expiry
            .values()
            .filter(|&&at| at <= now)
            .count();
        inner.keydir.len().saturating_sub(expired as u64)
    }

    /// Whether no key is visible.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries of visible keys starting with `prefix`, in key order,
    /// at most `limit`, with the segments they point into.
    fn visible_entries(
        &self,
        prefix: &[u8],
        limit: usize,
    ) -> (Vec<(Vec<u8>, Entry, u32)>, SegmentList) {
        let now = self.now().0;
        let inner = self.read_inner();
        let mut found: Vec<(Vec<u8>, Entry, u32)> = inner
            .keydir
            .iter()
            .filter(|(k, idx, e)| {
                k.starts_with(prefix)
                    && !e.is_tombstone()
                    && inner.keydir.expiry(*idx).is_none_or(|at| at > now)
            })
            .map(|(k, idx, e)| (k.to_vec(), e, idx))
            .collect();
        let segments = Arc::clone(&inner.segments);
        drop(inner);
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        found.truncate(limit);
        (found, segments)
    }

    /// Keys starting with `prefix` and their values, in key order, at most
    /// `limit` of them.
    ///
    /// # Errors
    /// As [`Store::get`].
    pub fn scan(&self, prefix: &[u8], limit: usize) -> Result<Vec<(Bytes, Bytes)>> {
        self.check_open()?;
        let (found, segments) = self.visible_entries(prefix, limit);
        found
            .into_iter()
            .map(|(k, e, _)| {
                let v = self.read_value(&segments, &k, e)?;
                Ok((Bytes::from(k), v))
            })
            .collect()
    }

    /// Drops what no key needs any more: writes tombstones for expired keys,
    /// seals the active segment, runs the log's cleaner (by the store's
    /// clock), rebuilds the keydir over the cleaned segments and writes the
    /// checkpoint. Writes wait meanwhile; reads go on.
    ///
    /// # Errors
    /// Storage errors (a failed clean leaves the log as it was).
    pub fn compact(&self) -> Result<CompactReport> {
        let started = Instant::now();
        let mut w = lock(&self.writer);
        self.check_open()?;
        let now = self.now();
        // Each expired key and the timestamp its tombstone needs: now, or in
        // event-time mode the value's own if that is later, so that the
        // tombstone wins.
        let expired: Vec<(Vec<u8>, i64)> = {
            let inner = self.read_inner();
            let kd = &inner.keydir;
            kd.expiry
                .iter()
                .filter(|&(_, &at)| at <= now.0)
                .filter_map(|(&idx, _)| {
                    let e = kd.entries.get(idx as usize)?;
                    let ts = kd.timestamp(idx).map_or(now.0, |t| t.max(now.0));
                    Some((kd.key_of(*e).to_vec(), ts))
                })
                .collect()
        };
        for chunk in expired.chunks(1000) {
            let records: Vec<Record> = chunk
                .iter()
                .map(|(k, ts)| Record {
                    offset: Offset(0),
                    timestamp: TimestampMs(*ts),
                    key: Some(Bytes::copy_from_slice(k)),
                    value: None,
                    headers: Vec::new(),
                })
                .collect();
            let (durable, _) = self.append_locked(&mut w, &records)?;
            self.log.wait_durable_for(durable)?;
        }
        self.log.roll_active()?;
        let cleaned = self.log.clean_at(now, true)?;
        let segments = self.log.segments();
        let mut keydir = KeyDir::new(self.mode == Mode::EventTime);
        for seg in segments.iter() {
            record::scan_segment(seg, 0, self.max_decompressed, &mut |r| {
                apply(&mut keydir, self.mode, &r);
            })?;
        }
        let maps = map_segments(&segments, self.reserve(), self.map_files);
        *self.write_inner() = Inner {
            keydir,
            segments,
            maps,
        };
        self.checkpoint_locked()?;
        drop(w);
        Ok(CompactReport {
            bytes_before: cleaned.bytes_before,
            bytes_after: cleaned.bytes_after,
            records_before: cleaned.records_before,
            records_after: cleaned.records_after,
            expired_keys: expired.len() as u64,
            duration: started.elapsed(),
        })
    }

    /// Writes the index checkpoint now (callers hold the writer mutex).
    fn checkpoint_locked(&self) -> Result<()> {
        self.log.flush()?;
        let covered_end = self.log.log_end_offset().0;
        let inner = self.read_inner();
        let marks = inner
            .segments
            .iter()
            .map(|s| {
                SegmentMark::of(s, s.size())
                    .map_err(|e| Error::io("read", s.path(FileKind::Log), e))
            })
            .collect::<Result<Vec<_>>>()?;
        let bytes = hint::encode(covered_end, &marks, &inner.keydir);
        drop(inner);
        hint::write(self.fs.as_ref(), &self.hint_path, &bytes)?;
        self.uncovered.store(0, Ordering::Release);
        Ok(())
    }

    /// Writes the index checkpoint (also done by [`Store::compact`] and
    /// [`Store::close`]).
    ///
    /// # Errors
    /// Storage or I/O errors.
    pub fn checkpoint(&self) -> Result<()> {
        let _w = lock(&self.writer);
        self.check_open()?;
        self.checkpoint_locked()
    }

    /// Sizes: keys, live and dead bytes, index memory.
    ///
    /// # Errors
    /// Storage errors reading segment metadata.
    pub fn stats(&self) -> Result<StoreStats> {
        self.check_open()?;
        let now = self.now().0;
        let inner = self.read_inner();
        let mut keys = 0;
        let mut live_bytes = 0u64;
        for (_, idx, e) in inner.keydir.iter() {
            if e.is_tombstone() || inner.keydir.expiry(idx).is_some_and(|at| at <= now) {
                continue;
            }
            keys += 1;
            live_bytes += e.place().map_or(0, |(_, len)| u64::from(len));
        }
        let index_memory_bytes = inner.keydir.memory_bytes();
        drop(inner);
        let stats = self.log.stats()?;
        let dead_bytes = stats.size_bytes.saturating_sub(live_bytes);
        Ok(StoreStats {
            keys,
            live_bytes,
            dead_bytes,
            dirty_ratio: if stats.size_bytes == 0 {
                0.0
            } else {
                dead_bytes as f64 / stats.size_bytes as f64
            },
            log_bytes: stats.size_bytes,
            index_memory_bytes,
            segments: stats.segments.len(),
            log_end_offset: stats.log_end_offset,
        })
    }

    /// Writes the checkpoint (unless it misses fewer than
    /// [`KvConfig::checkpoint_min_records`] records) and closes the log.
    /// Later calls do nothing; other operations fail with [`Error::Closed`].
    ///
    /// # Errors
    /// Storage or I/O errors (the next open then rebuilds or replays more).
    pub fn close(&self) -> Result<()> {
        let _w = lock(&self.writer);
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let checkpoint = if self.uncovered.load(Ordering::Acquire) >= self.checkpoint_min_records {
            self.checkpoint_locked()
        } else {
            Ok(())
        };
        let closed = self.log.close();
        checkpoint?;
        Ok(closed?)
    }

    /// The keydir and its segments (for the event API in `compactor.rs`).
    pub(crate) fn inner(&self) -> RwLockReadGuard<'_, Inner> {
        self.read_inner()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire)
            && let Err(e) = self.close()
        {
            tracing::warn!(topic = %self.topic, error = %e, "closing the store on drop failed; the next open replays or rebuilds");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Two keys whose hashes share the upper 32 bits (the keydir's tag).
    fn colliding_keys() -> (Vec<u8>, Vec<u8>) {
        let mut seen: HashMap<u32, Vec<u8>> = HashMap::new();
        for i in 0u64.. {
            let k = format!("collide-{i}").into_bytes();
            let tag = (crate::keydir::hash(&k) >> 32) as u32;
            if let Some(other) = seen.insert(tag, k.clone()) {
                return (other, k);
            }
        }
        unreachable!("the loop only ends by returning")
    }

    #[test]
    fn keys_sharing_a_hash_tag_are_told_apart() {
        let (a, b) = colliding_keys();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = KvConfig {
            fsync: Some(logsync_storage::FsyncPolicy::Never),
            ..KvConfig::default()
        };
        let store = Store::open(dir.path(), config.clone()).expect("open");
        store.set(&a, b"value a").expect("set a");
        assert_eq!(store.get(&b).expect("get b"), None);
        store.set(&b, b"value b").expect("set b");
        assert_eq!(
            store.get(&a).expect("get a").as_deref(),
            Some(&b"value a"[..])
        );
        assert_eq!(
            store.get(&b).expect("get b").as_deref(),
            Some(&b"value b"[..])
        );
        assert!(store.delete(&a).expect("delete a"));
        assert_eq!(store.get(&a).expect("get a"), None);
        assert_eq!(
            store.get(&b).expect("get b").as_deref(),
            Some(&b"value b"[..])
        );
        store.close().expect("close");
        let store = Store::open(dir.path(), config).expect("reopen");
        assert_eq!(store.get(&a).expect("get a"), None);
        assert_eq!(
            store.get(&b).expect("get b").as_deref(),
            Some(&b"value b"[..])
        );
    }
}
