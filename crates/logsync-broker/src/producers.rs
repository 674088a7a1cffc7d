//! Idempotent producers: producer ids, and per partition the sequence state
//! that turns a retried batch into a duplicate answered with its original
//! offset, and a gap into `OUT_OF_ORDER_SEQUENCE_NUMBER`.
//!
//! Producer ids come from `<data-dir>/.producer-ids`, which holds the end of
//! the block of ids handed out (blocks of [`ID_BLOCK`], so a restart never
//! hands out an id twice and no request waits for an fsync per id). The
//! sequence state of a partition is rebuilt from its batch headers (producer
//! id, epoch, base sequence, last offset delta) the first time an idempotent
//! batch arrives after a restart, so it survives restarts with the log.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use logsync_storage::batch::{BatchHeader, split_batches};
use logsync_storage::fs::{FileSystem, OpenMode, StdFs, read_up_to, write_atomic};
use logsync_storage::{Log, Offset};

/// Ids reserved per write of `.producer-ids`.
pub const ID_BLOCK: i64 = 1000;
/// Batches remembered per producer for duplicate detection (Kafka's 5
/// in-flight requests per connection).
const REMEMBERED: usize = 5;
const FILE: &str = ".producer-ids";

/// Hands out producer ids.
#[derive(Debug)]
pub struct ProducerIds {
    path: PathBuf,
    /// (next id, end of the reserved block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Reads the reserved end from `data_dir` (0 when new).
    ///
    /// # Errors
    /// A file that exists but does not hold a number.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join(FILE);
        let end = match StdFs.open(&path, OpenMode::Read) {
            Ok(f) => {
                let mut buf = [0u8; 32];
                let n = read_up_to(f.as_ref(), &mut buf, 0)?;
                std::str::from_utf8(buf.get(..n).unwrap_or_default())
                    .ok()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .ok_or_else(|| {
                        std::io::Error::other(format!("{} does not hold a number", path.display()))
                    })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIds {
            path,
            state: Mutex::new((end, end)),
        })
    }

    /// A new producer id.
    ///
    /// # Errors
    /// Writing the next reserved block failed.
    pub fn allocate(&self) -> std::io::Result<i64> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.0 >= st.1 {
            let end = st.1 + ID_BLOCK;
            write_atomic(&StdFs, &self.path, format!("{end}\n").as_bytes())?;
            st.1 = end;
        }
        let id = st.0;
        st.0 += 1;
        Ok(id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
}

#[derive(Debug, Default)]
struct Producer {
    epoch: i16,
    recent: VecDeque<Sent>,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not idempotent, or the next in sequence: append it.
    Append,
    /// A retry of a batch already in the log at this offset: do not append.
    Duplicate {
        /// Where it went the first time.
        base_offset: i64,
    },
}

fn last_seq(h: &BatchHeader) -> i32 {
    h.base_sequence.wrapping_add(h.last_offset_delta)
}

/// The sequence state of one partition.
#[derive(Debug, Default)]
pub struct PartitionProducers {
    producers: HashMap<i64, Producer>,
}

impl PartitionProducers {
    /// Rebuilds the state from every batch header of `log`.
    ///
    /// # Errors
    /// Read errors or corruption.
    pub fn rebuild(log: &Log) -> logsync_storage::Result<Self> {
        let mut state = PartitionProducers::default();
        let mut next = log.log_start_offset();
        let end = log.log_end_offset();
        while next < end {
            let read = log.read(next, 4 << 20)?;
            if read.bytes.is_empty() {
                break;
            }
            let bytes: Bytes = read.bytes;
            let batches =
                split_batches(&bytes).map_err(|kind| logsync_storage::Error::Corrupt {
                    path: log.dir().to_path_buf(),
                    position: 0,
                    kind,
                })?;
            for b in &batches {
                let h = b.header();
                if h.producer_id >= 0 && !h.attributes.is_control() {
                    state.record(h, h.base_offset);
                }
            }
            next = read.next_offset;
        }
        Ok(state)
    }

