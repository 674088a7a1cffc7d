//! `logsync ingest FILE|- --format F --topic T`: raw log lines to keyed
//! records in a topic, with the event time as the record timestamp and the
//! structured record (JSON) as the value.
//!
//! One thread reads, parses (and mines) and encodes records into batches;
//! the calling thread appends them. They are joined by a bounded channel of
//! [`CHANNEL_BATCHES`] batches, so a slow disk slows the parser down instead
//! of buffering the input in memory. Malformed lines, and lines without a
//! key when the topic is compacted (the log refuses keyless records there),
//! go to the non-compacted topic `<topic>.malformed` with their raw bytes
//! and the headers `line` and `reason`. The statistics are printed at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use indicatif::ProgressBar;
use logsync_ingest::Stats;
use logsync_storage::batch::BATCH_HEADER_BYTES;
use logsync_storage::batch::records::RecordHeader;
use logsync_storage::maintenance::{Maintenance, Schedule};
use logsync_storage::{Log, LogManager, Record, TimestampMs, TopicInfo};

use super::{FormatArgs, Item, Setup, each_line, open_input};
use crate::Outcome;
use crate::cmd::partitioner::partition_for_key;
use crate::cmd::produce::topic_or_create;

/// Batches queued between the parser and the appender.
const CHANNEL_BATCHES: usize = 4;
/// Target encoded bytes per batch (also kept under `max.message.bytes`).
const BATCH_BYTES: usize = 900 * 1024;
/// Most records per batch.
const BATCH_RECORDS: usize = 10_000;
/// Encoding overhead of a record beside its key, value and headers (varints,
/// attributes, header count), an upper bound.
const RECORD_OVERHEAD: usize = 32;

/// `logsync ingest ...`
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The log file, or - for stdin.
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Topic to append to (created with one partition and the default config if missing;
    /// default: the file's name without extension).
    #[arg(long, short = 't')]
    pub topic: Option<String>,
    /// Print the final statistics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Produce through the Kafka protocol to a running broker (logsync
    /// serve or Kafka) instead of writing the data dir; malformed lines go
    /// to `<topic>.malformed` there too.
    #[arg(long, value_name = "HOST:PORT")]
    pub broker: Option<String>,
}

/// Records of one batch, by destination.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    malformed: Vec<Record>,
    bytes: usize,
    /// Input bytes consumed up to the end of this batch (for the progress bar).
    lines: u64,
}

/// What the parser thread hands back when it is done.
type Parsed = anyhow::Result<(Stats, Setup)>;

/// Runs `logsync ingest`.
pub fn ingest(data_dir: &Path, args: IngestArgs) -> anyhow::Result<Outcome> {
    let topic = match &args.topic {
        Some(t) => t.clone(),
        None => default_topic(&args.file)?,
    };
    let input = open_input(&args.file)?;
    let setup = Setup::new(&args.format, input.modified)?;
    let mut sink: Box<dyn Sink + '_> = match &args.broker {
        Some(addr) => Box::new(RemoteSink::open(addr, &topic)?),
        None => Box::new(LocalSink::open(data_dir, &topic)?),
    };
    let compacted = sink.compacted();
    let limit = BATCH_BYTES.min(sink.max_message_bytes().saturating_sub(BATCH_HEADER_BYTES));

    let (tx, rx) = sync_channel::<Batch>(CHANNEL_BATCHES);
    let reader = input.reader;
    let parser = std::thread::Builder::new()
        .name("ingest-parse".into())
        .spawn(move || parse_into_batches(reader, setup, compacted, limit, &tx))
        .context("starting the parser thread")?;

    let bar = crate::cmd::progress::file_bar(input.len);
    let started = Instant::now();
    let appended = run(sink.as_mut(), &rx, &bar, started);
    // On an append error the parser must not stay blocked on a full channel.
    drop(rx);
    let closed = sink.close();
    let parsed = parser
        .join()
        .map_err(|_| anyhow::anyhow!("the parser thread panicked"))?;
    bar.finish_and_clear();
    let (appended, malformed) = appended?;
    closed?;
    let (stats, setup) = parsed?;
    setup.save()?;
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        println!("{}", stats.to_json());
    } else {
        print!("{}", stats.table());
        println!(
            "appended         {appended} records to {topic} ({:.0} lines/s)",
            stats.read() as f64 / secs.max(1e-9)
        );
        if malformed > 0 {
            println!("kept aside       {malformed} records in {topic}.malformed");
        }
    }
    Ok(Outcome::Done)
}

/// `HDFS_2k` for `logs/HDFS_2k.log`.
fn default_topic(file: &Path) -> anyhow::Result<String> {
    if file == Path::new("-") {
        anyhow::bail!("--topic is required when reading stdin");
    }
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        anyhow::bail!("no topic name in {}: give --topic", file.display());
    }
    Ok(name)
}

