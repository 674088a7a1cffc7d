//! The one error type of `logsync-storage`.

use std::io;
use std::path::PathBuf;

use crate::offset::Offset;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the storage engine reports, each a case a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested offset lies outside `[log_start, log_end]`.
    #[error("offset {requested} is out of range: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange {
        /// Offset that was asked for.
        requested: Offset,
        /// First offset the log still holds.
        log_start: Offset,
        /// Offset the next append will get.
        log_end: Offset,
    },
    /// A batch (or record) is larger than the configured `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes = {max}")]
    RecordTooLarge {
        /// Size of the batch in bytes.
        size: u64,
        /// Configured limit.
        max: u64,
    },
    /// Bytes on disk (or handed in) that do not form a valid record batch.
    #[error("corrupt data in {} at byte {position}: {kind}", path.display())]
    Corrupt {
        /// File holding the bad bytes (empty for in-memory input).
        path: PathBuf,
        /// Byte position of the bad batch in that file.
        position: u64,
        /// What exactly is wrong.
        kind: CorruptKind,
    },
    /// A batch handed to `append` is not a valid record batch.
    #[error("invalid record batch: {0}")]
    InvalidBatch(CorruptKind),
    /// The file system is out of space (`ENOSPC`). Nothing half-written is visible.
    #[error("no space left on device while {op} {}", path.display())]
    DiskFull {
        /// Operation that failed.
        op: &'static str,
        /// File it was working on.
        path: PathBuf,
    },
    /// An earlier fsync failed: the log refuses writes until it is reopened,
    /// because the page cache may have dropped data it claimed was written.
    #[error("log {} is poisoned by an earlier failed fsync; reopen it", path.display())]
    Poisoned {
        /// Partition directory.
        path: PathBuf,
    },
    /// The log was closed.
    #[error("log is closed")]
    Closed,
    /// A `truncate_suffix` running while an append waited for its fsync cut
    /// the log below the append's end: the append is not acknowledged, and
    /// its records from `offset` on are gone (later appends may reuse those
    /// offsets).
    #[error("the append was removed by a concurrent truncate_suffix to offset {offset}")]
    Truncated {
        /// The log end the truncation cut to.
        offset: Offset,
    },
    /// A record without a key was appended to a compacted topic (Kafka's
    /// rule: compaction keeps the latest record of each key, so every record
    /// needs one).
    #[error(
        "{records} record(s) without a key: a topic with cleanup.policy={policy} needs a key on every record"
    )]
    MissingKey {
        /// How many records of the append had no key.
        records: u32,
        /// The topic's cleanup policy.
        policy: &'static str,
    },
    /// Another process holds the partition's lock file.
    #[error("{} is locked by another process (is a server or another command running on this data dir?)", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A configuration key or value is not valid.
    #[error("invalid config {key}={value}: {reason}")]
    InvalidConfig {
        /// The key as written (Kafka's name).
        key: String,
        /// The value as written.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A topic name that Kafka would refuse.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The topic does not exist.
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// The topic already exists.
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    /// The partition does not exist in the topic.
    #[error("topic {topic:?} has no partition {partition} (it has {partitions})")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Requested partition.
        partition: u32,
        /// Number of partitions.
        partitions: u32,
    },
    /// Any other I/O failure, with the operation and file.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`"open"`, `"fsync"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Wraps an I/O error, turning `ENOSPC` into [`Error::DiskFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull {
            Error::DiskFull { op, path }
        } else {
            Error::Io { op, path, source }
        }
    }
}

/// What is wrong with a corrupt batch or file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptKind {
    /// Fewer bytes than the structure needs.
    #[error("truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// Magic byte other than 2.
    #[error("unsupported magic {0} (only RecordBatch v2 is supported)")]
    BadMagic(i8),
    /// `batchLength` field out of bounds.
    #[error("bad batch length {0}")]
    BadLength(i64),
    /// CRC32C of the batch does not match its contents.
    #[error("crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A record inside the batch is malformed.
    #[error("bad record: {0}")]
    BadRecord(&'static str),
    /// Record count does not agree with the records present.
    #[error("record count {declared} does not match the {found} records present")]
    CountMismatch {
        /// Count in the header.
        declared: i64,
        /// Records found.
        found: i64,
    },
    /// Unknown compression codec.
    #[error("unknown compression codec {0}")]
    UnknownCompression(u8),
    /// Decompression failed or exceeded its size cap.
    #[error("decompression failed: {0}")]
    Decompress(String),
    /// A batch does not start after the previous one ended (or where its
    /// index entry or segment says).
    #[error("batch at offset {found} where offset {previous} was expected")]
    NonMonotonicOffset {
        /// The offset expected.
        previous: u64,
        /// Base offset found.
        found: u64,
    },
    /// A checkpoint or index file with bad contents.
    #[error("bad file contents: {0}")]
    BadFile(&'static str),
}

impl CorruptKind {
    pub(crate) fn truncated(needed: usize, available: usize) -> Self {
        CorruptKind::Truncated {
            needed: needed as u64,
            available: available as u64,
        }
    }
}
