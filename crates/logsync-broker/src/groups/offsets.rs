//! Committed offsets: kept in memory for OffsetFetch, made durable as records
//! of the compacted internal topic `__consumer_offsets` (one partition), and
//! replayed from it when the broker starts.
//!
//! The records use Kafka's own layout of that topic, so Kafka's tools can
//! read ours (all integers big-endian, strings as `int16` length + UTF-8):
//!
//! ```text
//! key   (OffsetCommitKey v1)     value (OffsetCommitValue v3)
//! +---------+---------------+    +---------+----------+--------------+
//! | version | int16 = 1     |    | version | int16 = 3|              |
//! | group   | string        |    | offset  | int64    |              |
//! | topic   | string        |    | leader_epoch | int32 (-1 = none) |
//! | partition | int32       |    | metadata | string  |              |
//! +---------+---------------+    | commit_timestamp | int64 (ms)    |
//!                                +-------------------------------------+
//! ```
//!
//! Compaction keeps the latest commit of each (group, topic, partition);
//! a null value (tombstone) deletes one. Keys of version 2 are Kafka's group
//! metadata records: they are skipped on replay (this broker does not write
//! them: group membership is not persisted, as clients rejoin after a restart).
//! Values of versions 0–3 are read.
//!
//! Writes go through one async lock, so the order of records in the log is
//! the order in which the in-memory map changes: a replay rebuilds exactly
//! the map that was served.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use logsync_storage::{Error as StorageError, Offset, Record, TimestampMs};

use crate::broker::Broker;

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// `segment.bytes` of the offsets topic: small, so the cleaner has closed
/// segments to compact.
pub const OFFSETS_SEGMENT_BYTES: u32 = 16 << 20;

/// `offset.metadata.max.bytes`: the longest metadata string of a commit.
pub const MAX_METADATA_BYTES: usize = 4096;

const KEY_VERSION: i16 = 1;
const VALUE_VERSION: i16 = 3;

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset the group will consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata, at most [`MAX_METADATA_BYTES`].
    pub metadata: String,
    /// When the commit was made (ms since the epoch).
    pub commit_timestamp_ms: i64,
}

/// What a key of the offsets topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetKey {
    /// Group id.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

/// Why a record of the offsets topic could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffsetRecordError {
    /// A string longer than an `int16` length can say.
    #[error("{field} of {len} bytes is longer than {} bytes", i16::MAX)]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The record ends early or has bytes left over.
    #[error("{what} of {len} bytes is malformed")]
    Malformed {
        /// Key or value.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A version this broker does not know.
    #[error("{what} version {version} is unknown")]
    UnknownVersion {
        /// Key or value.
        what: &'static str,
        /// The version.
        version: i16,
    },
}

