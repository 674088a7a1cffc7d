//! The small file-system interface all storage I/O goes through.
//!
//! Production code uses [`StdFs`]; tests substitute a fault-injecting
//! implementation (see the `logsync-testkit` crate) that can fail writes,
//! fsyncs and lose unsynced data at a simulated crash.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Existing file, read only.
    Read,
    /// Existing file, read and write.
    ReadWrite,
    /// Read and write, created empty if missing.
    CreateOrOpen,
    /// Read and write, created (or emptied) now.
    CreateTruncate,
}

/// An open file. All positions are absolute; implementations are `Sync` so that
/// readers and the writer share one handle.
#[allow(
    clippy::len_without_is_empty,
    reason = "a file's length is read once per use; emptiness is not a question callers ask"
)]
pub trait FsFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `pos`; returns 0 at end of file.
    ///
    /// # Errors
    /// The OS error.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Reads up to `len` bytes at `pos` into a new vector, shorter only at
    /// the end of the file. The default zero-fills a buffer and reads into
    /// it; the real file reads straight into uninitialized capacity.
    ///
    /// # Errors
    /// The OS error.
    fn read_vec(&self, len: usize, pos: u64) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        let mut done = 0;
        while done < len {
            let rest = buf.get_mut(done..).unwrap_or_default();
            match self.read_at(rest, pos + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(done);
        Ok(buf)
    }
    /// Writes up to `buf.len()` bytes at `pos`, returning how many were written.
    ///
    /// # Errors
    /// The OS error (`StorageFull` when the disk is full).
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize>;
    /// Current length of the file.
    ///
    /// # Errors
    /// The OS error.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends the file. Truncating (even to the current
    /// length) also gives back blocks reserved past the end by
    /// [`FsFile::allocate`], as ext4 and tmpfs do.
    ///
    /// # Errors
    /// The OS error.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves disk blocks for `len` bytes at `pos` without changing the
    /// file's length or contents (`fallocate(2)` with `FALLOC_FL_KEEP_SIZE`),
    /// so that later writes there neither allocate nor fail for want of
    /// space.
    ///
    /// # Errors
    /// The OS error: `StorageFull` when the disk is full (blocks may then be
    /// reserved in part), `Unsupported` where the file system cannot.
    fn allocate(&self, pos: u64, len: u64) -> io::Result<()>;
    /// `fdatasync(2)`: data (and the size) reach stable storage.
    ///
    /// # Errors
    /// The OS error; after a failure the page cache state is unknown.
    fn sync_data(&self) -> io::Result<()>;
}

/// Directory-level operations.
pub trait FileSystem: Send + Sync + fmt::Debug + 'static {
    /// Opens a file.
    ///
    /// # Errors
    /// The OS error (`NotFound` for a missing file in `Read`/`ReadWrite`).
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    ///
    /// # Errors
    /// The OS error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    ///
    /// # Errors
    /// The OS error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    ///
    /// # Errors
    /// The OS error.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Removes an empty directory.
    ///
    /// # Errors
    /// The OS error.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory, making creations, renames and removals in it durable.
    ///
    /// # Errors
    /// The OS error.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Lists the entries of a directory (full paths, unordered).
    ///
    /// # Errors
    /// The OS error.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Whether a path exists.
    fn exists(&self, path: &Path) -> bool;
    /// Takes an exclusive advisory lock on `path` (created if missing), held
    /// until the returned guard drops. Fails with `WouldBlock` when another
    /// process holds it.
    ///
    /// # Errors
    /// The OS error, or `WouldBlock` when locked elsewhere.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn fmt::Debug + Send + Sync>>;
}

/// Reads exactly `buf.len()` bytes at `pos`, or fails with `UnexpectedEof`.
///
/// # Errors
/// The OS error, or `UnexpectedEof` if the file ends first.
pub fn read_exact_at(file: &dyn FsFile, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, pos) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = buf.get_mut(n..).unwrap_or_default();
                pos += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads up to `buf.len()` bytes at `pos`, stopping early only at end of file.
///
/// # Errors
/// The OS error.
pub fn read_up_to(file: &dyn FsFile, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let rest = buf.get_mut(done..).unwrap_or_default();
        match file.read_at(rest, pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Writes all of `buf` at `pos`.
///
/// # Errors
/// The OS error; part of `buf` may have been written.
pub fn write_all_at(file: &dyn FsFile, mut buf: &[u8], mut pos: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, pos) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = buf.get(n..).unwrap_or_default();
                pos += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes `contents` to `path` atomically: a temporary file, fsync, rename over
/// `path`, fsync of the directory. A crash leaves either the old or the new file.
///
/// # Errors
/// The OS error of whichever step failed.
pub fn write_atomic(fs: &dyn FileSystem, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let file = fs.open(&tmp, OpenMode::CreateTruncate)?;
    if let Err(e) = write_all_at(file.as_ref(), contents, 0).and_then(|()| file.sync_data()) {
        // Leave no half-written file taking room (on a full disk it is
        // what stands between a retry and success); open removes it too.
        drop(file);
        let _ = fs.remove_file(&tmp);
        return Err(e);
    }
    drop(file);
    fs.rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs.sync_dir(dir)?;
    }
    Ok(())
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile(std::fs::File);

impl FsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, pos)
    }
    fn read_vec(&self, len: usize, pos: u64) -> io::Result<Vec<u8>> {
        // `with_capacity` of bytes gives exactly `len` (documented), so the
        // reads below, which fill the spare capacity, never go past it.
        let mut buf = Vec::with_capacity(len);
        while buf.len() < len {
            let at = pos + buf.len() as u64;
            match rustix::io::pread(&self.0, rustix::buffer::spare_capacity(&mut buf), at) {
                Ok(0) => break,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(buf)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::write_at(&self.0, buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        loop {
            match rustix::fs::fallocate(&self.0, rustix::fs::FallocateFlags::KEEP_SIZE, pos, len) {
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::OPNOTSUPP) => return Err(io::ErrorKind::Unsupported.into()),
                other => return other.map_err(io::Error::from),
            }
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl FileSystem for StdFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut o = std::fs::OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true),
            OpenMode::CreateOrOpen => o.read(true).write(true).create(true),
            OpenMode::CreateTruncate => o.read(true).write(true).create(true).truncate(true),
        };
        Ok(Arc::new(StdFile(o.open(path)?)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn fmt::Debug + Send + Sync>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
