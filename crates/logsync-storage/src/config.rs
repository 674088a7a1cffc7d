//! Per-log (per-topic) configuration, with Kafka's key names.

use crate::error::{Error, Result};

/// When appended data is forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `fdatasync` before an append returns; concurrent appenders share one
    /// call (group commit). The default.
    EveryBatch,
    /// At most this many milliseconds after an append (checked on append and
    /// by [`crate::Log::flush_if_due`]).
    IntervalMs(u64),
    /// Leave it to the OS. Data is in the page cache when an append returns,
    /// so it survives a process crash, but not a power loss.
    Never,
}

/// `cleanup.policy`: how old data leaves the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// `delete`: whole segments go by `retention.ms` / `retention.bytes`.
    Delete,
    /// `compact`: the cleaner keeps the latest record of every key.
    Compact,
    /// `compact,delete`: both.
    CompactDelete,
}

impl CleanupPolicy {
    /// Retention may delete segments.
    #[must_use]
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    /// The cleaner compacts by key (and records need a key).
    #[must_use]
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Kafka's spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
}

/// `compaction.strategy`: which record of a key is the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionStrategy {
    /// The greatest offset wins (arrival order, Kafka's rule).
    Offset,
    /// The greatest record timestamp wins, ties broken by offset (event time).
    Timestamp,
}

impl CompactionStrategy {
    /// The config value.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CompactionStrategy::Offset => "offset",
            CompactionStrategy::Timestamp => "timestamp",
        }
    }
}

/// Configuration of one log. Field docs give Kafka's key and the default.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll a new segment past this size. Default 1 GiB.
    pub segment_bytes: u32,
    /// `segment.ms`: roll when the records' timestamps in the active segment
    /// span more than this. Default 7 days.
    pub segment_ms: u64,
    /// `segment.index.bytes`: preallocated size of each index file; a segment
    /// rolls when its index is full. Default 10 MiB.
    pub segment_index_bytes: u32,
    /// `index.interval.bytes`: bytes of log between index entries. Default 4096.
    pub index_interval_bytes: u32,
    /// `segment.zero.ahead.bytes` (logsync's own): with `flush.policy`
    /// `every-batch`, the active segment's file is zero-filled this far
    /// ahead of its data, so that an fdatasync need not commit a change of
    /// the file's size (see `Segment::zero_ahead`); 0 turns it off.
    /// Default 1 MiB.
    pub zero_ahead_bytes: u32,
    /// `segment.preallocate.bytes` (logsync's own): disk blocks are
    /// reserved for the active segment this far ahead of its data, a step
    /// at a time, without changing the file's size (`fallocate`; see
    /// `Segment::preallocate`); given back when the segment rolls. 0 turns
    /// it off. Default 32 MiB (never more than `segment.bytes`).
    pub preallocate_bytes: u32,
    /// `max.message.bytes`: largest batch accepted. Default 1048588.
    pub max_message_bytes: u32,
    /// `flush.policy` (`every-batch`, `interval`, `never`) with `flush.ms` for
    /// `interval`. Default `every-batch`.
    pub fsync: FsyncPolicy,
    /// `max.decompressed.bytes`: cap on one batch's decompressed records when
    /// validating or iterating. Default 64 MiB.
    pub max_decompressed_bytes: u32,
    /// `cleanup.policy`: `delete`, `compact` or `compact,delete`. Default `delete`.
    pub cleanup_policy: CleanupPolicy,
    /// `retention.ms`: segments whose newest record is older than this are
    /// deleted; `-1` (`None`) keeps them. Default 7 days.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: oldest segments are deleted while the partition is
    /// larger; `-1` (`None`, the default) means no limit.
    pub retention_bytes: Option<u64>,
    /// `delete.retention.ms`: how long a tombstone stays after the cleaner
    /// first wrote it out. Default 1 day.
    pub delete_retention_ms: u64,
    /// `min.cleanable.dirty.ratio`: the cleaner runs when dirty bytes / all
    /// cleanable bytes reach this. Default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are not compacted. Default 0.
    pub min_compaction_lag_ms: u64,
    /// `max.compaction.lag.ms`: a dirty record older than this makes the log
    /// cleanable whatever its dirty ratio. Default unlimited.
    pub max_compaction_lag_ms: u64,
    /// `compaction.strategy`: `offset` (default) or `timestamp`.
    pub compaction_strategy: CompactionStrategy,
    /// `cleaner.dedupe.buffer.size`: memory for the cleaner's key map; when
    /// the dirty part has more keys, it is cleaned in several passes.
    /// Default 128 MiB.
    pub cleaner_dedupe_buffer_size: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 << 20,
            index_interval_bytes: 4096,
            zero_ahead_bytes: 1 << 20,
            preallocate_bytes: 32 << 20,
            max_message_bytes: 1_048_588,
            fsync: FsyncPolicy::EveryBatch,
            max_decompressed_bytes: 64 << 20,
            cleanup_policy: CleanupPolicy::Delete,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            delete_retention_ms: 24 * 3600 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX as u64,
            compaction_strategy: CompactionStrategy::Offset,
            cleaner_dedupe_buffer_size: 128 << 20,
        }
    }
}

