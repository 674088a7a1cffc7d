//! The one error type of `logsync-ingest`.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the ingestion library reports, each a case a caller can act on.
///
/// A line that does not match its format is not an error: it is a
/// [`Malformed`](crate::Malformed) outcome of parsing, counted and kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A format string that cannot be compiled (bad syntax, too many fields, two
    /// fields with nothing between them, ...).
    #[error("invalid format string {format:?}: {reason}")]
    InvalidFormat {
        /// The format string as given.
        format: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--tz` names no zone of the bundled time zone database.
    #[error("unknown time zone {name:?}")]
    UnknownTimeZone {
        /// The name as given.
        name: String,
    },
    /// `--key-regex` does not compile.
    #[error("invalid key regex {pattern:?}: {source}")]
    InvalidKeyRegex {
        /// The pattern as given.
        pattern: String,
        /// Why it does not compile.
        source: regex::Error,
    },
    /// `--key-field` names a field the format does not have.
    #[error("the format has no field {name:?} (it has: {fields})")]
    UnknownField {
        /// The name as given.
        name: String,
        /// The fields the format has, comma-separated.
        fields: String,
    },
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`opening`, `reading`, `seeking in`).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}
