//! One segment: a `.log` file of record batches and its two sparse indexes.
//!
//! The writer appends to the active segment under the log's writer lock and
//! then publishes the new size; readers only ever read below the published
//! size, so they never see a partial batch and never wait for the writer.

pub mod file_name;
mod read;
pub mod recover;

pub use self::read::ReadOutcome;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use self::file_name::{DELETED_SUFFIX, FileKind, file_path};
use self::recover::{Anchor, IndexBuilder, ScanOutcome, Stop};
use crate::error::{CorruptKind, Error, Result};
use crate::fs::{FileSystem, FsFile, OpenMode, read_exact_at, read_up_to, write_all_at};
use crate::index::{Indexes, OFFSET_ENTRY_BYTES, OffsetEntry, TIME_ENTRY_BYTES, TimeEntry};

/// Index entries the active segment holds in memory only before it writes
/// them to its files in one write each (it also writes them at every
/// sync, seal and cut, so the files are whole up to the recovery point).
const PENDING_ENTRIES: usize = 64;

/// Open handles of the index files, kept only while the segment is active.
#[derive(Debug)]
struct IndexFiles {
    offsets: Arc<dyn FsFile>,
    times: Arc<dyn FsFile>,
    /// Offset and time entries the files hold; entries after these are in
    /// memory only (at most [`PENDING_ENTRIES`] of each).
    written: (usize, usize),
}

impl IndexFiles {
    /// Entries in memory not yet in the files (the greater of the two).
    fn pending(&self, idx: &Indexes) -> usize {
        idx.offsets
            .len()
            .saturating_sub(self.written.0)
            .max(idx.times.len().saturating_sub(self.written.1))
    }

    /// Writes the entries of `idx` the files do not hold yet, one write
    /// per file (`op` names it in errors). Time entries first, and offset
    /// entries only once they are written: the time file never covers less
    /// of the log than the offset file, which is what loading and recovery
    /// assume (they rebuild time entries only from the last offset entry on).
    fn write_pending_as(
        &mut self,
        op: &'static str,
        dir: &Path,
        base: u64,
        idx: &Indexes,
    ) -> Result<()> {
        let path = |kind| file_path(dir, base, kind);
        self.written.1 = write_from(self.times.as_ref(), &idx.times, self.written.1, |e| {
            e.encode()
        })
        .map_err(|e| Error::io(op, path(FileKind::TimeIndex), e))?;
        self.written.0 = write_from(self.offsets.as_ref(), &idx.offsets, self.written.0, |e| {
            e.encode()
        })
        .map_err(|e| Error::io(op, path(FileKind::Index), e))?;
        Ok(())
    }

    fn write_pending(&mut self, dir: &Path, base: u64, idx: &Indexes) -> Result<()> {
        self.write_pending_as("append", dir, base, idx)
    }

    /// [`IndexFiles::write_pending`], except that on a full disk the
    /// entries stay pending (the files then hold a prefix of the index,
    /// which is a valid sparse index: lookups scan a little further).
    fn write_pending_or_defer(&mut self, dir: &Path, base: u64, idx: &Indexes) -> Result<()> {
        match self.write_pending(dir, base, idx) {
            Err(e @ Error::DiskFull { .. }) => {
                tracing::warn!(error = %e, "disk full: index entries kept in memory, the files hold a prefix");
                Ok(())
            }
            other => other,
        }
    }

    /// Each file with its kind and entry size.
    fn with_kinds(&self) -> [(&Arc<dyn FsFile>, FileKind, usize); 2] {
        [
            (&self.offsets, FileKind::Index, OFFSET_ENTRY_BYTES),
            (&self.times, FileKind::TimeIndex, TIME_ENTRY_BYTES),
        ]
    }
}

/// Writes `entries[from..]` (each `N` bytes) at `from * N` in one write;
/// returns how many entries the file then holds.
fn write_from<E, const N: usize>(
    file: &dyn FsFile,
    entries: &[E],
    from: usize,
    encode: impl Fn(&E) -> [u8; N],
) -> std::io::Result<usize> {
    let Some(rest) = entries.get(from..).filter(|r| !r.is_empty()) else {
        return Ok(from);
    };
    let bytes: Vec<u8> = rest.iter().flat_map(encode).collect();
    write_all_at(file, &bytes, (from * N) as u64)?;
    Ok(entries.len())
}

/// What the segment holds, as far as readers may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// First offset the segment may hold (its file name).
    pub base_offset: u64,
    /// Offset after its last batch.
    pub next_offset: u64,
    /// Bytes of valid batches.
    pub size: u64,
    /// Greatest record timestamp, `i64::MIN` when empty.
    pub max_timestamp: i64,
}

/// Where and how [`Segment::truncate_to`] cuts, found by [`Segment::plan_cut`].
#[derive(Debug, Clone)]
pub struct CutPlan {
    /// Byte position of the first batch removed.
    pub position: u64,
    /// Its base offset: the segment's end offset after the cut.
    pub next_offset: u64,
    kept: Indexes,
    max: (i64, u64),
}

