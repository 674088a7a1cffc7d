//! Integration tests of `logsync-kv`: the store API, a model-based test
//! with restarts and crashes, the index checkpoint and the event API.

mod checkpoint;
mod events;
mod model;
mod store;

use std::path::Path;
use std::sync::Arc;

use logsync_kv::{KvConfig, ManualClock, Mode, Store};
use logsync_storage::fs::FileSystem;
use logsync_storage::{
    CleanupPolicy, CompactionStrategy, FsyncPolicy, LogConfig, LogManager, TimestampMs,
};

/// Start of the injected clocks.
pub const T0: i64 = 1_700_000_000_000;

/// A config on an injected clock.
pub fn config(clock: &Arc<ManualClock>, mode: Mode) -> KvConfig {
    KvConfig {
        mode,
        clock: clock.clone(),
        checkpoint_min_records: 0,
        ..KvConfig::default()
    }
}

/// A manual clock at [`T0`].
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(TimestampMs(T0)))
}

/// Opens a store on `fs` with fsync per batch. The topic is created first
/// with small segments and small (preallocated) index files: the simulated
/// disk copies whole files at each fsync.
pub fn open_sim(fs: &Arc<dyn FileSystem>, dir: &Path, cfg: &KvConfig) -> Store {
    let manager = LogManager::with_fs(dir, Arc::clone(fs));
    if manager.topic(&cfg.topic).is_err() {
        let strategy = match cfg.mode {
            Mode::Arrival => CompactionStrategy::Offset,
            Mode::EventTime => CompactionStrategy::Timestamp,
        };
        manager
            .create_topic(
                &cfg.topic,
                1,
                LogConfig {
                    cleanup_policy: CleanupPolicy::Compact,
                    compaction_strategy: strategy,
                    segment_bytes: 2048,
                    segment_index_bytes: 1024,
                    index_interval_bytes: 256,
                    ..LogConfig::default()
                },
            )
            .expect("create topic");
    }
    let cfg = KvConfig {
        fsync: Some(FsyncPolicy::EveryBatch),
        ..cfg.clone()
    };
    Store::open_with(dir, cfg, Arc::clone(fs)).expect("open store")
}
