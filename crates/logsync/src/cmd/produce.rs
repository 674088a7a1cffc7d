//! `logsync produce TOPIC`: each line of stdin becomes a record.
//!
//! A reader thread feeds lines through a bounded channel; the appender blocks
//! for the first line, then takes whatever else is already waiting (up to a
//! batch limit) and appends it as one batch. So a slow pipe is durable line by
//! line, a fast one is batched, and nothing waits in user space for more input.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use anyhow::Context as _;
use logsync_storage::batch::BATCH_HEADER_BYTES;
use logsync_storage::maintenance::{Maintenance, Schedule};
use logsync_storage::{Error, Log, LogConfig, LogManager, Record, TimestampMs, TopicInfo};

use super::partitioner::partition_for_key;
use crate::Outcome;
use crate::cli::ProduceArgs;

/// Lines queued between the reader thread and the appender.
const CHANNEL_LINES: usize = 10_000;
/// Most records in one batch.
const BATCH_RECORDS: usize = 10_000;
/// Target bytes per batch (also kept under `max.message.bytes`).
const BATCH_BYTES: usize = 900 * 1024;
/// Upper bound on the encoding overhead of one record beside its key and
/// value: five varints of at most 5 bytes each, the attributes byte and the
/// header count.
const RECORD_OVERHEAD: usize = 32;

/// What the reader thread sends: a line without its `\n`, or why reading stopped.
type Line = anyhow::Result<Vec<u8>>;

/// Splits a line into key and value at the first `sep` (kcat's `-K`); a line
/// without `sep` has a null key.
fn split_line<'a>(line: &'a [u8], sep: Option<&[u8]>) -> (Option<&'a [u8]>, &'a [u8]) {
    let Some(sep) = sep.filter(|s| !s.is_empty()) else {
        return (None, line);
    };
    match line.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (line.get(..i), line.get(i + sep.len()..).unwrap_or_default()),
        None => (None, line),
    }
}

/// Splits the event time off the front of a line (`-T SEP`).
fn event_time<'a>(line: &'a [u8], sep: &[u8]) -> anyhow::Result<(TimestampMs, &'a [u8])> {
    let (Some(ts), rest) = split_line(line, Some(sep)) else {
        anyhow::bail!(
            "line {:?} has no timestamp delimiter {:?}",
            String::from_utf8_lossy(line.get(..line.len().min(80)).unwrap_or_default()),
            String::from_utf8_lossy(sep)
        );
    };
    let text = std::str::from_utf8(ts).map_err(|_| anyhow::anyhow!("timestamp is not UTF-8"))?;
    Ok((super::consume::parse_time(text)?, rest))
}