/// The parser thread: lines to records, in batches.
fn parse_into_batches(
    mut reader: Box<dyn std::io::BufRead + Send>,
    mut setup: Setup,
    compacted: bool,
    limit: usize,
    tx: &SyncSender<Batch>,
) -> Parsed {
    let mut stats = Stats::default();
    let mut batch = Batch::default();
    let mut json = String::with_capacity(1024);
    let mut lines = 0u64;
    let now = TimestampMs::now();
    let result = each_line(&mut reader, &mut setup, &mut stats, |item| {
        lines += 1;
        let (record, aside) = match item {
            Item::Event(e, template) => {
                json.clear();
                e.write_json(&mut json, template);
                let ts = TimestampMs(e.ts_ms.unwrap_or(now.0));
                match e.key() {
                    None if compacted => (
                        aside_record(e.line, e.text.as_bytes(), "no compaction key", ts),
                        true,
                    ),
                    key => (
                        Record::new(key.map(str::as_bytes), json.as_bytes(), ts),
                        false,
                    ),
                }
            }
            Item::Malformed { line, raw, reason } => {
                (aside_record(line, raw, &reason.to_string(), now), true)
            }
        };
        let cost = record_cost(&record);
        if batch.bytes + cost > limit
            || batch.records.len() + batch.malformed.len() >= BATCH_RECORDS
        {
            send(tx, &mut batch)?;
        }
        batch.bytes += cost;
        batch.lines = lines;
        if aside {
            batch.malformed.push(record);
        } else {
            batch.records.push(record);
        }
        Ok(())
    });
    result?;
    if !batch.records.is_empty() || !batch.malformed.is_empty() {
        send(tx, &mut batch)?;
    }
    Ok((stats, setup))
}

fn send(tx: &SyncSender<Batch>, batch: &mut Batch) -> anyhow::Result<()> {
    let lines = batch.lines;
    let full = std::mem::take(batch);
    batch.lines = lines;
    tx.send(full)
        .map_err(|_| anyhow::anyhow!("the appender stopped"))
}

/// A line kept aside: raw bytes as the value, `line` and `reason` headers.
fn aside_record(line: u64, raw: &[u8], reason: &str, ts: TimestampMs) -> Record {
    Record {
        headers: vec![
            RecordHeader {
                key: Bytes::from_static(b"line"),
                value: Some(Bytes::from(line.to_string())),
            },
            RecordHeader {
                key: Bytes::from_static(b"reason"),
                value: Some(Bytes::copy_from_slice(reason.as_bytes())),
            },
        ],
        ..Record::new(None, raw, ts)
    }
}

fn record_cost(r: &Record) -> usize {
    RECORD_OVERHEAD
        + r.key.as_ref().map_or(0, Bytes::len)
        + r.value.as_ref().map_or(0, Bytes::len)
        + r.headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len) + 10)
            .sum::<usize>()
}

/// Where the records go: the data dir, or a broker.
trait Sink {
    /// Whether the topic is compacted (keyless lines then go aside).
    fn compacted(&self) -> bool;
    /// The topic's `max.message.bytes`.
    fn max_message_bytes(&self) -> usize;
    /// Appends records to the topic, each to its key's partition.
    fn append(&mut self, records: Vec<Record>) -> anyhow::Result<()>;
    /// Appends records to `<topic>.malformed`.
    fn append_aside(&mut self, records: Vec<Record>) -> anyhow::Result<()>;
    /// Makes everything durable and lets go of the topic.
    fn close(&mut self) -> anyhow::Result<()>;
}

/// Appends every batch; returns (records appended, records kept aside).
fn run(
    sink: &mut dyn Sink,
    rx: &Receiver<Batch>,
    bar: &ProgressBar,
    started: Instant,
) -> anyhow::Result<(u64, u64)> {
    let (mut appended, mut aside) = (0u64, 0u64);
    let mut shown = Instant::now();
    while let Ok(batch) = rx.recv() {
        appended += batch.records.len() as u64;
        aside += batch.malformed.len() as u64;
        sink.append(batch.records)?;
        if !batch.malformed.is_empty() {
            sink.append_aside(batch.malformed)?;
        }
        if shown.elapsed() >= Duration::from_millis(100) {
            shown = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{:.0} lines/s", batch.lines as f64 / secs));
        }
        bar.inc(0);
    }
    Ok((appended, aside))
}

/// Records of `partitions` partitions by their key's partition.
fn by_partition(records: Vec<Record>, partitions: u32) -> BTreeMap<u32, Vec<Record>> {
    let mut out: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
    if partitions <= 1 {
        out.insert(0, records);
    } else {
        for r in records {
            let p = r
                .key
                .as_deref()
                .map_or(0, |k| partition_for_key(k, partitions));
            out.entry(p).or_default().push(r);
        }
    }
    out
}

/// The data dir: partitions opened on first use, with a maintenance thread.
struct LocalSink {
    manager: LogManager,
    info: TopicInfo,
    logs: BTreeMap<u32, Arc<Log>>,
    malformed: Option<(TopicInfo, Arc<Log>)>,
    maintenance: Maintenance,
}

