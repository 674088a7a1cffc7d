//! `logsync parse | stats | tail | ingest`: raw operational logs (crate
//! `logsync-ingest`). This file holds the arguments the commands share and
//! the loop that reads, parses and mines an input; each command has a file.

mod ingest;
mod parse;
mod stats;
mod tail;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use logsync_ingest::template::{Miner, MinerConfig};
use logsync_ingest::{
    Event, Format, KeyChoice, LineReader, Malformed, Parser, ParserConfig, Stats, Zone,
};

pub use ingest::{IngestArgs, ingest};
pub use parse::{ParseArgs, parse};
pub use stats::{StatsArgs, stats};
pub use tail::{TailArgs, tail};

/// Read buffer of an input.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// How lines are parsed (shared by parse, stats and ingest).
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Log format: a preset (hdfs, bgl, zookeeper, openssh, apache, spark) or a
    /// LogHub format string such as '<Date> <Time> <Level> <Component>: <Content>'.
    #[arg(long, short = 'F')]
    pub format: Option<String>,
    /// Time zone of zone-less timestamps (default UTC), e.g. America/Los_Angeles for BGL.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Year of year-less (syslog) timestamps (default: the file's modification year).
    #[arg(long)]
    pub year: Option<i32>,
    /// Compaction key: the first match of this regex in the message (its first group if it has one).
    #[arg(long, value_name = "REGEX", conflicts_with = "key_field")]
    pub key_regex: Option<String>,
    /// Compaction key: the value of this field (e.g. Pid).
    #[arg(long, value_name = "FIELD")]
    pub key_field: Option<String>,
    /// Mine templates: each record gets `template_id` and `template`.
    #[arg(long)]
    pub templates: bool,
    /// Load the template miner's state from FILE if it exists and save it there at the
    /// end, so template ids stay stable across runs (implies --templates).
    #[arg(long, value_name = "FILE")]
    pub template_state: Option<PathBuf>,
}

/// An opened input: a file or stdin.
pub(super) struct Input {
    /// Buffered bytes.
    pub reader: Box<dyn BufRead + Send>,
    /// The file's length (`None` for stdin).
    pub len: Option<u64>,
    /// The file's modification time (`None` for stdin).
    pub modified: Option<jiff::Timestamp>,
}

/// Opens `path`, or stdin for `-`.
pub(super) fn open_input(path: &Path) -> anyhow::Result<Input> {
    if path == Path::new("-") {
        return Ok(Input {
            reader: Box::new(BufReader::with_capacity(
                READ_BUFFER_BYTES,
                std::io::stdin(),
            )),
            len: None,
            modified: None,
        });
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("reading metadata of {}", path.display()))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok());
    Ok(Input {
        reader: Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)),
        len: Some(meta.len()),
        modified,
    })
}

/// The parser and, with `--templates`, the miner of one input.
pub(super) struct Setup {
    pub parser: Parser,
    pub miner: Option<Miner>,
    state: Option<PathBuf>,
}

impl Setup {
    /// Builds the parser (and miner) from the arguments.
    pub fn new(args: &FormatArgs, modified: Option<jiff::Timestamp>) -> anyhow::Result<Setup> {
        let Some(spec) = args.format.as_deref() else {
            anyhow::bail!(
                "--format is required: a preset (hdfs, bgl, zookeeper, openssh, apache, spark) or a format string"
            );
        };
        let format = Format::from_spec(spec)?;
        let zone = match &args.tz {
            Some(name) => Zone::named(name)?,
            None => Zone::Utc,
        };
        let key = match (&args.key_regex, &args.key_field) {
            (Some(r), _) => KeyChoice::Regex(r.clone()),
            (None, Some(f)) => KeyChoice::Field(f.clone()),
            (None, None) => KeyChoice::Default,
        };
        let miner = if args.templates || args.template_state.is_some() {
            Some(load_miner(&format, args.template_state.as_deref())?)
        } else {
            None
        };
        let parser = Parser::new(
            format,
            ParserConfig {
                zone,
                year: args.year,
                modified,
                key,
            },
        )?;
        Ok(Setup {
            parser,
            miner,
            state: args.template_state.clone(),
        })
    }

    /// Saves the miner's state if `--template-state` asked for it (written
    /// to a temporary file, then renamed over the old one).
    pub fn save(&self) -> anyhow::Result<()> {
        let (Some(miner), Some(path)) = (&self.miner, &self.state) else {
            return Ok(());
        };
        let tmp = path.with_extension("tmp");
        let mut file = std::io::BufWriter::new(
            File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        miner.save(&mut file)?;
        let file = file
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }
}

/// A miner for `format` (its preset's settings, else the defaults), loaded
/// from `state` when that file exists.
fn load_miner(format: &Format, state: Option<&Path>) -> anyhow::Result<Miner> {
    if let Some(path) = state {
        match File::open(path) {
            Ok(f) => {
                return Miner::load(&mut BufReader::new(f))
                    .with_context(|| format!("loading template state {}", path.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("opening {}", path.display())));
            }
        }
    }
    let config = MinerConfig::for_preset(&format.name).unwrap_or_default();
    Ok(Miner::new(config)?)
}

/// One line's outcome, as handed to the caller of [`each_line`].
pub(super) enum Item<'a> {
    /// A parsed line and its template.
    Event(&'a Event<'a>, Option<(u32, &'a str)>),
    /// A malformed line with its raw bytes.
    Malformed {
        line: u64,
        raw: &'a [u8],
        reason: &'a Malformed,
    },
}

/// Reads every line of `reader`, parses (and mines) it, counts it in
/// `stats` and hands it to `each`.
pub(super) fn each_line(
    reader: &mut dyn BufRead,
    setup: &mut Setup,
    stats: &mut Stats,
    mut each: impl FnMut(Item<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut lines = LineReader::new(reader);
    let Setup { parser, miner, .. } = setup;
    while let Some(raw) = lines.next_line().context("reading the input")? {
        let (text, lossy) = raw.text();
        let parsed = if raw.truncated {
            Err(Malformed::TooLong {
                limit: logsync_ingest::lines::DEFAULT_MAX_LINE_BYTES,
            })
        } else {
            parser.parse(raw.number, &text, lossy)
        };
        match parsed {
            Ok(event) => {
                let template = miner.as_mut().map(|m| {
                    let found = m.add(event.message());
                    (found.id, found.template)
                });
                stats.add_event(&event, template);
                each(Item::Event(&event, template))?;
            }
            Err(reason) => {
                stats.add_malformed(lossy);
                each(Item::Malformed {
                    line: raw.number,
                    raw: raw.bytes,
                    reason: &reason,
                })?;
            }
        }
    }
    Ok(())
}
