//! How a store is opened: its topic, its mode and its clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use logsync_storage::{FsyncPolicy, TimestampMs};

/// Which record of a key is the visible one (and which one compaction keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The latest written (greatest offset), Kafka's rule; the topic uses
    /// `compaction.strategy=offset`. `set`/`delete` stores.
    Arrival,
    /// The greatest record timestamp, ties by offset; the topic uses
    /// `compaction.strategy=timestamp`. For [`crate::Store::ingest`]: a late
    /// event older than the current value is kept in the log but does not
    /// become visible.
    EventTime,
}

/// The time source for TTLs and record timestamps (tests inject one).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> TimestampMs;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> TimestampMs {
        TimestampMs::now()
    }
}

/// A clock that moves only when told to (for tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `start`.
    #[must_use]
    pub fn new(start: TimestampMs) -> Self {
        ManualClock(AtomicI64::new(start.0))
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::AcqRel);
    }

    /// Sets the clock.
    pub fn set(&self, now: TimestampMs) {
        self.0.store(now.0, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> TimestampMs {
        TimestampMs(self.0.load(Ordering::Acquire))
    }
}

/// Options of [`crate::Store::open`].
#[derive(Debug, Clone)]
pub struct KvConfig {
    /// The topic holding the store's records. Default `kv`.
    pub topic: String,
    /// The mode a new topic is created with (`compaction.strategy` follows
    /// from it). An existing topic keeps its own: [`crate::Store::mode`]
    /// tells which. Default [`Mode::Arrival`].
    pub mode: Mode,
    /// Overrides the topic's `flush.policy` for this process when set
    /// (the benchmarks write with [`FsyncPolicy::Never`]). Default `None`:
    /// the topic's own policy (`every-batch` unless configured otherwise).
    pub fsync: Option<FsyncPolicy>,
    /// Time source for TTLs and record timestamps. Default the system clock.
    pub clock: Arc<dyn Clock>,
    /// [`crate::Store::close`] rewrites the index checkpoint only when at
    /// least this many records were replayed at open or written since (0:
    /// always). Below it, the next open replays those few records instead,
    /// so that a one-key command on a large store does not rewrite the whole
    /// checkpoint. Compaction always writes it. Default 10 000.
    pub checkpoint_min_records: u64,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            topic: "kv".to_owned(),
            mode: Mode::Arrival,
            fsync: None,
            clock: Arc::new(SystemClock),
            checkpoint_min_records: 10_000,
        }
    }
}
