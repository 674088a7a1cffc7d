//! The crash-safe swap of cleaned segments (docs/FORMAT.md, "Cleaner swap").
//!
//! A group of old segments with bases in `[group_start, group_end)` is
//! replaced by one cleaned segment whose base is its first batch's offset
//! (`new_base`), or by nothing when cleaning removed every record:
//!
//! 1. write `<group_start>.{log,index,timeindex}.cleaned`, fsync each;
//! 2. write the manifest `cleaner.swap` (group and new base, CRC) with
//!    [`crate::fs::write_atomic`] — **the commit point**;
//! 3. rename the old segments' files to `*.deleted`;
//! 4. rename `<group_start>.log.cleaned` to `<new_base>.log`, then the index
//!    files; fsync the directory;
//! 5. remove the manifest; fsync the directory.
//!
//! On open, [`recover`] finishes whatever a crash interrupted: with no (valid)
//! manifest the swap never committed and `*.cleaned` files are removed; with
//! one it rolls forward — step 3 again for what is left, then the renames.
//! Rolling forward is idempotent, so a crash while recovering is fine too.

use std::path::{Path, PathBuf};

use crate::checkpoint::{decode_fields, encode_fields};
use crate::error::{Error, Result};
use crate::fs::{FileSystem, OpenMode, read_up_to};
use crate::segment::file_name::{FileKind, file_path, parse_file_name};

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "cleaner.swap";
/// Suffix of files written by the cleaner before the swap.
pub const CLEANED_SUFFIX: &str = ".cleaned";
const MAGIC: &[u8; 4] = b"LSSW";
/// `new_base` when the group is replaced by nothing.
const NO_SEGMENT: u64 = u64::MAX;

const KINDS: [FileKind; 3] = [FileKind::Log, FileKind::Index, FileKind::TimeIndex];

/// One group swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manifest {
    /// Base of the first old segment (names the `.cleaned` files).
    pub group_start: u64,
    /// Base of the first segment after the group.
    pub group_end: u64,
    /// Base of the cleaned segment, `None` if nothing was left.
    pub new_base: Option<u64>,
}

/// Path of a cleaned file of the group starting at `base`.
#[must_use]
pub fn cleaned_path(dir: &Path, base: u64, kind: FileKind) -> PathBuf {
    let mut s = file_path(dir, base, kind).into_os_string();
    s.push(CLEANED_SUFFIX);
    PathBuf::from(s)
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(op, path, e)
}

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        encode_fields(
            MAGIC,
            &[
                self.group_start,
                self.group_end,
                self.new_base.unwrap_or(NO_SEGMENT),
            ],
        )
    }

    /// Step 2: makes the swap durable.
    ///
    /// # Errors
    /// I/O errors (nothing is committed then).
    pub fn commit(&self, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        crate::fs::write_atomic(fs, &path, &self.encode()).map_err(io("write", &path))
    }

    /// Steps 3 and 4 for whatever is not done yet, then step 5. Old segment
    /// files go to `*.deleted` (removed when no reader holds them, or at the
    /// next open) unless `remove_old`, which unlinks them (at open).
    ///
    /// # Errors
    /// I/O errors; running it again later finishes the job.
    pub fn roll_forward(&self, fs: &dyn FileSystem, dir: &Path, remove_old: bool) -> Result<()> {
        let cleaned_log = cleaned_path(dir, self.group_start, FileKind::Log);
        // Until the cleaned log is renamed, every file named in the group is
        // old; afterwards step 3 is complete.
        if self.new_base.is_none() || fs.exists(&cleaned_log) {
            self.retire_old(fs, dir, remove_old)?;
        }
        for kind in KINDS {
            let from = cleaned_path(dir, self.group_start, kind);
            if !fs.exists(&from) {
                continue;
            }
            match self.new_base {
                Some(new_base) => {
                    let to = file_path(dir, new_base, kind);
                    fs.rename(&from, &to).map_err(io("rename", &from))?;
                }
                // An empty cleaned file of a group that kept nothing.
                None => fs.remove_file(&from).map_err(io("remove", &from))?,
            }
        }
        fs.sync_dir(dir).map_err(io("fsync", dir))?;
        let manifest = dir.join(MANIFEST_FILE);
        fs.remove_file(&manifest).map_err(io("remove", &manifest))?;
        fs.sync_dir(dir).map_err(io("fsync", dir))
    }

    /// Step 3: every file of a segment with base in the group.
    fn retire_old(&self, fs: &dyn FileSystem, dir: &Path, remove_old: bool) -> Result<()> {
        for path in fs.read_dir(dir).map_err(io("list", dir))? {
            let Some((base, _)) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(parse_file_name)
            else {
                continue;
            };
            if !(self.group_start..self.group_end).contains(&base) {
                continue;
            }
            if remove_old {
                fs.remove_file(&path).map_err(io("remove", &path))?;
            } else {
                let mut to = path.clone().into_os_string();
                to.push(crate::segment::file_name::DELETED_SUFFIX);
                fs.rename(&path, Path::new(&to))
                    .map_err(io("rename", &path))?;
            }
        }
        Ok(())
    }

    /// Abandons a swap that has not committed: removes the cleaned files.
    pub fn abandon(fs: &dyn FileSystem, dir: &Path, group_start: u64) {
        for kind in KINDS {
            let _ = fs.remove_file(&cleaned_path(dir, group_start, kind));
        }
    }
}

fn read_manifest(fs: &dyn FileSystem, dir: &Path) -> Option<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let file = fs.open(&path, OpenMode::Read).ok()?;
    let mut buf = [0u8; 64];
    let n = read_up_to(file.as_ref(), &mut buf, 0).ok()?;
    match decode_fields::<3>(MAGIC, buf.get(..n).unwrap_or_default()) {
        Ok([group_start, group_end, new_base]) => Some(Manifest {
            group_start,
            group_end,
            new_base: (new_base != NO_SEGMENT).then_some(new_base),
        }),
        Err(e) => {
            // write_atomic never leaves a torn manifest: this is damage.
            tracing::warn!(path = %path.display(), error = %e, "damaged cleaner swap manifest; treating the swap as not committed");
            None
        }
    }
}

/// At open, before the segments are listed: finishes a committed swap, or
/// removes the leftovers of one that did not commit.
///
/// # Errors
/// I/O errors.
pub fn recover(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    match read_manifest(fs, dir) {
        Some(m) => {
            tracing::warn!(dir = %dir.display(), group_start = m.group_start, group_end = m.group_end, "finishing an interrupted cleaner swap");
            m.roll_forward(fs, dir, true)
        }
        None => {
            let manifest = dir.join(MANIFEST_FILE);
            if fs.exists(&manifest) {
                fs.remove_file(&manifest).map_err(io("remove", &manifest))?;
            }
            for path in fs.read_dir(dir).map_err(io("list", dir))? {
                if path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(CLEANED_SUFFIX))
                {
                    fs.remove_file(&path).map_err(io("remove", &path))?;
                }
            }
            Ok(())
        }
    }
}
