//! Integration tests of `logsync-storage`: formats, the log API, recovery,
//! crash simulation and concurrency. One binary, one module per concern.

mod cleaner;
mod crash;
mod crosscheck;
mod format;
mod fuzz_corpus;
mod log_api;
mod recovery;
mod threads;
mod truncation;

use bytes::Bytes;
use logsync_storage::{FsyncPolicy, LogConfig, Record, TimestampMs};

/// Small segments and a dense index so tests exercise rolls and lookups.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        segment_index_bytes: 1024,
        fsync: FsyncPolicy::Never,
        ..LogConfig::default()
    }
}

/// The value written at logical step `i`: recognisable and of varying size.
pub fn value_for(i: u64) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.resize(10 + (i as usize * 37) % 150, b'a' + (i % 26) as u8);
    v
}

/// A record for step `i`, with a key and a timestamp increasing with `i`.
pub fn record(i: u64) -> Record {
    Record {
        timestamp: TimestampMs(1_700_000_000_000 + i as i64 * 10),
        key: Some(Bytes::from(format!("key-{}", i % 17))),
        value: Some(Bytes::from(value_for(i))),
        ..Record::default()
    }
}

/// Tiny segments, fsync per batch: the crash-simulation tests' config.
pub fn sim_config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 200,
        segment_index_bytes: 512,
        fsync: FsyncPolicy::EveryBatch,
        ..LogConfig::default()
    }
}

/// A keyless record whose value and timestamp come from `step`.
pub fn sim_record(step: u64) -> Record {
    Record::new(None, &value_for(step), TimestampMs(step as i64))
}
