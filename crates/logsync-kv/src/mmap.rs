//! Read-only memory maps of segment files, so that a `get` reads its record
//! without a system call (a `pread` alone costs ~0.7 µs on a VM).
//!
//! The only `unsafe` code of the crate. A map covers a segment's `.log`
//! from position 0; for the active segment it is reserved up to
//! `segment.bytes`, past the end of the file, and bytes are read only below
//! the segment's published size, which the file always reaches.
//!
//! Why this is sound: the store reads a mapped byte only below the size the
//! log published for that segment, and the log never shrinks a file below
//! a published size while the store has it open (the store takes the
//! partition's lock file, never calls `truncate_suffix`, and the cleaner
//! writes new files instead of changing old ones; a replaced or deleted
//! file stays mapped until its map is dropped). What no process can
//! prevent: another program truncating the file behind the lock's back,
//! which would raise SIGBUS, as for every mmap-based store (LMDB, Bitcask
//! on some backends).
#![allow(
    unsafe_code,
    reason = "the crate's one use of mmap; see the module docs"
)]

use std::fs::File;
use std::io;
use std::path::Path;
use std::ptr::NonNull;

/// A read-only shared map of the first `len` bytes of a file (which may be
/// longer than the file: see the module docs).
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the map is read-only and never remapped while shared; `&[u8]`
// views of it may be used from any thread.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of the file at `path` read-only.
    pub fn map(path: &Path, len: usize) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let file = File::open(path)?;
        // SAFETY: a fresh mapping (null hint) of a file we opened, read-only
        // and shared; no existing memory is affected. The fd may be closed
        // afterwards: the map keeps the file.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::SHARED,
                &file,
                0,
            )
        }?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(io::ErrorKind::InvalidData)?;
        Ok(Mapping { ptr, len })
    }

    /// Bytes `pos..pos + len`, which the caller knows to lie below the
    /// file's size (see the module docs); `None` outside the map.
    pub fn get(&self, pos: u32, len: u32) -> Option<&[u8]> {
        let start = pos as usize;
        let end = start.checked_add(len as usize)?;
        if end > self.len {
            return None;
        }
        // SAFETY: `start..end` lies inside the mapping, which lives as long
        // as `self`; the bytes lie below the file's size (the caller's
        // contract), so reading them cannot fault, and nothing writes
        // through this read-only map.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start), end - start) })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned and no slice
        // of the map outlives `self` (slices borrow it).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_below_the_file_size_and_refuses_outside_the_map() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world").expect("write");
        let m = Mapping::map(&path, 1 << 20).expect("map past the end of the file");
        assert_eq!(m.get(6, 5), Some(&b"world"[..]));
        assert_eq!(m.get(u32::MAX, 2), None);
        assert!(Mapping::map(&path, 0).is_err());
        assert!(Mapping::map(&dir.path().join("missing"), 10).is_err());
    }
}
