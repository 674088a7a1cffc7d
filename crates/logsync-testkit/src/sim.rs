//! The simulated file system. See the crate docs.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use logsync_storage::fs::{FileSystem, FsFile, OpenMode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Default)]
struct Inode {
    /// What reads see (page cache).
    data: Vec<u8>,
    /// What survives a crash (as of the last fdatasync).
    synced: Vec<u8>,
    /// Bytes below this hold blocks and count against the capacity. A file
    /// extended by `set_len` is sparse past it until written, as on ext4,
    /// XFS or tmpfs (so preallocating an index costs nothing, writing its
    /// entries does). `allocate` may take it past the end of the data
    /// (blocks reserved beyond the end, freed by the next `set_len` to or
    /// below the length).
    allocated: usize,
}

impl Inode {
    fn used(&self) -> u64 {
        self.allocated as u64
    }
}

type InodeRef = Arc<Mutex<Inode>>;

/// Faults to inject; all off by default.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Total bytes all files may hold; writes past it are cut short and fail
    /// with `StorageFull` (ENOSPC).
    pub capacity_bytes: Option<u64>,
    /// Fail this many upcoming `fdatasync` calls with EIO.
    pub failing_syncs: u32,
    /// Every write writes at most this many bytes (short writes).
    pub max_write_bytes: Option<usize>,
    /// Crash after this many more mutating operations (0 = at the next one).
    pub crash_after_ops: Option<u64>,
    /// Writes to files whose name ends with this fail with `StorageFull`
    /// (ENOSPC) before writing anything, whatever the capacity.
    pub full_for_suffix: Option<String>,
}

#[derive(Debug)]
struct State {
    /// Current namespace.
    names: BTreeMap<PathBuf, InodeRef>,
    /// Namespace as of the last directory fsyncs.
    durable: BTreeMap<PathBuf, InodeRef>,
    dirs: HashSet<PathBuf>,
    locks: HashSet<PathBuf>,
    faults: Faults,
    /// Bumped by a crash: handles of an older generation fail.
    generation: u64,
    crashed: bool,
    ops: u64,
    rng: StdRng,
}

/// An in-memory file system that can crash and inject faults.
#[derive(Debug, Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("simulated failure: {what}"))
}

impl SimFs {
    /// An empty file system; `seed` drives what an unsynced tail keeps at a crash.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        SimFs {
            state: Arc::new(Mutex::new(State {
                names: BTreeMap::new(),
                durable: BTreeMap::new(),
                dirs: HashSet::new(),
                locks: HashSet::new(),
                faults: Faults::default(),
                generation: 0,
                crashed: false,
                ops: 0,
                rng: StdRng::seed_from_u64(seed),
            })),
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        self.st().faults = faults;
    }

    /// Whether the simulated crash point has been reached.
    #[must_use]
    pub fn crashed(&self) -> bool {
        self.st().crashed
    }

    /// Number of mutating operations so far.
    #[must_use]
    pub fn ops(&self) -> u64 {
        self.st().ops
    }

    /// Crashes now: every later operation of existing handles fails.
    pub fn crash(&self) {
        self.st().crashed = true;
    }

    /// Brings the disk back as it would be after a crash: durable names, and
    /// per file its synced bytes plus a random prefix of an unsynced appended
    /// tail (rewrites inside the synced part are lost). Clears faults and locks.
    pub fn reboot(&self) {
        let mut st = self.st();
        let durable = st.durable.clone();
        let mut seen = HashSet::new();
        for inode in durable.values() {
            if !seen.insert(Arc::as_ptr(inode) as usize) {
                continue;
            }
            let mut node = inode.lock().unwrap_or_else(PoisonError::into_inner);
            let Inode {
                data,
                synced,
                allocated,
            } = &mut *node;
            let mut kept = synced.clone();
            if data.len() > synced.len() && data.get(..synced.len()) == Some(synced.as_slice()) {
                let extra = data.len() - synced.len();
                let keep = match st.rng.random_range(0..3) {
                    0 => 0,
                    1 => extra,
                    _ => st.rng.random_range(0..=extra),
                };
                kept.extend_from_slice(
                    data.get(synced.len()..synced.len() + keep)
                        .unwrap_or_default(),
                );
            }
            // Blocks stay allocated (a reservation past the end survives a
            // crash on ext4 once its metadata is committed; assume it was).
            *allocated = (*allocated).max(kept.len());
            *data = kept.clone();
            *synced = kept;
        }
        st.names = durable;
        st.locks.clear();
        st.faults = Faults::default();
        st.crashed = false;
        st.generation += 1;
    }

    /// Bytes held by all files, as reads see them (to set a capacity just
    /// above what is used).
    #[must_use]
    pub fn bytes_held(&self) -> u64 {
        Self::used_bytes(&self.st())
    }

    /// Bytes of a file as reads see them (for tests that damage files).
    #[must_use]
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.st();
        let inode = st.names.get(path)?;
        Some(
            inode
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .data
                .clone(),
        )
    }

    /// Overwrites a file's bytes, durably (for tests that damage files).
    pub fn write_file(&self, path: &Path, bytes: &[u8]) {
        let st = self.st();
        if let Some(inode) = st.names.get(path) {
            let mut n = inode.lock().unwrap_or_else(PoisonError::into_inner);
            n.data = bytes.to_vec();
            n.synced = bytes.to_vec();
            n.allocated = bytes.len();
        }
    }

    /// Every file path, sorted.
    #[must_use]
    pub fn paths(&self) -> Vec<PathBuf> {
        self.st().names.keys().cloned().collect()
    }

    fn used_bytes(st: &State) -> u64 {
        let mut seen = HashSet::new();
        st.names
            .values()
            .filter(|i| seen.insert(Arc::as_ptr(i) as usize))
            .map(|i| i.lock().unwrap_or_else(PoisonError::into_inner).used())
            .sum()
    }
}

