//! `logsync-storage`: a crash-safe, segmented, append-only log in Kafka's
//! on-disk format.
//!
//! A partition is a directory of segments (`<base offset>.log` with sparse
//! `.index` and `.timeindex` files), each `.log` a sequence of Kafka
//! RecordBatch v2 batches, so Kafka's own tools can read the files. One writer
//! appends (with group commit when every batch is fsynced); any number of
//! readers read without waiting for it. Opening a log after a crash
//! re-validates what came after the last recovery point, cuts a torn tail and
//! rebuilds indexes; damage anywhere else is reported, never served.
//!
//! ```
//! use logsync_storage::{Log, LogConfig, Offset, Record, TimestampMs};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path().join("events-0"), LogConfig::default())?;
//! let info = log.append_records(&[Record::new(Some(b"k"), b"hello", TimestampMs(1_700_000_000_000))])?;
//! assert_eq!(info.base_offset, Offset(0));
//! let first = log.records(Offset(0), 10)?.next().transpose()?.expect("one record");
//! assert_eq!(first.value.as_deref(), Some(&b"hello"[..]));
//! log.close()?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod batch;
pub mod checkpoint;
pub mod cleaner;
pub mod config;
pub mod error;
pub mod fs;
pub mod index;
pub mod log;
pub mod maintenance;
pub mod manager;
pub mod offset;
pub mod segment;

pub use batch::{BatchSpec, Compression, Record, RecordHeader, TimestampType};
pub use cleaner::CleanReport;
pub use config::{CleanupPolicy, CompactionStrategy, FsyncPolicy, LogConfig};
pub use error::{CorruptKind, Error, Result};
pub use log::{AppendInfo, Log, LogStats, ReadResult, Records, RetentionReport};
pub use manager::{LogManager, TopicInfo};
pub use offset::{FilePosition, Offset, TimestampMs};