/// Every key [`LogConfig::set`] accepts.
pub const CONFIG_KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "segment.index.bytes",
    "index.interval.bytes",
    "segment.zero.ahead.bytes",
    "segment.preallocate.bytes",
    "max.message.bytes",
    "flush.policy",
    "flush.ms",
    "max.decompressed.bytes",
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "compaction.strategy",
    "cleaner.dedupe.buffer.size",
];

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "not a valid number"))
}

/// A size or time where `-1` means "no limit".
fn limit(key: &str, value: &str) -> Result<Option<u64>> {
    match number::<i64>(key, value)? {
        -1 => Ok(None),
        v if v >= 0 => Ok(Some(v as u64)),
        _ => Err(invalid(key, value, "must be -1 (no limit) or at least 0")),
    }
}

fn limit_text(v: Option<u64>) -> String {
    v.map_or_else(|| "-1".to_owned(), |v| v.to_string())
}

impl LogConfig {
    /// Sets one key from its string form, as `--config key=value` gives it.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an unknown key or a bad value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // Apply to a copy: a rejected value must leave the config as it was.
        let mut next = self.clone();
        next.apply(key, value)?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "segment.bytes" => self.segment_bytes = number(key, value)?,
            "segment.ms" => self.segment_ms = number(key, value)?,
            "segment.index.bytes" => self.segment_index_bytes = number(key, value)?,
            "index.interval.bytes" => self.index_interval_bytes = number(key, value)?,
            "segment.zero.ahead.bytes" => self.zero_ahead_bytes = number(key, value)?,
            "segment.preallocate.bytes" => self.preallocate_bytes = number(key, value)?,
            "max.message.bytes" => self.max_message_bytes = number(key, value)?,
            "max.decompressed.bytes" => self.max_decompressed_bytes = number(key, value)?,
            "flush.policy" => {
                self.fsync = match value.trim() {
                    "every-batch" => FsyncPolicy::EveryBatch,
                    "never" => FsyncPolicy::Never,
                    "interval" => match self.fsync {
                        FsyncPolicy::IntervalMs(ms) => FsyncPolicy::IntervalMs(ms),
                        _ => FsyncPolicy::IntervalMs(1000),
                    },
                    _ => {
                        return Err(invalid(
                            key,
                            value,
                            "expected every-batch, interval or never",
                        ));
                    }
                }
            }
            "flush.ms" => self.fsync = FsyncPolicy::IntervalMs(number(key, value)?),
            "cleanup.policy" => {
                let mut parts: Vec<&str> = value.split(',').map(str::trim).collect();
                parts.sort_unstable();
                parts.dedup();
                self.cleanup_policy = match parts.as_slice() {
                    ["delete"] => CleanupPolicy::Delete,
                    ["compact"] => CleanupPolicy::Compact,
                    ["compact", "delete"] => CleanupPolicy::CompactDelete,
                    _ => {
                        return Err(invalid(
                            key,
                            value,
                            "expected delete, compact or compact,delete",
                        ));
                    }
                }
            }
            "retention.ms" => self.retention_ms = limit(key, value)?,
            "retention.bytes" => self.retention_bytes = limit(key, value)?,
            "delete.retention.ms" => self.delete_retention_ms = number(key, value)?,
            "min.cleanable.dirty.ratio" => {
                let r: f64 = number(key, value)?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(invalid(key, value, "must be between 0 and 1"));
                }
                self.min_cleanable_dirty_ratio = r;
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = number(key, value)?,
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = number(key, value)?,
            "compaction.strategy" => {
                self.compaction_strategy = match value.trim() {
                    "offset" => CompactionStrategy::Offset,
                    "timestamp" => CompactionStrategy::Timestamp,
                    _ => return Err(invalid(key, value, "expected offset or timestamp")),
                }
            }
            "cleaner.dedupe.buffer.size" => self.cleaner_dedupe_buffer_size = number(key, value)?,
            _ => {
                return Err(invalid(
                    key,
                    value,
                    format!("unknown config key (known: {})", CONFIG_KEYS.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// Checks that the values work together.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the offending key.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, key: &str, value: u64, reason: &str| {
            if ok {
                Ok(())
            } else {
                Err(invalid(key, &value.to_string(), reason))
            }
        };
        check(
            self.segment_bytes >= 1024,
            "segment.bytes",
            self.segment_bytes.into(),
            "must be at least 1024",
        )?;
        check(
            self.segment_bytes <= i32::MAX as u32,
            "segment.bytes",
            self.segment_bytes.into(),
            "must fit in 31 bits",
        )?;
        check(
            self.segment_ms >= 1,
            "segment.ms",
            self.segment_ms,
            "must be at least 1",
        )?;
        check(
            self.segment_index_bytes >= 64,
            "segment.index.bytes",
            self.segment_index_bytes.into(),
            "must be at least 64",
        )?;
        check(
            self.max_message_bytes >= 64,
            "max.message.bytes",
            self.max_message_bytes.into(),
            "must be at least 64",
        )?;
        check(
            self.max_decompressed_bytes >= 1024,
            "max.decompressed.bytes",
            self.max_decompressed_bytes.into(),
            "must be at least 1024",
        )?;
        // Index entries hold 32-bit positions: a segment may grow to
        // segment.bytes plus one batch.
        check(
            u64::from(self.segment_bytes) + u64::from(self.max_message_bytes)
                <= u64::from(u32::MAX),
            "max.message.bytes",
            self.max_message_bytes.into(),
            "segment.bytes + max.message.bytes must stay below 4 GiB",
        )?;
        if let FsyncPolicy::IntervalMs(ms) = self.fsync {
            check(ms >= 1, "flush.ms", ms, "must be at least 1")?;
        }
        check(
            self.cleaner_dedupe_buffer_size >= 4096,
            "cleaner.dedupe.buffer.size",
            self.cleaner_dedupe_buffer_size,
            "must be at least 4096",
        )?;
        check(
            self.max_compaction_lag_ms >= self.min_compaction_lag_ms,
            "max.compaction.lag.ms",
            self.max_compaction_lag_ms,
            "must be at least min.compaction.lag.ms",
        )?;
        Ok(())
    }

    /// The settings as `key=value` pairs, the form stored on disk.
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("segment.bytes", self.segment_bytes.to_string()),
            ("segment.ms", self.segment_ms.to_string()),
            ("segment.index.bytes", self.segment_index_bytes.to_string()),
            (
                "index.interval.bytes",
                self.index_interval_bytes.to_string(),
            ),
            (
                "segment.zero.ahead.bytes",
                self.zero_ahead_bytes.to_string(),
            ),
            (
                "segment.preallocate.bytes",
                self.preallocate_bytes.to_string(),
            ),
            ("max.message.bytes", self.max_message_bytes.to_string()),
            (
                "max.decompressed.bytes",
                self.max_decompressed_bytes.to_string(),
            ),
        ];
        pairs.extend([
            ("cleanup.policy", self.cleanup_policy.name().to_owned()),
            ("retention.ms", limit_text(self.retention_ms)),
            ("retention.bytes", limit_text(self.retention_bytes)),
            ("delete.retention.ms", self.delete_retention_ms.to_string()),
            (
                "min.cleanable.dirty.ratio",
                self.min_cleanable_dirty_ratio.to_string(),
            ),
            (
                "min.compaction.lag.ms",
                self.min_compaction_lag_ms.to_string(),
            ),
            (
                "max.compaction.lag.ms",
                self.max_compaction_lag_ms.to_string(),
            ),
            (
                "compaction.strategy",
                self.compaction_strategy.name().to_owned(),
            ),
            (
                "cleaner.dedupe.buffer.size",
                self.cleaner_dedupe_buffer_size.to_string(),
            ),
        ]);
        match self.fsync {
            FsyncPolicy::EveryBatch => pairs.push(("flush.policy", "every-batch".into())),
            FsyncPolicy::Never => pairs.push(("flush.policy", "never".into())),
            FsyncPolicy::IntervalMs(ms) => {
                pairs.push(("flush.policy", "interval".into()));
                pairs.push(("flush.ms", ms.to_string()));
            }
        }
        pairs
    }

