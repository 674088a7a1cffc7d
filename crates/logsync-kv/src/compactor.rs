//! The event compactor API (the reviewed seed's `ingest / compact / replay`)
//! on an event-time store ([`Mode::EventTime`]).
//!
//! Every event is written to the log, whatever its order. The visible
//! record of a key is the one with the greatest timestamp (ties: the later
//! offset), which is also what the topic's cleaner keeps
//! (`compaction.strategy=timestamp`), so the keydir and a compacted log
//! agree. A late event older than the visible one stays in the log (and in
//! `replay`) until compaction drops it.

use logsync_storage::{Offset, Record, TimestampMs};

use crate::config::Mode;
use crate::error::{Error, Result};
use crate::store::{IngestOutcome, Store};

impl Store {
    fn require_event_time(&self) -> Result<()> {
        if self.mode() != Mode::EventTime {
            return Err(Error::NotEventTime {
                topic: self.topic().to_owned(),
            });
        }
        Ok(())
    }

    /// Writes the event `key = value` with event time `timestamp`, durably
    /// (under the topic's fsync policy). It becomes the key's visible value
    /// unless the key already has a value with a greater timestamp.
    ///
    /// # Errors
    /// [`Error::NotEventTime`] on an arrival-order store, and as
    /// [`Store::set`].
    pub fn ingest(
        &self,
        key: &[u8],
        value: &[u8],
        timestamp: TimestampMs,
    ) -> Result<IngestOutcome> {
        self.require_event_time()?;
        let (offset, visible) = self.write_timestamped(key, Some(value), timestamp)?;
        Ok(IngestOutcome {
            offset: Offset(offset),
            visible,
        })
    }

    /// The visible record of every key (deleted keys left out), ordered by
    /// timestamp, then offset. Each record carries its key, value, offset
    /// and event timestamp.
    ///
    /// # Errors
    /// [`Error::NotEventTime`], and as [`Store::get`].
    pub fn compact_view(&self) -> Result<Vec<Record>> {
        self.require_event_time()?;
        let now = self.now().0;
        let inner = self.inner();
        let mut found: Vec<(i64, u64, Vec<u8>, crate::keydir::Entry)> = inner
            .keydir
            .iter()
            .filter(|(_, idx, e)| {
                !e.is_tombstone() && inner.keydir.expiry(*idx).is_none_or(|at| at > now)
            })
            .map(|(k, idx, e)| {
                let ts = inner.keydir.timestamp(idx).unwrap_or(i64::MIN);
                (ts, e.offset, k.to_vec(), e)
            })
            .collect();
        let segments = std::sync::Arc::clone(&inner.segments);
        drop(inner);
        found.sort_unstable_by_key(|&(ts, offset, _, _)| (ts, offset));
        found
            .into_iter()
            .map(|(ts, offset, key, entry)| {
                let mut r = self.read_entry(&segments, &key, entry)?;
                r.offset = Offset(offset);
                r.timestamp = TimestampMs(ts);
                Ok(r)
            })
            .collect()
    }

    /// Every record with timestamp >= `start`, in offset order (late events
    /// and tombstones included), read from where the log's time index says
    /// the first such record is; nothing before that point is read.
    ///
    /// The time index maps each timestamp to the first offset whose
    /// *greatest timestamp so far* reaches it, so every record before that
    /// offset is older than `start`; after it, older (late) records are
    /// skipped here.
    ///
    /// # Errors
    /// Storage errors; the iterator yields read errors.
    pub fn replay(&self, start: TimestampMs) -> Result<impl Iterator<Item = Result<Record>> + '_> {
        self.require_event_time()?;
        let from = self.log().offset_for_timestamp(start)?;
        let records = match from {
            Some(offset) => Some(self.log().records(offset, usize::MAX)?),
            None => None,
        };
        Ok(records.into_iter().flatten().filter_map(move |r| match r {
            Ok(r) if r.timestamp < start => None,
            Ok(r) => Some(Ok(r)),
            Err(e) => Some(Err(Error::from(e))),
        }))
    }

    /// Where [`Store::replay`] starts reading for `start` (for tests and
    /// diagnostics): `None` if no record is that recent.
    ///
    /// # Errors
    /// Storage errors.
    pub fn replay_start(&self, start: TimestampMs) -> Result<Option<Offset>> {
        Ok(self.log().offset_for_timestamp(start)?)
    }
}
