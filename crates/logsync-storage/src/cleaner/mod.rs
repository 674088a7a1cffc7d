//! Key compaction (`cleanup.policy=compact`): the pieces that do not need
//! the log's insides. The cleaning pass itself is `Log::clean` (in
//! `log/clean.rs`); docs/FORMAT.md describes the swap protocol with a crash
//! analysis per step.

pub mod map;
mod report;
pub mod swap;

pub use self::report::render_topic_clean;

use std::path::Path;
use std::time::Duration;

use crate::checkpoint::{decode_fields, encode_fields};
use crate::fs::{FileSystem, OpenMode, read_up_to};
use crate::offset::Offset;

/// What a clean did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CleanReport {
    /// Bytes of the whole log before.
    pub bytes_before: u64,
    /// Bytes of the whole log after.
    pub bytes_after: u64,
    /// Records in the segments that were cleaned, before.
    pub records_before: u64,
    /// Records in those segments after.
    pub records_after: u64,
    /// Segments of the whole log before.
    pub segments_before: usize,
    /// Segments of the whole log after.
    pub segments_after: usize,
    /// Distinct keys in the dirty part (summed over passes).
    pub keys: u64,
    /// Passes made (more than one when the key map's budget was too small
    /// for the dirty part).
    pub passes: u32,
    /// Tombstones dropped because their delete horizon had passed.
    pub tombstones_dropped: u64,
    /// Records without a key dropped (written before the topic was compacted).
    pub keyless_dropped: u64,
    /// Offset up to which the log is now clean (the cleaner checkpoint).
    pub cleaned_upto: Offset,
    /// Greatest memory the key map used, in bytes.
    pub map_bytes: u64,
    /// Wall time.
    pub duration: Duration,
}

impl CleanReport {
    /// Bytes freed.
    #[must_use]
    pub fn bytes_reclaimed(&self) -> u64 {
        self.bytes_before.saturating_sub(self.bytes_after)
    }
}

/// File holding the cleaner checkpoint ([`CleanerState`]).
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner.checkpoint";
const CHECKPOINT_MAGIC: &[u8; 4] = b"LSCC";

/// The cleaner's persistent state (`cleaner.checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanerState {
    /// First dirty offset: everything below was cleaned.
    pub first_dirty: u64,
    /// Earliest delete horizon of a tombstone kept by the last clean
    /// (`i64::MAX` if none): from then on a clean can drop it, even with
    /// nothing dirty.
    pub next_horizon: i64,
}

impl Default for CleanerState {
    fn default() -> Self {
        CleanerState {
            first_dirty: 0,
            next_horizon: i64::MAX,
        }
    }
}

impl CleanerState {
    /// Reads the checkpoint; everything dirty when missing or damaged.
    #[must_use]
    pub fn read(fs: &dyn FileSystem, dir: &Path) -> Self {
        let path = dir.join(CLEANER_CHECKPOINT_FILE);
        let Ok(file) = fs.open(&path, OpenMode::Read) else {
            return CleanerState::default();
        };
        let mut buf = [0u8; 64];
        let n = read_up_to(file.as_ref(), &mut buf, 0).unwrap_or(0);
        match decode_fields::<2>(CHECKPOINT_MAGIC, buf.get(..n).unwrap_or_default()) {
            Ok([first_dirty, horizon]) => CleanerState {
                first_dirty,
                next_horizon: horizon as i64,
            },
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "damaged cleaner checkpoint; the whole log counts as dirty");
                CleanerState {
                    first_dirty: 0,
                    next_horizon: i64::MIN,
                }
            }
        }
    }

    /// Writes the checkpoint atomically.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, fs: &dyn FileSystem, dir: &Path) -> std::io::Result<()> {
        crate::fs::write_atomic(
            fs,
            &dir.join(CLEANER_CHECKPOINT_FILE),
            &encode_fields(
                CHECKPOINT_MAGIC,
                &[self.first_dirty, self.next_horizon as u64],
            ),
        )
    }
}
