//! `logsync stats FILE|TOPIC [--format F] [--json]`: statistics of a raw log
//! file (or stdin), or of a topic written by `logsync ingest` (when no file
//! of that name exists but such a topic does): counts, time span, events per
//! second, levels, components, templates, out-of-order stamps.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use logsync_ingest::Stats;
use logsync_storage::{Error, LogManager};

use super::{FormatArgs, Setup, each_line, open_input};
use crate::Outcome;

/// `logsync stats ...`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The log file, - for stdin, or a topic written by `logsync ingest`.
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Read TOPIC from a running broker (logsync serve or Kafka) through the
    /// Kafka protocol instead of the data dir.
    #[arg(long, value_name = "HOST:PORT")]
    pub broker: Option<String>,
}

/// Runs `logsync stats`.
pub fn stats(data_dir: &Path, args: StatsArgs) -> anyhow::Result<Outcome> {
    let stats = if let Some(addr) = &args.broker {
        of_remote_topic(addr, &args.file.to_string_lossy())?
    } else if args.file == Path::new("-") || args.file.exists() {
        of_file(&args)?
    } else {
        of_topic(data_dir, &args.file)?
    };
    if args.json {
        println!("{}", stats.to_json());
    } else {
        print!("{}", stats.table());
    }
    Ok(Outcome::Done)
}

fn of_file(args: &StatsArgs) -> anyhow::Result<Stats> {
    let mut input = open_input(&args.file)?;
    let mut setup = Setup::new(&args.format, input.modified)?;
    let mut stats = Stats::default();
    each_line(&mut input.reader, &mut setup, &mut stats, |_| Ok(()))?;
    setup.save()?;
    Ok(stats)
}

/// The records a topic holds now (after any compaction), in partition and
/// offset order, plus the lines of `<topic>.malformed` as malformed. A
/// record that `logsync ingest` did not write counts as malformed too.
fn of_topic(data_dir: &Path, name: &Path) -> anyhow::Result<Stats> {
    let topic = name.to_string_lossy();
    let manager = LogManager::new(data_dir);
    let info = match manager.topic(&topic) {
        Ok(info) => info,
        Err(Error::UnknownTopic(_) | Error::InvalidTopic { .. }) => {
            anyhow::bail!(
                "{topic}: no such file, and no such topic in {}",
                data_dir.display()
            )
        }
        Err(e) => return Err(e.into()),
    };
    let mut acc = TopicStats::default();
    each_record(&manager, &info.name, info.partitions, |v| acc.record(v))?;
    let aside = format!("{}.malformed", info.name);
    match manager.topic(&aside) {
        Ok(a) => each_record(&manager, &a.name, a.partitions, |_| acc.aside())?,
        Err(Error::UnknownTopic(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(acc.finish(&topic))
}

/// [`of_topic`] through the Kafka protocol.
fn of_remote_topic(addr: &str, topic: &str) -> anyhow::Result<Stats> {
    let mut client = crate::client::Client::connect(addr)?;
    let mut acc = TopicStats::default();
    each_remote_record(&mut client, topic, |v| acc.record(v))?;
    let aside = format!("{topic}.malformed");
    if crate::cmd::remote::list_topics(&mut client)?
        .iter()
        .any(|(name, _)| *name == aside)
    {
        each_remote_record(&mut client, &aside, |_| acc.aside())?;
    }
    Ok(acc.finish(topic))
}

/// Statistics of a topic's records as they are read.
#[derive(Default)]
struct TopicStats {
    stats: Stats,
    foreign: u64,
}

impl TopicStats {
    /// A record of the topic: an ingested JSON record, or foreign (malformed).
    fn record(&mut self, value: &[u8]) {
        if !self.stats.add_json_record(value) {
            self.foreign += 1;
            self.stats.add_malformed(false);
        }
    }

    /// A record of `<topic>.malformed`.
    fn aside(&mut self) {
        self.stats.add_malformed(false);
    }

    fn finish(self, topic: &str) -> Stats {
        if self.foreign > 0 {
            eprintln!(
                "note: {} records of {topic} were not written by logsync ingest (counted as malformed)",
                self.foreign
            );
        }
        self.stats
    }
}

/// Every record of `topic` on a broker, partition by partition, from the
/// log start offset to the high watermark as it stood when the partition's
/// read began.
fn each_remote_record(
    client: &mut crate::client::Client,
    topic: &str,
    mut f: impl FnMut(&[u8]),
) -> anyhow::Result<()> {
    use crate::cmd::remote;
    let partitions = remote::partitions(client, topic, false)?;
    for p in 0..partitions {
        let mut at = remote::list_offset(client, topic, p, -2)?;
        let end = remote::list_offset(client, topic, p, -1)?;
        while at < end {
            let fetched =
                remote::fetch(client, topic, p, at, std::time::Duration::from_millis(100))
                    .with_context(|| format!("reading {topic} partition {p}"))?;
            for r in fetched
                .records
                .iter()
                .take_while(|r| (r.offset.0 as i64) < end)
            {
                f(r.value.as_deref().unwrap_or_default());
            }
            if fetched.next <= at {
                break;
            }
            at = fetched.next;
        }
    }
    Ok(())
}

fn each_record(
    manager: &LogManager,
    topic: &str,
    partitions: u32,
    mut f: impl FnMut(&[u8]),
) -> anyhow::Result<()> {
    for p in 0..partitions {
        let log = manager.open_partition(topic, p)?;
        let records = log
            .records(log.log_start_offset(), usize::MAX)
            .with_context(|| format!("reading {topic} partition {p}"))?;
        for r in records {
            let r = r.with_context(|| format!("reading {topic} partition {p}"))?;
            f(r.value.as_deref().unwrap_or_default());
        }
        log.close()?;
    }
    Ok(())
}
