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
}

/// Runs `logsync stats`.
pub fn stats(data_dir: &Path, args: StatsArgs) -> anyhow::Result<Outcome> {
    let stats = if args.file == Path::new("-") || args.file.exists() {
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
    let mut stats = Stats::default();
    let mut foreign = 0u64;
    each_record(&manager, &info.name, info.partitions, |value| {
        if !stats.add_json_record(value) {
            foreign += 1;
            stats.add_malformed(false);
        }
    })?;
    if foreign > 0 {
        eprintln!(
            "note: {foreign} records of {topic} were not written by logsync ingest (counted as malformed)"
        );
    }
    let aside = format!("{}.malformed", info.name);
    match manager.topic(&aside) {
        Ok(a) => each_record(&manager, &a.name, a.partitions, |_| {
            stats.add_malformed(false)
        })?,
        Err(Error::UnknownTopic(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(stats)
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