    /// Parses Java-properties style text (`key=value` lines, `#` comments).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a line without `=`, an unknown key or a bad value.
    pub fn from_properties(text: &str) -> Result<Self> {
        let mut config = LogConfig::default();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| invalid(line, "", "expected key=value"))?;
            config.set(k.trim(), v.trim())?;
        }
        Ok(config)
    }

    /// The properties text that [`LogConfig::from_properties`] reads back.
    #[must_use]
    pub fn to_properties(&self) -> String {
        self.to_pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_round_trip() {
        let mut c = LogConfig::default();
        c.set("segment.bytes", "4096").expect("set");
        c.set("flush.ms", "250").expect("set");
        c.set("cleanup.policy", "delete,compact").expect("set");
        c.set("retention.bytes", "1000").expect("set");
        c.set("retention.ms", "-1").expect("set");
        c.set("min.cleanable.dirty.ratio", "0.25").expect("set");
        c.set("compaction.strategy", "timestamp").expect("set");
        assert_eq!(
            LogConfig::from_properties(&c.to_properties()).expect("parse"),
            c
        );
        assert_eq!(c.fsync, FsyncPolicy::IntervalMs(250));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let mut c = LogConfig::default();
        let e = c.set("segment.byte", "1").expect_err("unknown");
        assert!(e.to_string().contains("segment.byte"), "{e}");
        let e = c.set("segment.bytes", "12x").expect_err("bad number");
        assert!(e.to_string().contains("not a valid number"), "{e}");
        assert!(c.set("segment.bytes", "10").is_err());
        assert_eq!(
            c.segment_bytes,
            LogConfig::default().segment_bytes,
            "a rejected value is not kept"
        );
        assert!(c.set("flush.policy", "sometimes").is_err());
        assert!(c.set("cleanup.policy", "compact,shred").is_err());
        assert!(c.set("retention.ms", "-2").is_err());
        assert!(c.set("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(c.set("compaction.strategy", "newest").is_err());
    }
}