/// A segment shared by the writer and any number of readers.
#[derive(Debug)]
pub struct Segment {
    base_offset: u64,
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    log: Arc<dyn FsFile>,
    /// `index.interval.bytes`, for rebuilding indexes.
    index_interval: u32,
    /// Published size: bytes below it are whole, checked batches.
    size: AtomicU64,
    /// Offset after the last published batch; `u64::MAX` until computed.
    next_offset: AtomicU64,
    max_timestamp: AtomicI64,
    /// Last offset of the batch holding `max_timestamp` (its first holder),
    /// so the writer's index builder resumes from the true maximum rather
    /// than from the last time index entry, which may be older.
    offset_of_max_timestamp: AtomicU64,
    /// `None` until first needed (sealed segments load lazily).
    indexes: RwLock<Option<Indexes>>,
    index_files: Mutex<Option<IndexFiles>>,
    /// Set once the segment has left the log: its files go when the last
    /// reader drops it.
    deleted: AtomicBool,
    /// The `.log` file holds zeros from the published size up to here,
    /// written ahead of the data (see [`Segment::zero_ahead`]); 0 if none.
    zeroed_to: AtomicU64,
    /// Disk blocks are reserved for the `.log` file up to here (see
    /// [`Segment::preallocate`]); 0 if none are known to be.
    allocated_to: AtomicU64,
}

/// Bytes an index file of `entry`-byte entries is preallocated to.
fn prealloc_len(index_bytes: u32, entry: usize) -> u64 {
    u64::from(index_bytes) / entry as u64 * entry as u64
}