    /// Judges an incoming batch (its header as the producer sent it).
    ///
    /// # Errors
    /// The Kafka error code: `INVALID_PRODUCER_EPOCH` for a fenced epoch,
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` for a gap or a sequence that does not
    /// start at 0 for a new producer or epoch.
    pub fn check(&self, h: &BatchHeader) -> Result<Verdict, ResponseError> {
        if h.producer_id < 0 {
            return Ok(Verdict::Append);
        }
        let Some(p) = self.producers.get(&h.producer_id) else {
            return if h.base_sequence == 0 {
                Ok(Verdict::Append)
            } else {
                Err(ResponseError::OutOfOrderSequenceNumber)
            };
        };
        if h.producer_epoch < p.epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if h.producer_epoch > p.epoch {
            return if h.base_sequence == 0 {
                Ok(Verdict::Append)
            } else {
                Err(ResponseError::OutOfOrderSequenceNumber)
            };
        }
        if let Some(sent) = p
            .recent
            .iter()
            .find(|s| s.first_seq == h.base_sequence && s.last_seq == last_seq(h))
        {
            return Ok(Verdict::Duplicate {
                base_offset: sent.base_offset,
            });
        }
        match p.recent.back() {
            Some(last) if last.last_seq.wrapping_add(1) == h.base_sequence => Ok(Verdict::Append),
            None if h.base_sequence == 0 => Ok(Verdict::Append),
            _ => Err(ResponseError::OutOfOrderSequenceNumber),
        }
    }

    /// Records a batch appended at `base_offset`.
    pub fn record(&mut self, h: &BatchHeader, base_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        let p = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != p.epoch {
            p.epoch = h.producer_epoch;
            p.recent.clear();
        }
        if p.recent.len() == REMEMBERED {
            p.recent.pop_front();
        }
        p.recent.push_back(Sent {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            base_offset,
        });
    }
}

/// Offsets of a partition's batches appended together: the first batch at
/// `base`, each next one after the previous one's last offset.
pub fn base_offsets(headers: &[BatchHeader], base: Offset) -> Vec<i64> {
    let mut next = base.0 as i64;
    headers
        .iter()
        .map(|h| {
            let at = next;
            next += i64::from(h.last_offset_delta) + 1;
            at
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: logsync_storage::batch::Attributes::default(),
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn sequences_detect_duplicates_gaps_and_fenced_epochs() {
        let mut s = PartitionProducers::default();
        assert_eq!(s.check(&batch(-1, -1, -1, 3)), Ok(Verdict::Append));
        assert_eq!(
            s.check(&batch(7, 0, 5, 1)),
            Err(ResponseError::OutOfOrderSequenceNumber),
            "a new producer starts at 0"
        );
        let first = batch(7, 0, 0, 3);
        assert_eq!(s.check(&first), Ok(Verdict::Append));
        s.record(&first, 100);
        assert_eq!(s.check(&first), Ok(Verdict::Duplicate { base_offset: 100 }));
        assert_eq!(
            s.check(&batch(7, 0, 4, 1)),
            Err(ResponseError::OutOfOrderSequenceNumber),
            "a gap"
        );
        let second = batch(7, 0, 3, 2);
        assert_eq!(s.check(&second), Ok(Verdict::Append));
        s.record(&second, 103);
        assert_eq!(s.check(&first), Ok(Verdict::Duplicate { base_offset: 100 }));
        // A new epoch starts over at 0 and fences the old one.
        let bumped = batch(7, 1, 0, 1);
        assert_eq!(s.check(&bumped), Ok(Verdict::Append));
        s.record(&bumped, 105);
        assert_eq!(
            s.check(&batch(7, 0, 5, 1)),
            Err(ResponseError::InvalidProducerEpoch)
        );
    }

    #[test]
    fn ids_are_never_handed_out_twice_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids = ProducerIds::open(dir.path()).expect("open");
        let a: Vec<i64> = (0..3).map(|_| ids.allocate().expect("id")).collect();
        assert_eq!(a, vec![0, 1, 2]);
        drop(ids);
        let ids = ProducerIds::open(dir.path()).expect("reopen");
        assert_eq!(ids.allocate().expect("id"), ID_BLOCK);
    }
}
