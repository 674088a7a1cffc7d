//! `logsync consume TOPIC`: prints records in offset order, partition after
//! partition, and exits at the end of the log (or after `--count`), unless
//! `--follow` keeps it polling for more.
//!
//! Opening a partition takes its lock, as every embedded command does: a
//! consumer cannot run beside a producer process on the same partition, and
//! says so (`Error::Locked`) instead of waiting.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use logsync_storage::maintenance::{Maintenance, Schedule};
use logsync_storage::{Error, Log, LogManager, Offset, TimestampMs};

use super::format::{Context, Format};
use crate::Outcome;
use crate::cli::ConsumeArgs;

/// How often `--follow` looks for new records.
const POLL: Duration = Duration::from_millis(100);
/// Output is flushed once this much is buffered (and at every pause).
const OUT_BUFFER_BYTES: usize = 64 * 1024;

/// Where each partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// The log start offset (the default, as kcat's).
    Beginning,
    /// This offset; outside `[log_start, log_end]` it is an error.
    Offset(u64),
    /// The first record at or after this time, or the end if none is.
    Since(TimestampMs),
}

/// Parses a time given on the command line or in input: epoch
/// milliseconds, or an RFC 3339 timestamp.
pub(super) fn parse_time(s: &str) -> anyhow::Result<TimestampMs> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Ok(TimestampMs(ms));
    }
    let ts: jiff::Timestamp = s.trim().parse().with_context(|| {
        format!(
            "invalid time {s:?}: expected RFC 3339 (e.g. 2024-01-02T03:04:05Z) or epoch milliseconds"
        )
    })?;
    Ok(TimestampMs(ts.as_millisecond()))
}

fn parse_since(s: &str) -> anyhow::Result<TimestampMs> {
    parse_time(s).context("--since")
}

/// `--broker`: the same reads through the Kafka protocol.
fn run_remote(addr: &str, args: &ConsumeArgs) -> anyhow::Result<Outcome> {
    use super::remote;
    let mut client = crate::client::Client::connect(addr)?;
    let count = remote::partitions(&mut client, &args.topic, false)?;
    let partitions: Vec<u32> = match args.partition {
        Some(p) if p >= count => {
            anyhow::bail!("topic {} has no partition {p} (it has {count})", args.topic)
        }
        Some(p) => vec![p],
        None => (0..count).collect(),
    };
    let format = match &args.format {
        Some(f) => Format::parse(f)?,
        None => Format::default_with_key(args.key_delimiter.as_deref()),
    };
    let mut printer = Printer {
        format,
        topic: &args.topic,
        buf: Vec::with_capacity(OUT_BUFFER_BYTES),
        out: std::io::stdout().lock(),
    };
    let mut next = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        let at = match (args.offset, &args.since) {
            (Some(o), _) => i64::try_from(o).context("--offset")?,
            (None, Some(s)) => remote::list_offset(&mut client, &args.topic, p, parse_since(s)?.0)?,
            (None, None) => remote::list_offset(&mut client, &args.topic, p, -2)?,
        };
        next.push((p, at));
    }
    let mut remaining = args.count.unwrap_or(u64::MAX);
    let wait = if args.follow {
        std::time::Duration::from_millis(500)
    } else {
        std::time::Duration::ZERO
    };
    loop {
        for (p, at) in &mut next {
            while remaining > 0 {
                let fetched = remote::fetch(&mut client, &args.topic, *p, *at, wait)?;
                for r in fetched
                    .records
                    .iter()
                    .take(usize::try_from(remaining).unwrap_or(usize::MAX))
                {
                    printer.print(r, *p)?;
                    remaining -= 1;
                    *at = r.offset.0 as i64 + 1;
                }
                if remaining > 0 {
                    *at = (*at).max(fetched.next);
                }
                if fetched.records.is_empty() || *at >= fetched.high_watermark {
                    break;
                }
            }
        }
        printer.flush()?;
        if remaining == 0 || !args.follow {
            break;
        }
    }
    Ok(Outcome::Done)
}

/// One partition being read.
struct Cursor {
    partition: u32,
    log: Arc<Log>,
    next: Offset,
}