/// Zeros for [`Segment::zero_ahead`], written a piece at a time.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Segment {
    /// Creates the files of a new, empty segment (index files preallocated).
    ///
    /// # Errors
    /// I/O errors creating the files.
    pub fn create(
        fs: &Arc<dyn FileSystem>,
        dir: &Path,
        base_offset: u64,
        index_bytes: u32,
        index_interval: u32,
    ) -> Result<Segment> {
        let path = file_path(dir, base_offset, FileKind::Log);
        let log = fs
            .open(&path, OpenMode::CreateTruncate)
            .map_err(|e| Error::io("create", &path, e))?;
        let files = match Self::create_index_files(fs, dir, base_offset, index_bytes) {
            Ok(f) => f,
            Err(e) => {
                // Leave no stray empty segment behind: at the next open it
                // would look like the active segment and hide the records
                // appended to the previous one after this failed roll.
                for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
                    let _ = fs.remove_file(&file_path(dir, base_offset, kind));
                }
                return Err(e);
            }
        };
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            fs: Arc::clone(fs),
            log,
            index_interval,
            size: AtomicU64::new(0),
            next_offset: AtomicU64::new(base_offset),
            max_timestamp: AtomicI64::new(i64::MIN),
            offset_of_max_timestamp: AtomicU64::new(base_offset),
            indexes: RwLock::new(Some(Indexes::default())),
            index_files: Mutex::new(Some(files)),
            deleted: AtomicBool::new(false),
            zeroed_to: AtomicU64::new(0),
            allocated_to: AtomicU64::new(0),
        })
    }

    fn create_index_files(
        fs: &Arc<dyn FileSystem>,
        dir: &Path,
        base: u64,
        index_bytes: u32,
    ) -> Result<IndexFiles> {
        let files = Self::open_index_files(fs, dir, base, OpenMode::CreateTruncate)?;
        for (file, kind, entry) in files.with_kinds() {
            file.set_len(prealloc_len(index_bytes, entry))
                .map_err(|e| Error::io("preallocate", file_path(dir, base, kind), e))?;
        }
        Ok(files)
    }

    fn open_index_files(
        fs: &Arc<dyn FileSystem>,
        dir: &Path,
        base: u64,
        mode: OpenMode,
    ) -> Result<IndexFiles> {
        let op = if matches!(mode, OpenMode::CreateTruncate) {
            "create"
        } else {
            "open"
        };
        let open = |kind: FileKind| -> Result<Arc<dyn FsFile>> {
            let path = file_path(dir, base, kind);
            fs.open(&path, mode).map_err(|e| Error::io(op, &path, e))
        };
        Ok(IndexFiles {
            offsets: open(FileKind::Index)?,
            times: open(FileKind::TimeIndex)?,
            written: (0, 0),
        })
    }

    /// Opens an existing segment whose `.log` is `size` bytes of valid batches.
    /// Indexes are loaded when first needed.
    ///
    /// # Errors
    /// I/O errors opening the log file.
    pub fn open(
        fs: &Arc<dyn FileSystem>,
        dir: &Path,
        base_offset: u64,
        index_interval: u32,
    ) -> Result<Segment> {
        let path = file_path(dir, base_offset, FileKind::Log);
        let log = fs
            .open(&path, OpenMode::ReadWrite)
            .map_err(|e| Error::io("open", &path, e))?;
        let size = log.len().map_err(|e| Error::io("stat", &path, e))?;
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            fs: Arc::clone(fs),
            log,
            index_interval,
            size: AtomicU64::new(size),
            next_offset: AtomicU64::new(u64::MAX),
            max_timestamp: AtomicI64::new(i64::MIN),
            offset_of_max_timestamp: AtomicU64::new(base_offset),
            indexes: RwLock::new(None),
            index_files: Mutex::new(None),
            deleted: AtomicBool::new(false),
            zeroed_to: AtomicU64::new(0),
            allocated_to: AtomicU64::new(0),
        })
    }

    /// First offset the segment may hold.
    #[must_use]
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Published size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Path of one of the segment's files.
    #[must_use]
    pub fn path(&self, kind: FileKind) -> PathBuf {
        file_path(&self.dir, self.base_offset, kind)
    }

    /// The `.log` file handle.
    #[must_use]
    pub fn log_file(&self) -> &Arc<dyn FsFile> {
        &self.log
    }

    fn corrupt(&self, position: u64, kind: CorruptKind) -> Error {
        Error::Corrupt {
            path: self.path(FileKind::Log),
            position,
            kind,
        }
    }

    /// Offset after the last batch, greatest timestamp and size (loads the
    /// indexes of a sealed segment the first time).
    ///
    /// # Errors
    /// I/O errors or corruption found while loading.
    pub fn info(&self) -> Result<SegmentInfo> {
        self.ensure_indexes()?;
        Ok(SegmentInfo {
            base_offset: self.base_offset,
            next_offset: self.next_offset.load(Ordering::Acquire),
            size: self.size(),
            max_timestamp: self.max_timestamp.load(Ordering::Acquire),
        })
    }

    // ----- indexes -------------------------------------------------------

    fn read_whole(&self, kind: FileKind) -> Option<Vec<u8>> {
        let path = self.path(kind);
        // A deleted segment's files are being renamed to `*.deleted`: look
        // under both names (a reader may still load its indexes lazily).
        let f = match self.fs.open(&path, OpenMode::Read) {
            Ok(f) => f,
            Err(_) if self.deleted.load(Ordering::Acquire) => {
                self.fs.open(&deleted_path(&path), OpenMode::Read).ok()?
            }
            Err(_) => return None,
        };
        let len = f.len().ok()?;
        let mut buf = vec![0u8; usize::try_from(len).ok()?];
        read_exact_at(f.as_ref(), &mut buf, 0).ok()?;
        Some(buf)
    }

    /// Loads the index files if not loaded; rebuilds them from the log when
    /// they are missing or fail the sanity check.
    fn ensure_indexes(&self) -> Result<()> {
        if self
            .indexes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Ok(());
        }
        let mut guard = self.indexes.write().unwrap_or_else(PoisonError::into_inner);
        if guard.is_some() {
            return Ok(());
        }
        let size = self.size();
        let loaded = match (
            self.read_whole(FileKind::Index),
            self.read_whole(FileKind::TimeIndex),
        ) {
            (Some(o), Some(t))
                if o.len() % OFFSET_ENTRY_BYTES == 0 && t.len() % TIME_ENTRY_BYTES == 0 =>
            {
                let idx = Indexes {
                    offsets: OffsetEntry::decode_all(&o),
                    times: TimeEntry::decode_all(&t),
                };
                let max_rel = u32::MAX;
                (OffsetEntry::is_sane(&idx.offsets, size)
                    && TimeEntry::is_sane(&idx.times, max_rel))
                .then_some(idx)
            }
            _ => None,
        };
        let idx = match loaded {
            Some(idx) => {
                // Trusted indexes: scan only past the last offset entry to
                // find the end offset and the latest timestamps.
                let (from, anchor) =
                    idx.offsets
                        .last()
                        .map_or((0, Anchor::Base(self.base_offset)), |e| {
                            (
                                u64::from(e.position),
                                Anchor::Last(self.base_offset + u64::from(e.relative_offset)),
                            )
                        });
                let mut builder = IndexBuilder::new(self.base_offset, u32::MAX, 0, &idx);
                let mut scratch = idx.clone();
                let out = recover::scan(
                    self.log.as_ref(),
                    from,
                    size,
                    anchor,
                    &mut builder,
                    &mut scratch,
                )
                .map_err(|e| Error::io("read", self.path(FileKind::Log), e))?;
                if out.stop.is_some() || out.valid_end != size {
                    tracing::warn!(segment = %self.path(FileKind::Log).display(), "index does not match the log; rebuilding it");
                    self.rebuild_into(size)?
                } else {
                    self.set_meta(out.next_offset, &builder);
                    idx
                }
            }
            None => {
                tracing::warn!(segment = %self.path(FileKind::Log).display(), "index files missing or damaged; rebuilding them");
                self.rebuild_into(size)?
            }
        };
        *guard = Some(idx);
        Ok(())
    }

    /// Sets the end offset and the greatest timestamp (with the offset of
    /// its batch) from a builder that has seen the whole segment.
    fn set_meta(&self, next_offset: u64, builder: &IndexBuilder) {
        self.set_meta_max(
            next_offset,
            (builder.max_timestamp, builder.offset_of_max_timestamp),
        );
    }

    fn set_meta_max(&self, next_offset: u64, (max_timestamp, offset_of_max): (i64, u64)) {
        self.next_offset.store(next_offset, Ordering::Release);
        self.offset_of_max_timestamp
            .store(offset_of_max, Ordering::Release);
        self.max_timestamp.store(max_timestamp, Ordering::Release);
    }

    /// The greatest timestamp and the last offset of the batch holding it
    /// (the segment's base when empty): where the writer's
    /// [`IndexBuilder`] resumes.
    #[must_use]
    pub fn max_timestamp_and_offset(&self) -> (i64, u64) {
        (
            self.max_timestamp.load(Ordering::Acquire),
            self.offset_of_max_timestamp.load(Ordering::Acquire),
        )
    }

    /// Scans the whole log (CRC checked) and writes fresh index files
    /// (in place for the active segment).
    fn rebuild_into(&self, size: u64) -> Result<Indexes> {
        let mut idx = Indexes::default();
        let mut builder = IndexBuilder::new(self.base_offset, self.index_interval, 0, &idx);
        let out = recover::scan(
            self.log.as_ref(),
            0,
            size,
            Anchor::Base(self.base_offset),
            &mut builder,
            &mut idx,
        )
        .map_err(|e| Error::io("read", self.path(FileKind::Log), e))?;
        if let Some(stop) = out.stop {
            let (Stop::Torn { position, kind } | Stop::Corrupt { position, kind }) = stop;
            return Err(self.corrupt(position, kind));
        }
        idx.times
            .extend(builder.time_entry(idx.times.last().copied()));
        self.set_meta(out.next_offset, &builder);
        match lock(&self.index_files).as_mut() {
            // The active segment appends through its open, preallocated
            // files: rewrite those in place (a rename would leave the
            // handles writing to unlinked files).
            Some(files) => {
                for (file, kind) in [
                    (&files.offsets, FileKind::Index),
                    (&files.times, FileKind::TimeIndex),
                ] {
                    let len = file
                        .len()
                        .map_err(|e| Error::io("stat", self.path(kind), e))?;
                    file.set_len(0)
                        .and_then(|()| file.set_len(len))
                        .map_err(|e| Error::io("truncate", self.path(kind), e))?;
                }
                self.write_entries(files, &idx)?;
            }
            None => self.write_index_files(&idx)?,
        }
        Ok(idx)
    }

    /// Writes a sealed segment's index files anew (each atomically). On a
    /// full disk the old files are removed instead, which frees room: a
    /// sealed segment without index files has them rebuilt when it is next
    /// loaded, and until then the entries in memory serve.
    fn write_index_files(&self, idx: &Indexes) -> Result<()> {
        match self.write_index_files_now(idx) {
            Err(e @ Error::DiskFull { .. }) => {
                tracing::warn!(segment = %self.path(FileKind::Log).display(), error = %e, "disk full: index files removed, to be rebuilt at the next load");
                for kind in [FileKind::Index, FileKind::TimeIndex] {
                    let path = self.path(kind);
                    if self.fs.exists(&path) {
                        self.fs
                            .remove_file(&path)
                            .map_err(|e| Error::io("remove", &path, e))?;
                    }
                }
                Ok(())
            }
            other => other,
        }
    }

    fn write_index_files_now(&self, idx: &Indexes) -> Result<()> {
        if self.deleted.load(Ordering::Acquire) {
            // Its names may already belong to a segment that replaced it.
            return Ok(());
        }
        let write = |kind: FileKind, bytes: Vec<u8>| -> Result<()> {
            let path = self.path(kind);
            crate::fs::write_atomic(self.fs.as_ref(), &path, &bytes)
                .map_err(|e| Error::io("write", &path, e))
        };
        write(
            FileKind::Index,
            idx.offsets.iter().flat_map(OffsetEntry::encode).collect(),
        )?;
        write(
            FileKind::TimeIndex,
            idx.times.iter().flat_map(TimeEntry::encode).collect(),
        )
    }

    /// Installs indexes found by recovery and reopens the index files for
    /// appending (this segment becomes the active one). `max` is the greatest
    /// timestamp and the last offset of the batch holding it.
    ///
    /// # Errors
    /// I/O errors writing the index files.
    pub fn install_recovered(
        &self,
        mut idx: Indexes,
        next_offset: u64,
        max: (i64, u64),
        index_bytes: u32,
    ) -> Result<()> {
        // The files are rewritten in place, not truncated first: the entries
        // mostly are what they hold, so their blocks are reused and a full
        // disk does not stop an open (a reader's included).
        let mut files = Self::open_index_files(
            &self.fs,
            &self.dir,
            self.base_offset,
            OpenMode::CreateOrOpen,
        )?;
        match self.write_entries(&mut files, &idx) {
            Err(Error::DiskFull { .. }) => {
                // No room for entries the files did not hold: keep as many
                // as they did. A prefix of a sparse index is a valid index
                // (lookups scan a little further).
                let held = self.raw_index_entries();
                idx.offsets.truncate(held.offsets.len());
                idx.times.truncate(held.times.len());
                tracing::warn!(segment = %self.path(FileKind::Log).display(), offsets = idx.offsets.len(), times = idx.times.len(), "disk full: index entries beyond what the files held left out");
                self.write_entries(&mut files, &idx)?;
            }
            other => other?,
        }
        // Zeros after the entries (a hole up to the preallocated size), so
        // nothing stale past them reads as an entry.
        for ((file, kind, entry), len) in files
            .with_kinds()
            .into_iter()
            .zip([idx.offsets.len(), idx.times.len()])
        {
            let used = (len * entry) as u64;
            file.set_len(used)
                .and_then(|()| file.set_len(prealloc_len(index_bytes, entry).max(used)))
                .map_err(|e| Error::io("preallocate", self.path(kind), e))?;
        }
        self.set_meta_max(next_offset, max);
        *self.indexes.write().unwrap_or_else(PoisonError::into_inner) = Some(idx);
        *lock(&self.index_files) = Some(files);
        Ok(())
    }

    /// Writes all entries at the start of the (preallocated) index files, one
    /// write per file: a full 1 GiB segment has ~260k entries.
    ///
    /// On failure the files count as holding nothing, so that the next write
    /// of pending entries rewrites whatever the segment then holds.
    fn write_entries(&self, files: &mut IndexFiles, idx: &Indexes) -> Result<()> {
        files.written = (0, 0);
        let written = files.write_pending_as("write", &self.dir, self.base_offset, idx);
        if written.is_err() {
            files.written = (0, 0);
        }
        written
    }

    /// Index entries as the files hold them, without the sanity check: the
    /// longest prefix that increases (a preallocated file ends in zeros).
    #[must_use]
    pub fn raw_index_entries(&self) -> Indexes {
        let mut idx = Indexes::default();
        if let Some(bytes) = self.read_whole(FileKind::Index) {
            for e in OffsetEntry::decode_all(&bytes) {
                let ok = idx.offsets.last().map_or(e.position > 0, |l| e.follows(l));
                if !ok {
                    break;
                }
                idx.offsets.push(e);
            }
        }
        if let Some(bytes) = self.read_whole(FileKind::TimeIndex) {
            for e in TimeEntry::decode_all(&bytes) {
                let zero = e.timestamp == 0 && e.relative_offset == 0;
                let ok = !zero && idx.times.last().is_none_or(|l| e.follows(l));
                if !ok {
                    break;
                }
                idx.times.push(e);
            }
        }
        idx
    }

    /// Whether the `.log` file holds nothing but zeros from `position` to
    /// its end (what [`Segment::zero_ahead`] leaves after a crash), as far as
    /// it can tell: `false` if the tail is longer than 64 MiB or unreadable.
    #[must_use]
    pub fn only_zeros_from(&self, position: u64) -> bool {
        let Ok(len) = self.log.len() else {
            return false;
        };
        let rest = len.saturating_sub(position);
        if rest > 64 << 20 {
            return false;
        }
        let mut buf = vec![0u8; rest as usize];
        read_up_to(self.log.as_ref(), &mut buf, position)
            .is_ok_and(|n| n == buf.len() && buf.iter().all(|&b| b == 0))
    }

    /// Cuts a torn tail found by recovery at `position` and syncs.
    ///
    /// # Errors
    /// I/O errors.
    pub fn cut_torn_tail(&self, position: u64) -> Result<()> {
        let path = self.path(FileKind::Log);
        self.log
            .set_len(position)
            .map_err(|e| Error::io("truncate", &path, e))?;
        self.log
            .sync_data()
            .map_err(|e| Error::io("fsync", &path, e))?;
        self.size.store(position, Ordering::Release);
        Ok(())
    }

    /// Installs indexes rebuilt by recovery for a segment that stays sealed,
    /// writing them out. `max` as for [`Segment::install_recovered`].
    ///
    /// # Errors
    /// I/O errors.
    pub fn install_sealed(&self, idx: Indexes, next_offset: u64, max: (i64, u64)) -> Result<()> {
        self.write_index_files(&idx)?;
        self.set_meta_max(next_offset, max);
        *self.indexes.write().unwrap_or_else(PoisonError::into_inner) = Some(idx);
        Ok(())
    }

    /// Makes this loaded, sealed segment the active one again (after a clean
    /// open): reopens its index files for appending, preallocated.
    ///
    /// # Errors
    /// I/O errors.
    pub fn reactivate(&self, index_bytes: u32) -> Result<()> {
        self.ensure_indexes()?;
        let idx = self
            .indexes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        let info = self.info()?;
        self.install_recovered(
            idx,
            info.next_offset,
            self.max_timestamp_and_offset(),
            index_bytes,
        )
    }

    /// A copy of the indexes (loading them if needed).
    ///
    /// # Errors
    /// I/O errors or corruption found while loading.
    pub fn indexes(&self) -> Result<Indexes> {
        self.ensure_indexes()?;
        Ok(self
            .indexes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default())
    }

    /// Drops the loaded indexes and rebuilds them from the log (after a hint
    /// was found wrong).
    fn rebuild_now(&self) -> Result<()> {
        let mut guard = self.indexes.write().unwrap_or_else(PoisonError::into_inner);
        tracing::warn!(segment = %self.path(FileKind::Log).display(), "index entry points at the wrong batch; rebuilding");
        let idx = self.rebuild_into(self.size())?;

        *guard = Some(idx);
        Ok(())
    }

    // ----- writing (active segment, under the log's writer lock) ---------

    /// Writes `bytes` (whole, checked batches) at the end of the log file and
    /// adds the index entries; does not publish (see [`Segment::publish`]).
    ///
    /// # Errors
    /// I/O errors; the caller cuts the partial write back.
    pub fn write_batches(
        &self,
        bytes: &[u8],
        at: u64,
        entries: &[(Option<OffsetEntry>, Option<TimeEntry>)],
    ) -> Result<()> {
        write_all_at(self.log.as_ref(), bytes, at)
            .map_err(|e| Error::io("append", self.path(FileKind::Log), e))?;
        if entries.iter().all(|(o, t)| o.is_none() && t.is_none()) {
            return Ok(());
        }
        let mut guard = self.indexes.write().unwrap_or_else(PoisonError::into_inner);
        let idx = guard.get_or_insert_with(Indexes::default);
        let mut files = lock(&self.index_files);
        let before = (idx.offsets.len(), idx.times.len());
        for (o, t) in entries {
            idx.offsets.extend(o);
            idx.times.extend(t);
        }
        let Some(f) = files.as_mut() else {
            return Ok(());
        };
        if f.pending(idx) < PENDING_ENTRIES {
            return Ok(());
        }
        let written = f.write_pending(&self.dir, self.base_offset, idx);
        if written.is_err() {
            // The caller cuts the log back: forget this append's entries
            // too (the bytes written to the files are overwritten by the
            // next ones); earlier ones stay pending.
            idx.offsets.truncate(before.0);
            idx.times.truncate(before.1);
            f.written = (f.written.0.min(before.0), f.written.1.min(before.1));
        }
        written
    }

    /// Makes bytes up to `size` visible to readers. `offset_of_max` is the
    /// last offset of the batch holding `max_timestamp`. Only the writer
    /// calls this (under the log's writer lock), so the pair is updated
    /// without a race; readers use the timestamp alone.
    pub fn publish(&self, size: u64, next_offset: u64, max_timestamp: i64, offset_of_max: u64) {
        // Strictly greater: the first batch holding the maximum keeps it, as
        // in `IndexBuilder::on_batch`.
        if max_timestamp > self.max_timestamp.load(Ordering::Acquire) {
            self.offset_of_max_timestamp
                .store(offset_of_max, Ordering::Release);
            self.max_timestamp.store(max_timestamp, Ordering::Release);
        }
        self.next_offset.store(next_offset, Ordering::Release);
        self.size.store(size, Ordering::Release);
    }

    /// Number of index entries (to know when the index is full).
    #[must_use]
    pub fn index_entries(&self) -> usize {
        self.indexes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, |i| i.offsets.len().max(i.times.len()))
    }

    /// The last time index entry, if any.
    #[must_use]
    pub fn last_time_entry(&self) -> Option<TimeEntry> {
        self.indexes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|i| i.times.last().copied())
    }

    /// Syncs the log file and the index files.
    ///
    /// # Errors
    /// The failed fsync.
    pub fn sync(&self) -> Result<()> {
        self.log
            .sync_data()
            .map_err(|e| Error::io("fsync", self.path(FileKind::Log), e))?;
        let idx = self.indexes.read().unwrap_or_else(PoisonError::into_inner);
        let mut files = lock(&self.index_files);
        if let (Some(f), Some(idx)) = (files.as_mut(), idx.as_ref()) {
            f.write_pending_or_defer(&self.dir, self.base_offset, idx)?;
        }
        // Readers waiting to load indexes need not wait for the fsyncs.
        drop(idx);
        if let Some(f) = files.as_ref() {
            f.offsets
                .sync_data()
                .map_err(|e| Error::io("fsync", self.path(FileKind::Index), e))?;
            f.times
                .sync_data()
                .map_err(|e| Error::io("fsync", self.path(FileKind::TimeIndex), e))?;
        }
        Ok(())
    }

    /// Reserves disk blocks for the `.log` file past its end so that it
    /// reaches `need` and `step` bytes more (at most to `limit`, unless
    /// `need` is beyond it), a step at a time, without changing the file's
    /// size (`fallocate` keeping the size, as Redpanda's segment
    /// fallocation step does). Appends into reserved blocks skip the file
    /// system's block allocation: measured here, `write(2)` into them is
    /// ~1.3x as fast as extending a file; and they cannot meet a full disk.
    /// Nothing on disk changes meaning (the size is still the end of the
    /// data); the reservation past the end is given back when the segment
    /// is sealed or cut. Best effort: on any failure (a full disk, a file
    /// system without `fallocate`) what it may have reserved is given back,
    /// this segment stops trying and appends allocate as they go.
    pub fn preallocate(&self, need: u64, step: u64, limit: u64) {
        let allocated = self.allocated_to.load(Ordering::Acquire);
        if need <= allocated {
            return;
        }
        let from = allocated.max(self.size());
        let to = need.saturating_add(step).min(limit.max(need));
        let reserved = self
            .log
            .allocate(from, to - from)
            .and_then(|()| self.reserve_index_entries(to - from));
        if let Err(e) = reserved {
            tracing::debug!(segment = %self.path(FileKind::Log).display(), error = %e, "reserving blocks ahead failed; not trying again for this segment");
            // A failed fallocate may have reserved part of the range (ext4
            // and XFS keep it): give that back, the disk is nearly full.
            let _ = self.cut_file(self.size());
            self.allocated_to.store(u64::MAX, Ordering::Release);
            return;
        }
        self.allocated_to.store(to, Ordering::Release);
    }

    /// Reserves blocks in the index files for the entries `bytes` more of
    /// the log can add (one per `index.interval.bytes`, and one more).
    fn reserve_index_entries(&self, bytes: u64) -> io::Result<()> {
        let (n_off, n_time) = {
            let g = self.indexes.read().unwrap_or_else(PoisonError::into_inner);
            g.as_ref()
                .map_or((0, 0), |i| (i.offsets.len(), i.times.len()))
        };
        let files = lock(&self.index_files);
        let Some(f) = files.as_ref() else {
            return Ok(());
        };
        // From what the files hold: pending entries need room too.
        let entries = bytes / u64::from(self.index_interval.max(1)) + 2;
        let reserve = |file: &Arc<dyn FsFile>, written: usize, held: usize, size: usize| {
            let pending = held.saturating_sub(written) as u64;
            file.allocate((written * size) as u64, (pending + entries) * size as u64)
        };
        reserve(&f.times, f.written.1, n_time, TIME_ENTRY_BYTES)?;
        reserve(&f.offsets, f.written.0, n_off, OFFSET_ENTRY_BYTES)
    }

    /// Writes zeros after the data so that the file already reaches past
    /// `need` (by `ahead` bytes, at most to `limit`, unless `need` is
    /// beyond it). Appends that land in zeros do not change the file's
    /// size, so an `fdatasync` of them need not commit a size change to the
    /// file system's journal: measured here, 1.4x the syncs per second of
    /// appending to the end. PostgreSQL zero-fills its WAL files for the
    /// same reason; Kafka has `file.preallocate`. The zeros are cut when the
    /// segment is sealed, and recovery cuts them as a torn tail after a
    /// crash. Best effort: on any failure (a full disk) the file is cut back
    /// and appends go on at its end.
    pub fn zero_ahead(&self, need: u64, ahead: u64, limit: u64) {
        let zeroed = self.zeroed_to.load(Ordering::Acquire);
        if need <= zeroed {
            return;
        }
        let from = zeroed.max(self.size());
        let to = need.saturating_add(ahead).min(limit.max(need));
        if to <= need {
            return;
        }
        let mut at = from;
        while at < to {
            let n = ((to - at) as usize).min(ZEROS.len());
            let piece = ZEROS.get(..n).unwrap_or_default();
            if let Err(e) = write_all_at(self.log.as_ref(), piece, at) {
                tracing::debug!(segment = %self.path(FileKind::Log).display(), error = %e, "writing zeros ahead failed; appending at the end");
                let _ = self.log.set_len(from);
                self.zeroed_to.store(0, Ordering::Release);
                self.allocated_to.store(0, Ordering::Release);
                return;
            }
            at += n as u64;
        }
        self.zeroed_to.store(to, Ordering::Release);
    }

    /// Cuts the `.log` file to `len` (dropping zeros written ahead, or a
    /// partial write), giving back blocks reserved past it.
    ///
    /// # Errors
    /// The failed `ftruncate`.
    pub fn cut_file(&self, len: u64) -> Result<()> {
        self.zeroed_to.store(0, Ordering::Release);
        self.allocated_to.store(0, Ordering::Release);
        self.log
            .set_len(len)
            .map_err(|e| Error::io("truncate", self.path(FileKind::Log), e))
    }

    /// Stops being the active segment: adds the final time entry, cuts the
    /// zeros written ahead, trims the preallocated index files to their
    /// entries and syncs everything.
    ///
    /// # Errors
    /// I/O errors (a failed fsync poisons the log).
    pub fn seal(&self, final_time_entry: Option<TimeEntry>) -> Result<()> {
        if let Some(t) = final_time_entry {
            // Written to the files with the other pending entries below.
            self.indexes
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(Indexes::default)
                .times
                .push(t);
        }
        let size = self.size();
        if self.zeroed_to.load(Ordering::Acquire) > size
            || self.allocated_to.load(Ordering::Acquire) > size
        {
            self.cut_file(size)?;
        }
        self.log
            .sync_data()
            .map_err(|e| Error::io("fsync", self.path(FileKind::Log), e))?;
        let idx = self.indexes.read().unwrap_or_else(PoisonError::into_inner);
        let mut files = lock(&self.index_files);
        if let (Some(f), Some(idx)) = (files.as_mut(), idx.as_ref()) {
            f.write_pending_or_defer(&self.dir, self.base_offset, idx)?;
        }
        drop(idx);
        if let Some(f) = files.take() {
            // What the files hold: every entry, or a prefix on a full disk.
            let (n_off, n_time) = f.written;
            let trim = |file: &Arc<dyn FsFile>, len: usize, kind: FileKind| -> Result<()> {
                file.set_len(len as u64)
                    .map_err(|e| Error::io("trim", self.path(kind), e))?;
                file.sync_data()
                    .map_err(|e| Error::io("fsync", self.path(kind), e))
            };
            trim(&f.offsets, n_off * OFFSET_ENTRY_BYTES, FileKind::Index)?;
            trim(&f.times, n_time * TIME_ENTRY_BYTES, FileKind::TimeIndex)?;
        }
        Ok(())
    }

    /// Cuts the segment as `plan` says: drops index entries past the cut,
    /// cuts the file and syncs. The file is cut before the published size is
    /// lowered, so a failed `set_len` leaves size and file in agreement.
    ///
    /// # Errors
    /// I/O errors; the file may then be cut in part (the caller poisons the log).
    pub fn truncate_to(&self, plan: CutPlan) -> Result<()> {
        let CutPlan {
            position,
            next_offset,
            kept,
            max,
        } = plan;
        self.cut_file(position)?;
        self.size
            .store(position.min(self.size()), Ordering::Release);
        let mut guard = self.indexes.write().unwrap_or_else(PoisonError::into_inner);
        let idx = guard.insert(kept);
        self.set_meta_max(next_offset, max);
        self.log
            .sync_data()
            .map_err(|e| Error::io("fsync", self.path(FileKind::Log), e))?;
        if let Some(f) = lock(&self.index_files).as_mut() {
            f.written = (
                f.written.0.min(idx.offsets.len()),
                f.written.1.min(idx.times.len()),
            );
            f.write_pending_or_defer(&self.dir, self.base_offset, idx)?;
            // Zero the entries past the cut in the preallocated files.
            let zero_from = |file: &Arc<dyn FsFile>, from: usize, kind: FileKind| -> Result<()> {
                let len = file
                    .len()
                    .map_err(|e| Error::io("stat", self.path(kind), e))?;
                file.set_len(from as u64)
                    .and_then(|()| file.set_len(len))
                    .map_err(|e| Error::io("truncate", self.path(kind), e))
            };
            zero_from(
                &f.offsets,
                idx.offsets.len() * OFFSET_ENTRY_BYTES,
                FileKind::Index,
            )?;
            zero_from(
                &f.times,
                idx.times.len() * TIME_ENTRY_BYTES,
                FileKind::TimeIndex,
            )?;
        } else {
            self.write_index_files(idx)?;
        }
        Ok(())
    }

    /// Recovery scan from `from` (a batch boundary) to the end of the file,
    /// the first batch checked against `anchor`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn scan_from(
        &self,
        from: u64,
        anchor: Anchor,
        builder: &mut IndexBuilder,
        idx: &mut Indexes,
    ) -> Result<ScanOutcome> {
        let len = self
            .log
            .len()
            .map_err(|e| Error::io("stat", self.path(FileKind::Log), e))?;
        recover::scan(self.log.as_ref(), from, len, anchor, builder, idx)
            .map_err(|e| Error::io("read", self.path(FileKind::Log), e))
    }

    /// Sets the published size after recovery cut the file.
    pub fn set_recovered_size(&self, size: u64) {
        self.size.store(size, Ordering::Release);
    }

    /// Renames the files to `*.deleted`; they are removed when the last
    /// reader drops the segment.
    ///
    /// # Errors
    /// I/O errors renaming.
    pub fn mark_deleted(&self) -> Result<()> {
        // First, so that a reader loading indexes from here on neither
        // misses the renamed files nor writes new ones under the old names.
        self.deleted.store(true, Ordering::Release);
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            let from = self.path(kind);
            if self.fs.exists(&from) {
                let to = deleted_path(&from);
                self.fs
                    .rename(&from, &to)
                    .map_err(|e| Error::io("rename", &from, e))?;
            }
        }
        lock(&self.index_files).take();
        Ok(())
    }
}

fn deleted_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(DELETED_SUFFIX);
    PathBuf::from(s)
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.deleted.load(Ordering::Acquire) {
            for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
                let _ = self.fs.remove_file(&deleted_path(&self.path(kind)));
            }
        }
    }
}
