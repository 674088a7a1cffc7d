//! The one error type of `logsync-kv`.

use std::path::PathBuf;

use logsync_storage::CorruptKind;

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Keys are at least one byte long.
    #[error("empty key: a key must be at least one byte")]
    EmptyKey,
    /// The record does not fit in one batch of the store's topic
    /// (`max.message.bytes`).
    #[error("record too large: {size} bytes, the topic's max.message.bytes is {max}")]
    RecordTooLarge {
        /// Bytes the record's batch would take.
        size: u64,
        /// The topic's limit.
        max: u64,
    },
    /// `ingest` needs a store whose topic compacts by timestamp.
    #[error(
        "topic {topic:?} compacts by offset; event-time ingest needs compaction.strategy=timestamp"
    )]
    NotEventTime {
        /// The store's topic.
        topic: String,
    },
    /// The topic exists but is not a compacted topic with one partition.
    #[error("topic {topic:?} cannot hold a key/value store: {reason}")]
    UnsuitableTopic {
        /// The topic.
        topic: String,
        /// Why (its cleanup policy or partition count).
        reason: String,
    },
    /// The record the index points at is not the key's record: the log was
    /// changed under the store, or the file is damaged.
    #[error("corrupt record for key at {path}:{position}: {kind}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the record.
        position: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// The store was closed.
    #[error("store is closed")]
    Closed,
    /// An I/O error outside the log (the index checkpoint).
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An error of the underlying log (disk full, poisoned after a failed
    /// fsync, locked by another process, I/O, corruption).
    #[error(transparent)]
    Storage(logsync_storage::Error),
}

impl From<logsync_storage::Error> for Error {
    fn from(e: logsync_storage::Error) -> Self {
        match e {
            logsync_storage::Error::RecordTooLarge { size, max } => {
                Error::RecordTooLarge { size, max }
            }
            logsync_storage::Error::Closed => Error::Closed,
            other => Error::Storage(other),
        }
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
