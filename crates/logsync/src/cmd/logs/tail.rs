//! `logsync tail FILE [-n N] [-f]`: the last lines exactly as GNU `tail -n`
//! prints them (read backwards from the end), then, with `-f`, whatever is
//! appended, following the name across truncation and replacement.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use logsync_ingest::tail::{Change, Follower, write_last_lines};

use crate::Outcome;

/// Most bytes copied per poll, so one poll is bounded.
const POLL_BYTES: u64 = 1 << 20;

/// `logsync tail ...`
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The file.
    pub file: PathBuf,
    /// Print the last N lines.
    #[arg(short = 'n', long = "lines", default_value_t = 10)]
    pub lines: u64,
    /// Follow: print appended lines as they come, across truncation and rotation (until killed).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// How often to look for new data when following, in milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub poll_ms: u64,
}

/// Runs `logsync tail`.
pub fn tail(args: TailArgs) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let (end, _) = write_last_lines(&args.file, args.lines, &mut out)?;
    out.flush()?;
    if !args.follow {
        return Ok(Outcome::Done);
    }
    let mut follower = Follower::new(&args.file, end)?;
    let name = args.file.display();
    loop {
        let (copied, change) = follower.poll(&mut out, POLL_BYTES)?;
        match change {
            Change::None => {}
            Change::Truncated => eprintln!("logsync tail: {name}: file truncated"),
            Change::Replaced => {
                eprintln!("logsync tail: {name} has been replaced; following new file");
            }
        }
        out.flush()?;
        if copied < POLL_BYTES {
            std::thread::sleep(Duration::from_millis(args.poll_ms));
        }
    }
}
