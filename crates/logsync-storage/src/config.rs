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

/// Configuration of one log. Field docs give Kafka's key and the default.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `max.message.bytes`: largest batch accepted. Default 1048588.
    pub max_message_bytes: u32,
    /// `flush.policy` (`every-batch`, `interval`, `never`) with `flush.ms` for
    /// `interval`. Default `every-batch`.
    pub fsync: FsyncPolicy,
    /// `max.decompressed.bytes`: cap on one batch's decompressed records when
    /// validating or iterating. Default 64 MiB.
    pub max_decompressed_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 << 20,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            fsync: FsyncPolicy::EveryBatch,
            max_decompressed_bytes: 64 << 20,
        }
    }
}

/// Every key [`LogConfig::set`] accepts.
pub const CONFIG_KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "segment.index.bytes",
    "index.interval.bytes",
    "max.message.bytes",
    "flush.policy",
    "flush.ms",
    "max.decompressed.bytes",
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
            ("max.message.bytes", self.max_message_bytes.to_string()),
            (
                "max.decompressed.bytes",
                self.max_decompressed_bytes.to_string(),
            ),
        ];
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
    }
}
