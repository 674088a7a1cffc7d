//! Segment file names, both directions: `<base offset, 20 digits>.<kind>`.

use std::path::{Path, PathBuf};

/// What a file in a partition directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `.log`: record batches.
    Log,
    /// `.index`: offset index.
    Index,
    /// `.timeindex`: time index.
    TimeIndex,
}

impl FileKind {
    /// The extension, without the dot.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Log => "log",
            FileKind::Index => "index",
            FileKind::TimeIndex => "timeindex",
        }
    }
}

/// Suffix added to files of a deleted segment until the last reader lets go.
pub const DELETED_SUFFIX: &str = ".deleted";

/// The name of a segment file: `00000000000000000042.log`.
#[must_use]
pub fn file_name(base_offset: u64, kind: FileKind) -> String {
    format!("{base_offset:020}.{}", kind.extension())
}

/// The path of a segment file in `dir`.
#[must_use]
pub fn file_path(dir: &Path, base_offset: u64, kind: FileKind) -> PathBuf {
    dir.join(file_name(base_offset, kind))
}

/// Parses a segment file name (without suffixes such as `.deleted`).
#[must_use]
pub fn parse_file_name(name: &str) -> Option<(u64, FileKind)> {
    let (digits, ext) = name.split_once('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = match ext {
        "log" => FileKind::Log,
        "index" => FileKind::Index,
        "timeindex" => FileKind::TimeIndex,
        _ => return None,
    };
    Some((digits.parse().ok()?, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            for base in [0, 42, u64::from(u32::MAX) + 7, 99_999_999_999_999_999] {
                assert_eq!(parse_file_name(&file_name(base, kind)), Some((base, kind)));
            }
        }
        assert_eq!(file_name(42, FileKind::Log), "00000000000000000042.log");
        assert_eq!(parse_file_name("00000000000000000042.log.deleted"), None);
        assert_eq!(parse_file_name("42.log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log"), None);
    }
}
