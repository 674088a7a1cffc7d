//! `logsync stats FILE [--format F] [--json]`: statistics of a raw log file
//! (or stdin): counts, time span, events per second, levels, components,
//! templates, out-of-order stamps.

use std::path::{Path, PathBuf};

use clap::Args;
use logsync_ingest::Stats;

use super::{FormatArgs, Setup, each_line, open_input};
use crate::Outcome;

/// `logsync stats ...`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The log file, or - for stdin.
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `logsync stats`.
pub fn stats(_data_dir: &Path, args: StatsArgs) -> anyhow::Result<Outcome> {
    let mut input = open_input(&args.file)?;
    let mut setup = Setup::new(&args.format, input.modified)?;
    let mut stats = Stats::default();
    each_line(&mut input.reader, &mut setup, &mut stats, |_| Ok(()))?;
    setup.save()?;
    if args.json {
        println!("{}", stats.to_json());
    } else {
        print!("{}", stats.table());
    }
    Ok(Outcome::Done)
}