/// The topic, created with one partition and the default config if missing.
pub(super) fn topic_or_create(manager: &LogManager, name: &str) -> anyhow::Result<TopicInfo> {
    match manager.topic(name) {
        Ok(info) => Ok(info),
        Err(Error::UnknownTopic(_)) => match manager.create_topic(name, 1, LogConfig::default()) {
            Ok(info) => {
                eprintln!("note: created topic {name} with 1 partition and the default config");
                Ok(info)
            }
            // Another producer created it first.
            Err(Error::TopicExists(_)) => Ok(manager.topic(name)?),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Reads stdin line by line into `tx` until EOF, a read error, or the
/// receiver going away. A line is cut off at `max_line` bytes: such a line
/// cannot fit in any batch, so it is reported instead of buffered whole.
fn read_lines(tx: &mpsc::SyncSender<Line>, max_line: usize) {
    let mut stdin = std::io::stdin().lock();
    let mut number = 0u64;
    loop {
        number += 1;
        let mut line = Vec::new();
        let read = stdin
            .by_ref()
            .take(max_line as u64 + 1)
            .read_until(b'\n', &mut line);
        let item = match read {
            Ok(0) => return,
            Ok(_) if line.last() == Some(&b'\n') => {
                line.pop();
                Ok(line)
            }
            Ok(_) if line.len() > max_line => Err(anyhow::anyhow!(
                "line {number} of stdin is longer than max.message.bytes ({max_line} bytes)"
            )),
            // The last line, without a newline.
            Ok(_) => Ok(line),
            Err(e) => Err(anyhow::Error::new(e).context("reading stdin")),
        };
        let stop = item.is_err();
        if tx.send(item).is_err() || stop {
            return;
        }
    }
}

/// One batch's worth of lines: the first blocks, the rest are whatever is
/// already queued, within the limits. A line that would overflow `limit`
/// bytes is left in `carry` for the next batch. Returns `None` at EOF.
struct Batcher {
    rx: Receiver<Line>,
    carry: Option<Vec<u8>>,
    /// A read error seen while draining, reported after the batch is written.
    failed: Option<anyhow::Error>,
    limit: usize,
}

impl Batcher {
    /// Batches of stdin's lines, read by a thread of their own, each batch
    /// under `max_message` bytes (and [`BATCH_BYTES`]).
    fn from_stdin(max_message: usize) -> anyhow::Result<(Batcher, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::sync_channel::<Line>(CHANNEL_LINES);
        let reader = std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || read_lines(&tx, max_message))
            .context("starting the stdin reader thread")?;
        let batcher = Batcher {
            rx,
            carry: None,
            failed: None,
            limit: BATCH_BYTES.min(max_message.saturating_sub(BATCH_HEADER_BYTES)),
        };
        Ok((batcher, reader))
    }

    fn next_batch(&mut self) -> anyhow::Result<Option<Vec<Vec<u8>>>> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let first = match self.carry.take() {
            Some(line) => line,
            None => match self.rx.recv() {
                Ok(line) => line?,
                Err(_) => return Ok(None),
            },
        };
        let mut bytes = first.len() + RECORD_OVERHEAD;
        let mut lines = vec![first];
        while lines.len() < BATCH_RECORDS {
            match self.rx.try_recv() {
                Ok(Ok(line)) => {
                    let cost = line.len() + RECORD_OVERHEAD;
                    if bytes + cost > self.limit {
                        self.carry = Some(line);
                        break;
                    }
                    bytes += cost;
                    lines.push(line);
                }
                Ok(Err(e)) => {
                    self.failed = Some(e);
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        Ok(Some(lines))
    }
}

pub fn run(data_dir: &Path, args: ProduceArgs) -> anyhow::Result<Outcome> {
    if let Some(addr) = &args.broker {
        return run_remote(addr, &args);
    }
    let manager = LogManager::new(data_dir);
    let info = topic_or_create(&manager, &args.topic)?;
    if let Some(p) = args.partition.filter(|&p| p >= info.partitions) {
        return Err(Error::UnknownPartition {
            topic: info.name,
            partition: p,
            partitions: info.partitions,
        }
        .into());
    }
    let max_message = info.config.max_message_bytes as usize;
    let (mut batcher, reader) = Batcher::from_stdin(max_message)?;

    let mut logs: BTreeMap<u32, Arc<Log>> = BTreeMap::new();
    let maintenance = Maintenance::start(Schedule::default())?;
    let result = append_all(
        &manager,
        &info,
        &args,
        &mut batcher,
        &mut logs,
        &maintenance,
    );
    drop(maintenance);
    // Durable before exit 0 whatever the fsync policy; on the error path the
    // logs are still closed cleanly so the next open needs no recovery.
    let mut closed = Ok(());
    for (p, log) in logs {
        let r = log.flush().and_then(|()| log.close());
        if let Err(e) = r {
            let e = anyhow::Error::new(e).context(format!("closing partition {p}"));
            closed = closed.and(Err(e));
        }
    }
    let produced = result?;
    closed?;
    // Only now: on an error the reader may still be blocked on stdin, and the
    // process exits without it.
    drop(batcher);
    let _ = reader.join();
    tracing::info!(records = produced, topic = %info.name, "produced");
    Ok(Outcome::Done)
}

/// Splits one batch of lines into records by partition: key and value at
/// `-K`, event time at `-T`, keyed records by Kafka's partitioner, keyless
/// ones all to `keyless`.
fn route(
    lines: &[Vec<u8>],
    args: &ProduceArgs,
    partitions: u32,
    keyless: u32,
) -> anyhow::Result<BTreeMap<u32, Vec<Record>>> {
    let sep = args.key_delimiter.as_deref().map(str::as_bytes);
    let ts_sep = args.timestamp_delimiter.as_deref().map(str::as_bytes);
    let now = TimestampMs::now();
    let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
    for line in lines {
        let (timestamp, line) = match ts_sep {
            Some(ts_sep) => event_time(line, ts_sep)?,
            None => (now, &line[..]),
        };
        let (key, value) = split_line(line, sep);
        let p = match (args.partition, key) {
            (Some(p), _) => p,
            (None, Some(k)) => partition_for_key(k, partitions),
            (None, None) => keyless,
        };
        by_partition
            .entry(p)
            .or_default()
            .push(Record::new(key, value, timestamp));
    }
    Ok(by_partition)
}

/// A partition for the next batch's keyless records: they stay together,
/// the next batch goes to the next partition. Starts somewhere arbitrary, as
/// Kafka's sticky partitioner does: short runs that each write one batch
/// would otherwise all land on partition 0.
struct RoundRobin(u32);

impl RoundRobin {
    fn new() -> Self {
        RoundRobin(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        )
    }

    fn next(&mut self, args: &ProduceArgs, partitions: u32) -> u32 {
        let p = args.partition.unwrap_or(self.0 % partitions.max(1));
        self.0 = self.0.wrapping_add(1);
        p
    }
}

/// Appends batches until EOF; returns how many records it appended.
fn append_all(
    manager: &LogManager,
    info: &TopicInfo,
    args: &ProduceArgs,
    batcher: &mut Batcher,
    logs: &mut BTreeMap<u32, Arc<Log>>,
    maintenance: &Maintenance,
) -> anyhow::Result<u64> {
    let mut turn = RoundRobin::new();
    let mut produced = 0u64;
    while let Some(lines) = batcher.next_batch()? {
        let keyless = turn.next(args, info.partitions);
        for (p, records) in route(&lines, args, info.partitions, keyless)? {
            let log = match logs.entry(p) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let log = Arc::new(manager.open_partition(&info.name, p)?);
                    maintenance.add(Arc::clone(&log));
                    e.insert(log)
                }
            };
            log.append_records(&records)?;
            produced += records.len() as u64;
        }
    }
    Ok(produced)
}

/// `--broker`: the same batches, produced through the Kafka protocol.
fn run_remote(addr: &str, args: &ProduceArgs) -> anyhow::Result<Outcome> {
    let mut client = crate::client::Client::connect(addr)?;
    let partitions = super::remote::partitions(&mut client, &args.topic, true)?;
    if let Some(p) = args.partition.filter(|&p| p >= partitions) {
        anyhow::bail!(
            "topic {} has no partition {p} (it has {partitions})",
            args.topic
        );
    }
    // Kafka's default message.max.bytes (1 MB) bounds a batch here.
    let (mut batcher, _reader) = Batcher::from_stdin(1_000_000)?;
    let mut turn = RoundRobin::new();
    let mut produced = 0;
    while let Some(lines) = batcher.next_batch()? {
        let keyless = turn.next(args, partitions);
        let by_partition = route(&lines, args, partitions, keyless)?;
        produced += super::remote::produce(&mut client, &args.topic, by_partition)?;
    }
    tracing::info!(records = produced, topic = %args.topic, broker = addr, "produced");
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_the_first_separator() {
        assert_eq!(
            split_line(b"k:v:w", Some(b":")),
            (Some(&b"k"[..]), &b"v:w"[..])
        );
        assert_eq!(split_line(b"novalue", Some(b":")), (None, &b"novalue"[..]));
        assert_eq!(
            split_line(b"a::b", Some(b"::")),
            (Some(&b"a"[..]), &b"b"[..])
        );
        assert_eq!(split_line(b":v", Some(b":")), (Some(&b""[..]), &b"v"[..]));
        assert_eq!(split_line(b"x", None), (None, &b"x"[..]));
        assert_eq!(split_line(b"x:y", Some(b"")), (None, &b"x:y"[..]));
    }

    #[test]
    fn event_times_come_off_the_front_of_the_line() {
        let (ts, rest) = event_time(b"1700000000000|k:v", b"|").expect("ms");
        assert_eq!((ts, rest), (TimestampMs(1_700_000_000_000), &b"k:v"[..]));
        let (ts, rest) = event_time(b"2024-01-02T03:04:05Z\tv", b"\t").expect("rfc 3339");
        assert_eq!((ts, rest), (TimestampMs(1_704_164_645_000), &b"v"[..]));
        assert!(event_time(b"no delimiter", b"|").is_err());
        assert!(event_time(b"yesterday|v", b"|").is_err());
    }

    #[test]
    fn a_batch_takes_what_is_queued_and_carries_what_does_not_fit() {
        let (tx, rx) = mpsc::sync_channel::<Line>(16);
        for line in [&b"aaaa"[..], b"bbbb", b"cccc"] {
            tx.send(Ok(line.to_vec())).expect("send");
        }
        drop(tx);
        let mut b = Batcher {
            rx,
            carry: None,
            failed: None,
            limit: 2 * (4 + RECORD_OVERHEAD),
        };
        assert_eq!(
            b.next_batch().expect("ok"),
            Some(vec![b"aaaa".to_vec(), b"bbbb".to_vec()])
        );
        assert_eq!(b.next_batch().expect("ok"), Some(vec![b"cccc".to_vec()]));
        assert_eq!(b.next_batch().expect("ok"), None);
    }

    #[test]
    fn a_read_error_comes_after_the_lines_before_it() {
        let (tx, rx) = mpsc::sync_channel::<Line>(16);
        tx.send(Ok(b"a".to_vec())).expect("send");
        tx.send(Err(anyhow::anyhow!("boom"))).expect("send");
        let mut b = Batcher {
            rx,
            carry: None,
            failed: None,
            limit: 1 << 20,
        };
        assert_eq!(b.next_batch().expect("ok"), Some(vec![b"a".to_vec()]));
        assert!(b.next_batch().is_err());
    }
}