/// Counts a mutating operation; fails it if the crash point is reached.
fn tick(st: &mut State, generation: u64) -> io::Result<()> {
    if st.crashed || generation != st.generation {
        return Err(eio("crashed"));
    }
    st.ops += 1;
    if let Some(n) = st.faults.crash_after_ops.as_mut() {
        if *n == 0 {
            st.crashed = true;
            return Err(eio("crashed"));
        }
        *n -= 1;
    }
    Ok(())
}

fn check_alive(st: &State, generation: u64) -> io::Result<()> {
    if st.crashed || generation != st.generation {
        Err(eio("crashed"))
    } else {
        Ok(())
    }
}

#[derive(Debug)]
struct SimFile {
    fs: SimFs,
    inode: InodeRef,
    generation: u64,
    writable: bool,
    /// The name it was opened by (for `Faults::full_for_suffix`).
    path: PathBuf,
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        check_alive(&self.fs.st(), self.generation)?;
        let node = self.inode.lock().unwrap_or_else(PoisonError::into_inner);
        let start = usize::try_from(pos)
            .unwrap_or(usize::MAX)
            .min(node.data.len());
        let src = node.data.get(start..).unwrap_or_default();
        let n = src.len().min(buf.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(src.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        if !self.writable {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        let mut st = self.fs.st();
        tick(&mut st, self.generation)?;
        if let Some(suffix) = &st.faults.full_for_suffix
            && self.path.to_string_lossy().ends_with(suffix.as_str())
        {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        let mut n = buf.len();
        if let Some(max) = st.faults.max_write_bytes {
            n = n.min(max.max(1));
        }
        let pos = usize::try_from(pos).map_err(|_| eio("position"))?;
        let mut node = self.inode.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cap) = st.faults.capacity_bytes {
            let used = {
                drop(node);
                let u = SimFs::used_bytes(&st);
                node = self.inode.lock().unwrap_or_else(PoisonError::into_inner);
                u
            };
            let growth = (pos + n).saturating_sub(node.allocated) as u64;
            if used + growth > cap {
                let room = cap.saturating_sub(used) as usize;
                let allowed = (node.allocated + room).saturating_sub(pos).min(n);
                if allowed == 0 {
                    return Err(io::Error::from(io::ErrorKind::StorageFull));
                }
                n = allowed;
            }
        }
        if node.data.len() < pos + n {
            node.data.resize(pos + n, 0);
        }
        node.allocated = node.allocated.max(pos + n);
        node.data
            .get_mut(pos..pos + n)
            .unwrap_or_default()
            .copy_from_slice(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        check_alive(&self.fs.st(), self.generation)?;
        Ok(self
            .inode
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .data
            .len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.fs.st();
        tick(&mut st, self.generation)?;
        let len = usize::try_from(len).map_err(|_| eio("length"))?;
        let mut node = self.inode.lock().unwrap_or_else(PoisonError::into_inner);
        // Growing leaves a hole (no room needed); shrinking frees blocks.
        node.data.resize(len, 0);
        node.allocated = node.allocated.min(len);
        Ok(())
    }

    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        let mut st = self.fs.st();
        tick(&mut st, self.generation)?;
        let end = usize::try_from(pos.saturating_add(len)).map_err(|_| eio("position"))?;
        let used = SimFs::used_bytes(&st);
        let mut node = self.inode.lock().unwrap_or_else(PoisonError::into_inner);
        let growth = end.saturating_sub(node.allocated) as u64;
        if let Some(cap) = st.faults.capacity_bytes
            && used + growth > cap
        {
            // As ext4 may: what fits is reserved, then ENOSPC.
            node.allocated += cap.saturating_sub(used) as usize;
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        node.allocated = node.allocated.max(end);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut st = self.fs.st();
        tick(&mut st, self.generation)?;
        if st.faults.failing_syncs > 0 {
            st.faults.failing_syncs -= 1;
            return Err(eio("fdatasync"));
        }
        let mut node = self.inode.lock().unwrap_or_else(PoisonError::into_inner);
        node.synced = node.data.clone();
        Ok(())
    }
}

#[derive(Debug)]
struct SimLock {
    fs: SimFs,
    path: PathBuf,
    generation: u64,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut st = self.fs.st();
        if st.generation == self.generation {
            st.locks.remove(&self.path);
        }
    }
}

impl FileSystem for SimFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut st = self.st();
        let generation = st.generation;
        let existing = st.names.get(path).cloned();
        let inode = match (mode, existing) {
            (OpenMode::Read | OpenMode::ReadWrite, None) => {
                return Err(io::ErrorKind::NotFound.into());
            }
            (OpenMode::Read | OpenMode::ReadWrite | OpenMode::CreateOrOpen, Some(i)) => {
                check_alive(&st, generation)?;
                i
            }
            (OpenMode::CreateTruncate, Some(i)) => {
                tick(&mut st, generation)?;
                let mut node = i.lock().unwrap_or_else(PoisonError::into_inner);
                node.data.clear();
                node.allocated = 0;
                drop(node);
                i
            }
            (OpenMode::CreateOrOpen | OpenMode::CreateTruncate, None) => {
                tick(&mut st, generation)?;
                if let Some(parent) = path.parent()
                    && !st.dirs.contains(parent)
                {
                    return Err(io::ErrorKind::NotFound.into());
                }
                let i: InodeRef = Arc::default();
                st.names.insert(path.to_path_buf(), Arc::clone(&i));
                i
            }
        };
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            inode,
            generation,
            writable: mode != OpenMode::Read,
            path: path.to_path_buf(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.st();
        let generation = st.generation;
        tick(&mut st, generation)?;
        let inode = st
            .names
            .remove(from)
            .ok_or(io::Error::from(io::ErrorKind::NotFound))?;
        st.names.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let generation = st.generation;
        tick(&mut st, generation)?;
        st.names
            .remove(path)
            .map(|_| ())
            .ok_or(io::Error::from(io::ErrorKind::NotFound))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        check_alive(&st, st.generation)?;
        // Directories are durable at once here: the log fsyncs the parent of
        // each new file, which is what matters for these tests.
        for p in path.ancestors() {
            st.dirs.insert(p.to_path_buf());
        }
        Ok(())
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let generation = st.generation;
        tick(&mut st, generation)?;
        st.dirs.remove(path);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let generation = st.generation;
        tick(&mut st, generation)?;
        let in_dir = |p: &Path| p.parent() == Some(path);
        st.durable.retain(|p, _| !in_dir(p));
        let current: Vec<(PathBuf, InodeRef)> = st
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, i)| (p.clone(), Arc::clone(i)))
            .collect();
        st.durable.extend(current);
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let st = self.st();
        check_alive(&st, st.generation)?;
        if !st.dirs.contains(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(path))
            .cloned()
            .collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let st = self.st();
        st.names.contains_key(path) || st.dirs.contains(path)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn fmt::Debug + Send + Sync>> {
        let mut st = self.st();
        check_alive(&st, st.generation)?;
        if !st.locks.insert(path.to_path_buf()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(Box::new(SimLock {
            fs: self.clone(),
            path: path.to_path_buf(),
            generation: st.generation,
        }))
    }
}