fn put_string(buf: &mut BytesMut, field: &'static str, s: &str) -> Result<(), OffsetRecordError> {
    let len = i16::try_from(s.len()).map_err(|_| OffsetRecordError::TooLong {
        field,
        len: s.len(),
    })?;
    buf.put_i16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

fn get_string(buf: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(buf.try_get_i16().ok()?).ok()?;
    let bytes = buf.get(..len)?;
    let s = std::str::from_utf8(bytes).ok()?.to_owned();
    buf.advance(len);
    Some(s)
}

/// Encodes the key of a commit.
///
/// # Errors
/// [`OffsetRecordError::TooLong`] for a group or topic over 32767 bytes.
pub fn encode_key(group: &str, topic: &str, partition: i32) -> Result<Bytes, OffsetRecordError> {
    let mut buf = BytesMut::with_capacity(2 + 2 + group.len() + 2 + topic.len() + 4);
    buf.put_i16(KEY_VERSION);
    put_string(&mut buf, "group id", group)?;
    put_string(&mut buf, "topic", topic)?;
    buf.put_i32(partition);
    Ok(buf.freeze())
}

/// Encodes the value of a commit.
///
/// # Errors
/// [`OffsetRecordError::TooLong`] for metadata over 32767 bytes.
pub fn encode_value(c: &CommittedOffset) -> Result<Bytes, OffsetRecordError> {
    let mut buf = BytesMut::with_capacity(2 + 8 + 4 + 2 + c.metadata.len() + 8);
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(c.offset);
    buf.put_i32(c.leader_epoch);
    put_string(&mut buf, "metadata", &c.metadata)?;
    buf.put_i64(c.commit_timestamp_ms);
    Ok(buf.freeze())
}

/// Decodes a key: `None` for a group metadata key (version 2), which this
/// broker skips.
///
/// # Errors
/// [`OffsetRecordError`] for a malformed key or an unknown version.
pub fn decode_key(bytes: &[u8]) -> Result<Option<OffsetKey>, OffsetRecordError> {
    let malformed = OffsetRecordError::Malformed {
        what: "key",
        len: bytes.len(),
    };
    let mut buf = bytes;
    let version = buf.try_get_i16().map_err(|_| malformed.clone())?;
    match version {
        0 | 1 => {}
        2 => return Ok(None),
        v => {
            return Err(OffsetRecordError::UnknownVersion {
                what: "key",
                version: v,
            });
        }
    }
    let key = (|| {
        let group = get_string(&mut buf)?;
        let topic = get_string(&mut buf)?;
        let partition = buf.try_get_i32().ok()?;
        buf.is_empty().then_some(OffsetKey {
            group,
            topic,
            partition,
        })
    })();
    key.map(Some).ok_or(malformed)
}

/// Decodes a value of version 0 to 3.
///
/// # Errors
/// [`OffsetRecordError`] for a malformed value or an unknown version.
pub fn decode_value(bytes: &[u8]) -> Result<CommittedOffset, OffsetRecordError> {
    let malformed = OffsetRecordError::Malformed {
        what: "value",
        len: bytes.len(),
    };
    let mut buf = bytes;
    let version = buf.try_get_i16().map_err(|_| malformed.clone())?;
    if !(0..=3).contains(&version) {
        return Err(OffsetRecordError::UnknownVersion {
            what: "value",
            version,
        });
    }
    let value = (|| {
        let offset = buf.try_get_i64().ok()?;
        let leader_epoch = if version >= 3 {
            buf.try_get_i32().ok()?
        } else {
            -1
        };
        let metadata = get_string(&mut buf)?;
        let commit_timestamp_ms = buf.try_get_i64().ok()?;
        if version == 1 {
            // v1 also carried an expire timestamp, which nothing uses now.
            buf.try_get_i64().ok()?;
        }
        buf.is_empty().then_some(CommittedOffset {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp_ms,
        })
    })();
    value.ok_or(malformed)
}

/// (topic, partition) -> committed offset.
pub type GroupOffsets = BTreeMap<(String, i32), CommittedOffset>;

/// The committed offsets of every group.
#[derive(Debug, Default)]
pub struct OffsetStore {
    committed: Mutex<BTreeMap<String, GroupOffsets>>,
    /// Held across append + map update, so that log order = map order.
    write: tokio::sync::Mutex<()>,
}

impl OffsetStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, GroupOffsets>> {
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates `__consumer_offsets` if missing (compacted, one partition) and
    /// replays it into memory. Blocking: call it off the async runtime.
    /// Returns the number of records replayed.
    ///
    /// # Errors
    /// The topic cannot be created or read.
    pub fn load(&self, broker: &Broker) -> Result<u64, StorageError> {
        if broker.topic(OFFSETS_TOPIC).is_none() {
            let mut config = broker.config.topic_defaults.clone();
            config.set("cleanup.policy", "compact")?;
            config.set("segment.bytes", &OFFSETS_SEGMENT_BYTES.to_string())?;
            match broker.create_topic(OFFSETS_TOPIC, 1, config) {
                Ok(_) | Err(StorageError::TopicExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let part = broker.partition(OFFSETS_TOPIC, 0)?;
        let log = &part.log;
        let mut replayed = 0u64;
        let mut skipped = 0u64;
        let mut map = self.map();
        for record in log.records(log.log_start_offset(), usize::MAX)? {
            let record = record?;
            replayed += 1;
            let Some(key) = record.key.as_deref() else {
                skipped += 1;
                continue;
            };
            let key = match decode_key(key) {
                Ok(Some(k)) => k,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(offset = record.offset.0, error = %e, "skipping a record of {OFFSETS_TOPIC}");
                    skipped += 1;
                    continue;
                }
            };
            match record.value.as_deref().map(decode_value) {
                None => remove(&mut map, &key),
                Some(Ok(value)) => {
                    map.entry(key.group)
                        .or_default()
                        .insert((key.topic, key.partition), value);
                }
                Some(Err(e)) => {
                    tracing::warn!(offset = record.offset.0, error = %e, "skipping a record of {OFFSETS_TOPIC}");
                    skipped += 1;
                }
            }
        }
        tracing::info!(
            records = replayed,
            skipped,
            groups = map.len(),
            "loaded committed offsets"
        );
        Ok(replayed)
    }

    /// Appends the commits of `group` as one batch and, once it is durable
    /// (under the topic's flush policy), makes them visible to [`Self::get`].
    ///
    /// # Errors
    /// The offsets topic cannot be reached or appended to; nothing changes then.
    pub async fn commit(
        &self,
        broker: &Broker,
        group: &str,
        commits: Vec<(OffsetKey, CommittedOffset)>,
    ) -> Result<(), CommitError> {
        if commits.is_empty() {
            return Ok(());
        }
        let mut records = Vec::with_capacity(commits.len());
        for (key, value) in &commits {
            records.push(Record {
                offset: Offset(0),
                timestamp: TimestampMs(value.commit_timestamp_ms),
                key: Some(encode_key(group, &key.topic, key.partition)?),
                value: Some(encode_value(value)?),
                headers: Vec::new(),
            });
        }
        let _serial = self.write.lock().await;
        let part = broker.partition(OFFSETS_TOPIC, 0)?;
        let log = Arc::clone(&part.log);
        tokio::task::spawn_blocking(move || log.append_records(&records))
            .await
            .map_err(|e| {
                StorageError::io("append to", part.log.dir(), std::io::Error::other(e))
            })??;
        let mut map = self.map();
        let offsets = map.entry(group.to_owned()).or_default();
        for (key, value) in commits {
            offsets.insert((key.topic, key.partition), value);
        }
        Ok(())
    }

    /// The committed offset of one partition.
    #[must_use]
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.map()
            .get(group)
            .and_then(|g| g.get(&(topic.to_owned(), partition)))
            .cloned()
    }

    /// Every committed offset of a group.
    #[must_use]
    pub fn group(&self, group: &str) -> GroupOffsets {
        self.map().get(group).cloned().unwrap_or_default()
    }

    /// Groups that have committed offsets.
    #[must_use]
    pub fn groups(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }
}

fn remove(map: &mut BTreeMap<String, GroupOffsets>, key: &OffsetKey) {
    if let Some(g) = map.get_mut(&key.group) {
        g.remove(&(key.topic.clone(), key.partition));
        if g.is_empty() {
            map.remove(&key.group);
        }
    }
}

/// Why a commit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// A field does not fit the record format.
    #[error(transparent)]
    Record(#[from] OffsetRecordError),
    /// The offsets topic could not be written.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(offset: i64, metadata: &str) -> CommittedOffset {
        CommittedOffset {
            offset,
            leader_epoch: 7,
            metadata: metadata.to_owned(),
            commit_timestamp_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn key_and_value_round_trip() {
        let key = encode_key("g", "topic-a", 3).expect("encodes");
        assert_eq!(
            decode_key(&key),
            Ok(Some(OffsetKey {
                group: "g".into(),
                topic: "topic-a".into(),
                partition: 3
            }))
        );
        let value = committed(42, "meta");
        assert_eq!(
            decode_value(&encode_value(&value).expect("encodes")),
            Ok(value)
        );
    }

    #[test]
    fn key_has_kafkas_layout() {
        let key = encode_key("g", "t", 1).expect("encodes");
        assert_eq!(&key[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 1]);
    }

    #[test]
    fn value_v1_with_expire_timestamp_decodes() {
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        buf.put_i64(10);
        buf.put_i16(0);
        buf.put_i64(5);
        buf.put_i64(6);
        let value = decode_value(&buf).expect("v1");
        assert_eq!(
            (value.offset, value.leader_epoch, value.commit_timestamp_ms),
            (10, -1, 5)
        );
    }

    #[test]
    fn group_metadata_keys_are_skipped_and_garbage_is_an_error() {
        assert_eq!(decode_key(&[0, 2, 0, 1, b'g']), Ok(None));
        assert!(matches!(
            decode_key(&[0, 9]),
            Err(OffsetRecordError::UnknownVersion { version: 9, .. })
        ));
        assert!(matches!(
            decode_key(&[0, 1, 0, 9, b'g']),
            Err(OffsetRecordError::Malformed { .. })
        ));
        assert!(matches!(
            decode_key(&[]),
            Err(OffsetRecordError::Malformed { .. })
        ));
        let mut long = encode_key("g", "t", 1).expect("encodes").to_vec();
        long.push(0);
        assert!(matches!(
            decode_key(&long),
            Err(OffsetRecordError::Malformed { .. })
        ));
        assert!(matches!(
            decode_value(&[0, 3, 1]),
            Err(OffsetRecordError::Malformed { .. })
        ));
    }

    #[test]
    fn strings_longer_than_int16_are_refused() {
        let long = "x".repeat(40_000);
        assert!(matches!(
            encode_key(&long, "t", 0),
            Err(OffsetRecordError::TooLong {
                field: "group id",
                ..
            })
        ));
    }

    proptest::proptest! {
        #[test]
        fn commits_round_trip_and_arbitrary_bytes_never_panic(
            group in "\\PC{0,40}",
            topic in "[a-zA-Z0-9._-]{1,40}",
            partition in proptest::prelude::any::<i32>(),
            offset in proptest::prelude::any::<i64>(),
            metadata in "\\PC{0,40}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let key = encode_key(&group, &topic, partition).expect("short strings encode");
            let want = OffsetKey { group, topic, partition };
            proptest::prop_assert_eq!(decode_key(&key), Ok(Some(want)));
            let value = CommittedOffset { offset, leader_epoch: -1, metadata, commit_timestamp_ms: 1 };
            let encoded = encode_value(&value).expect("short strings encode");
            proptest::prop_assert_eq!(decode_value(&encoded), Ok(value));
            // Garbage: an error or a value, never a panic.
            let _ = decode_key(&bytes);
            let _ = decode_value(&bytes);
        }
    }
}
