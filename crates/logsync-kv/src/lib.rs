//! `logsync-kv`: a key/value store and event compactor whose data is a
//! compacted logsync topic (Bitcask over Kafka's log format).
//!
//! - **Data**: topic `kv` (by default) in the data directory, one partition,
//!   `cleanup.policy=compact`. A `set` is a record (key, value), a `delete`
//!   a tombstone (null value), so `logsync consume kv` shows the same
//!   records the store reads.
//! - **Keydir**: an in-memory hash index from each key to the file position
//!   and length of its visible record, so `get` is one lookup and one read
//!   of those bytes, through a read-only memory map of the segment (one
//!   `unsafe` module, `mmap.rs`; `pread` where mapping is not possible),
//!   checking that the record read is the key's. Memory per key: a 24-byte
//!   entry, 8 bytes of hash table per slot at a load of 3/8 to 3/4, the key
//!   and its length byte; +8 in event-time mode, +~24 for a key with a TTL.
//!   Measured by `logsync bench kv` on 10M keys of 16 bytes: ~57 bytes a
//!   key when opened from the checkpoint, ~82 while loading (vectors grow by
//!   doubling); see `keydir.rs`.
//! - **Checkpoint** (`kv.hint` in the partition directory, Bitcask's hint
//!   file): the keydir as of a log offset, CRC'd, written atomically
//!   (temporary file, fsync, rename, directory fsync) after compaction and
//!   on close (unless fewer than [`KvConfig::checkpoint_min_records`]
//!   records are new). Opening loads it and replays only the log after it;
//!   a missing, damaged or stale one (the log was compacted or cut since)
//!   means a rebuild from the whole log, with a warning.
//! - **Concurrency**: [`Store`] is `Send + Sync`; reads run in parallel
//!   under a read lock, writes are serialized and share fsyncs (group
//!   commit). Compaction blocks writes, not reads: readers keep the old
//!   keydir and the old segment files until the new keydir is swapped in.
//! - **TTL**: the expiry time rides in the record header
//!   [`EXPIRES_HEADER`] (`logsync.kv.expires_at_ms`, epoch milliseconds in
//!   ASCII digits). An expired key is invisible at once; [`Store::compact`]
//!   writes a tombstone for every expired key before cleaning, so the
//!   expired record is dropped like any overwritten one (the tombstone itself
//!   goes after the topic's `delete.retention.ms`, as in Kafka).
//! - **Event time** ([`Mode::EventTime`], `compaction.strategy=timestamp`):
//!   [`Store::ingest`] writes every event; the visible value of a key is the
//!   one with the greatest timestamp (ties by offset). A delete's tombstone
//!   takes the greater of now and the deleted value's timestamp, so it
//!   wins; it guards against older late events until the cleaner drops it
//!   (`delete.retention.ms`). [`Store::compact_view`] and [`Store::replay`]
//!   are the seed's event compactor.
//!
//! ```
//! use logsync_kv::{KvConfig, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), KvConfig::default())?;
//! store.set(b"45", b"hello")?;
//! assert_eq!(store.get(b"45")?.as_deref(), Some(&b"hello"[..]));
//! store.close()?;
//! let store = Store::open(dir.path(), KvConfig::default())?;
//! assert!(store.open_report().from_checkpoint);
//! assert_eq!(store.get(b"45")?.as_deref(), Some(&b"hello"[..]));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod compactor;
pub mod config;
pub mod error;
mod hint;
mod keydir;
mod mmap;
pub mod record;
mod store;

pub use config::{Clock, KvConfig, ManualClock, Mode, SystemClock};
pub use error::{Error, Result};
pub use hint::HINT_FILE;
pub use record::EXPIRES_HEADER;
pub use store::{CompactReport, IngestOutcome, OpenReport, Store, StoreStats, Ttl, WriteBatch};