impl LocalSink {
    fn open(data_dir: &Path, topic: &str) -> anyhow::Result<LocalSink> {
        let manager = LogManager::new(data_dir);
        let info = topic_or_create(&manager, topic)?;
        Ok(LocalSink {
            manager,
            info,
            logs: BTreeMap::new(),
            malformed: None,
            maintenance: Maintenance::start(Schedule::default())?,
        })
    }

    fn malformed_log(&mut self) -> anyhow::Result<Arc<Log>> {
        if let Some((_, log)) = &self.malformed {
            return Ok(Arc::clone(log));
        }
        let name = format!("{}.malformed", self.info.name);
        let info = topic_or_create(&self.manager, &name)?;
        if info.config.cleanup_policy.compacts() {
            anyhow::bail!(
                "topic {name} is compacted: it would merge malformed lines; give it cleanup.policy=delete"
            );
        }
        let log = Arc::new(self.manager.open_partition(&name, 0)?);
        self.maintenance.add(Arc::clone(&log));
        self.malformed = Some((info, Arc::clone(&log)));
        Ok(log)
    }
}

impl Sink for LocalSink {
    fn compacted(&self) -> bool {
        self.info.config.cleanup_policy.compacts()
    }

    fn max_message_bytes(&self) -> usize {
        self.info.config.max_message_bytes as usize
    }

    fn append_aside(&mut self, records: Vec<Record>) -> anyhow::Result<()> {
        self.malformed_log()?.append_records(&records)?;
        Ok(())
    }

    fn append(&mut self, records: Vec<Record>) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        for (p, records) in by_partition(records, self.info.partitions) {
            let log = match self.logs.get(&p) {
                Some(log) => Arc::clone(log),
                None => {
                    let log = Arc::new(self.manager.open_partition(&self.info.name, p)?);
                    self.maintenance.add(Arc::clone(&log));
                    self.logs.insert(p, Arc::clone(&log));
                    log
                }
            };
            log.append_records(&records)?;
        }
        Ok(())
    }

    /// Flushes and closes every log opened; the first error is returned.
    fn close(&mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        let logs = std::mem::take(&mut self.logs)
            .into_iter()
            .map(|(p, l)| (format!("{} partition {p}", self.info.name), l))
            .chain(
                self.malformed
                    .take()
                    .map(|(i, l)| (format!("{} partition 0", i.name), l)),
            );
        for (what, log) in logs {
            if let Err(e) = log.flush().and_then(|()| log.close()) {
                result = result.and(Err(anyhow::Error::new(e).context(format!("closing {what}"))));
            }
        }
        result
    }
}

/// A running broker (logsync serve or Kafka), through the Kafka protocol:
/// one Produce (acks=all) per batch, a batch per partition.
struct RemoteSink {
    client: crate::client::Client,
    topic: String,
    partitions: u32,
    compacted: bool,
    max_message_bytes: usize,
    /// `<topic>.malformed`, once checked or created.
    aside: Option<String>,
}

/// The topic's `cleanup.policy` includes `compact`, and its `max.message.bytes`.
fn remote_config(client: &mut crate::client::Client, topic: &str) -> anyhow::Result<(bool, usize)> {
    let configs = crate::cmd::remote::describe_configs(client, topic)?;
    let value = |name: &str| {
        configs
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.value.clone())
    };
    let compacted =
        value("cleanup.policy").is_some_and(|p| p.split(',').any(|x| x.trim() == "compact"));
    let max = value("max.message.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20);
    Ok((compacted, max))
}

impl RemoteSink {
    fn open(addr: &str, topic: &str) -> anyhow::Result<RemoteSink> {
        let mut client = crate::client::Client::connect(addr)?;
        let partitions = crate::cmd::remote::partitions(&mut client, topic, true)?;
        let (compacted, max_message_bytes) = remote_config(&mut client, topic)?;
        Ok(RemoteSink {
            client,
            topic: topic.to_owned(),
            partitions,
            compacted,
            max_message_bytes,
            aside: None,
        })
    }
}

impl Sink for RemoteSink {
    fn compacted(&self) -> bool {
        self.compacted
    }

    fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    fn append(&mut self, records: Vec<Record>) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let batches = by_partition(records, self.partitions);
        crate::cmd::remote::produce(&mut self.client, &self.topic, batches)?;
        Ok(())
    }

    fn append_aside(&mut self, records: Vec<Record>) -> anyhow::Result<()> {
        let name = match &self.aside {
            Some(name) => name.clone(),
            None => {
                let name = format!("{}.malformed", self.topic);
                crate::cmd::remote::partitions(&mut self.client, &name, true)?;
                if remote_config(&mut self.client, &name)?.0 {
                    anyhow::bail!(
                        "topic {name} is compacted: it would merge malformed lines; give it cleanup.policy=delete"
                    );
                }
                self.aside = Some(name.clone());
                name
            }
        };
        crate::cmd::remote::produce(&mut self.client, &name, BTreeMap::from([(0, records)]))?;
        Ok(())
    }

    /// Every Produce was acknowledged with acks=all: nothing is pending.
    fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}
