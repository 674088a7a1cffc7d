//! `logsync parse FILE --format F [--json] [--templates]`: one record per
//! line on stdout; malformed lines on stderr with their line number and
//! reason, and a count at the end.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use logsync_ingest::Stats;

use super::{FormatArgs, Item, Setup, each_line, open_input};
use crate::Outcome;

/// `logsync parse ...`
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The log file, or - for stdin.
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// One JSON object per line (ts, ts_ms, level, component, pid/node, message, key,
    /// template_id/template, fields); malformed lines go to stderr as JSON too.
    #[arg(long)]
    pub json: bool,
}

/// Runs `logsync parse`.
pub fn parse(args: ParseArgs) -> anyhow::Result<Outcome> {
    let mut input = open_input(&args.file)?;
    let mut setup = Setup::new(&args.format, input.modified)?;
    let mut stats = Stats::default();
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let mut err = std::io::stderr().lock();
    let mut buf = String::with_capacity(1024);
    each_line(&mut input.reader, &mut setup, &mut stats, |item| {
        buf.clear();
        match item {
            Item::Event(e, template) => {
                if args.json {
                    e.write_json(&mut buf, template);
                } else {
                    text_line(&mut buf, e, template);
                }
                buf.push('\n');
                out.write_all(buf.as_bytes())?;
            }
            Item::Malformed { line, raw, reason } => {
                if args.json {
                    logsync_ingest::event::write_malformed_json(&mut buf, line, raw, reason);
                } else {
                    use std::fmt::Write as _;
                    let _ = write!(
                        buf,
                        "line {line}: malformed ({reason}): {}",
                        String::from_utf8_lossy(raw)
                    );
                }
                buf.push('\n');
                // Keep stdout and stderr in line order when both go to a terminal.
                out.flush()?;
                err.write_all(buf.as_bytes())?;
            }
        }
        Ok(())
    })?;
    out.flush()?;
    setup.save()?;
    if stats.malformed() > 0 {
        writeln!(
            err,
            "{} of {} lines malformed",
            stats.malformed(),
            stats.read()
        )?;
    }
    Ok(Outcome::Done)
}

/// `line  ts  level  key  [#template]  message`, tab-separated, `-` for a missing value.
fn text_line(buf: &mut String, e: &logsync_ingest::Event<'_>, template: Option<(u32, &str)>) {
    use std::fmt::Write as _;
    let _ = write!(buf, "{}\t", e.line);
    match e.ts_ms {
        Some(ms) => logsync_ingest::timestamp::write_iso(buf, ms, e.subsecond),
        None => buf.push('-'),
    }
    let _ = write!(
        buf,
        "\t{}\t{}\t",
        e.level().unwrap_or("-"),
        e.key().unwrap_or("-")
    );
    if let Some((id, _)) = template {
        let _ = write!(buf, "#{id}\t");
    }
    buf.push_str(e.message());
}