impl Cursor {
    fn open(
        manager: &LogManager,
        topic: &str,
        partition: u32,
        start: Start,
    ) -> anyhow::Result<Self> {
        let log = Arc::new(manager.open_partition(topic, partition)?);
        let next = match start {
            Start::Beginning => log.log_start_offset(),
            Start::Offset(o) => {
                // Checked here, not by the first read: an offset past the end
                // would otherwise just print nothing.
                let (start, end) = (log.log_start_offset(), log.log_end_offset());
                if o < start.0 || o > end.0 {
                    let e = Error::OffsetOutOfRange {
                        requested: Offset(o),
                        log_start: start,
                        log_end: end,
                    };
                    return Err(anyhow::Error::new(e).context(format!("partition {partition}")));
                }
                Offset(o)
            }
            Start::Since(ts) => log
                .offset_for_timestamp(ts)?
                .unwrap_or_else(|| log.log_end_offset()),
        };
        Ok(Cursor {
            partition,
            log,
            next,
        })
    }

    /// Prints what the log holds from `self.next` on, at most `*remaining`
    /// records, and counts them off `remaining`.
    fn drain(&mut self, printer: &mut Printer<'_>, remaining: &mut u64) -> anyhow::Result<()> {
        if *remaining == 0 || self.next >= self.log.log_end_offset() {
            return Ok(());
        }
        let want = usize::try_from(*remaining).unwrap_or(usize::MAX);
        let mut records = self
            .log
            .records(self.next, want)
            .with_context(|| format!("partition {}", self.partition))?;
        for record in records.by_ref() {
            let record = record.with_context(|| format!("partition {}", self.partition))?;
            printer.print(&record, self.partition)?;
            *remaining -= 1;
        }
        self.next = records.position();
        Ok(())
    }
}

/// Renders records into a buffer and writes it to stdout in large pieces.
struct Printer<'a> {
    format: Format,
    topic: &'a str,
    buf: Vec<u8>,
    out: std::io::StdoutLock<'static>,
}

impl Printer<'_> {
    fn print(&mut self, record: &logsync_storage::Record, partition: u32) -> std::io::Result<()> {
        let ctx = Context {
            topic: self.topic,
            partition,
        };
        self.format.render(record, ctx, &mut self.buf);
        if self.buf.len() >= OUT_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

pub fn run(data_dir: &Path, args: ConsumeArgs) -> anyhow::Result<Outcome> {
    if let Some(addr) = &args.broker {
        return run_remote(addr, &args);
    }
    let manager = LogManager::new(data_dir);
    let info = manager.topic(&args.topic)?;
    let partitions = super::partitions(&info, args.partition)?;
    let format = match &args.format {
        Some(f) => Format::parse(f)?,
        None => Format::default_with_key(args.key_delimiter.as_deref()),
    };
    let start = match (args.offset, &args.since) {
        (Some(o), _) => Start::Offset(o),
        (None, Some(s)) => Start::Since(parse_since(s)?),
        (None, None) => Start::Beginning,
    };
    let mut printer = Printer {
        format,
        topic: &info.name,
        buf: Vec::with_capacity(OUT_BUFFER_BYTES),
        out: std::io::stdout().lock(),
    };
    let mut remaining = args.count.unwrap_or(u64::MAX);

    if !args.follow {
        // One partition open at a time: a topic with many partitions does
        // not hold every file of every partition open at once.
        for &p in &partitions {
            if remaining == 0 {
                break;
            }
            let mut cursor = Cursor::open(&manager, &info.name, p, start)?;
            cursor.drain(&mut printer, &mut remaining)?;
            cursor.log.close()?;
        }
        printer.flush()?;
        return Ok(Outcome::Done);
    }

    let mut cursors = partitions
        .iter()
        .map(|&p| Cursor::open(&manager, &info.name, p, start))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Following holds the partitions open: look after them meanwhile.
    let maintenance = Maintenance::start(Schedule::default())?;
    for cursor in &cursors {
        maintenance.add(Arc::clone(&cursor.log));
    }
    loop {
        for cursor in &mut cursors {
            cursor.drain(&mut printer, &mut remaining)?;
        }
        // Flushing at every pause also notices a closed pipe while idle.
        printer.flush()?;
        if remaining == 0 {
            break;
        }
        std::thread::sleep(POLL);
    }
    for cursor in cursors {
        cursor.log.close()?;
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_epoch_milliseconds_or_rfc_3339() {
        assert_eq!(parse_since("0").expect("ms"), TimestampMs(0));
        assert_eq!(
            parse_since("1700000000123").expect("ms"),
            TimestampMs(1_700_000_000_123)
        );
        assert_eq!(
            parse_since("2024-01-02T03:04:05Z").expect("rfc 3339"),
            TimestampMs(1_704_164_645_000)
        );
        assert_eq!(
            parse_since("2024-01-02T04:04:05.5+01:00").expect("rfc 3339"),
            TimestampMs(1_704_164_645_500)
        );
        let e = parse_since("yesterday").expect_err("not a time");
        assert!(format!("{e:#}").contains("RFC 3339"), "{e:#}");
    }
}
