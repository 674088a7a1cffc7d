//! `logsync consume TOPIC`: prints records in offset order, partition by
//! partition, and exits at the end of the log unless `--follow`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use logsync_storage::{Log, LogManager, Offset, Record, TimestampMs};

use crate::Outcome;
use crate::cli::ConsumeArgs;

/// How often `--follow` looks for new records.
const POLL: Duration = Duration::from_millis(100);

/// One piece of a kcat-style output format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Offset,
    Key,
    Value,
    Timestamp,
    Partition,
    Topic,
    Headers,
    KeyLen,
    ValueLen,
}

/// Parses kcat's `-f` format: `%o %k %s %T %p %t %h %K %S %%` and the escapes
/// `\n \t \r \\`.
fn parse_format(f: &str) -> anyhow::Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        let piece = match c {
            '%' => match chars.next() {
                Some('o') => Piece::Offset,
                Some('k') => Piece::Key,
                Some('s') => Piece::Value,
                Some('T') => Piece::Timestamp,
                Some('p') => Piece::Partition,
                Some('t') => Piece::Topic,
                Some('h') => Piece::Headers,
                Some('K') => Piece::KeyLen,
                Some('S') => Piece::ValueLen,
                Some('%') => {
                    text.push(b'%');
                    continue;
                }
                other => anyhow::bail!(
                    "unknown format token %{} in {f:?}",
                    other.map(String::from).unwrap_or_default()
                ),
            },
            '\\' => {
                let e = match chars.next() {
                    Some('n') => b'\n',
                    Some('t') => b'\t',
                    Some('r') => b'\r',
                    Some('\\') => b'\\',
                    other => anyhow::bail!(
                        "unknown escape \\{} in {f:?}",
                        other.map(String::from).unwrap_or_default()
                    ),
                };
                text.push(e);
                continue;
            }
            c => {
                let mut buf = [0u8; 4];
                text.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
        };
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(piece);
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn render(out: &mut Vec<u8>, pieces: &[Piece], r: &Record, topic: &str, partition: u32) {
    for p in pieces {
        match p {
            Piece::Text(t) => out.extend_from_slice(t),
            Piece::Offset => out.extend_from_slice(r.offset.to_string().as_bytes()),
            Piece::Key => out.extend_from_slice(r.key.as_deref().unwrap_or_default()),
            Piece::Value => out.extend_from_slice(r.value.as_deref().unwrap_or_default()),
            Piece::Timestamp => out.extend_from_slice(r.timestamp.to_string().as_bytes()),
            Piece::Partition => out.extend_from_slice(partition.to_string().as_bytes()),
            Piece::Topic => out.extend_from_slice(topic.as_bytes()),
            Piece::KeyLen => out.extend_from_slice(
                r.key
                    .as_ref()
                    .map_or(-1, |k| k.len() as i64)
                    .to_string()
                    .as_bytes(),
            ),
            Piece::ValueLen => out.extend_from_slice(
                r.value
                    .as_ref()
                    .map_or(-1, |v| v.len() as i64)
                    .to_string()
                    .as_bytes(),
            ),
            Piece::Headers => {
                for (i, h) in r.headers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&h.key);
                    out.push(b'=');
                    out.extend_from_slice(h.value.as_deref().unwrap_or_default());
                }
            }
        }
    }
}

/// `--since`: RFC 3339 or epoch milliseconds.
fn parse_time(s: &str) -> anyhow::Result<TimestampMs> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Ok(TimestampMs(ms));
    }
    let ts: jiff::Timestamp = s
        .trim()
        .parse()
        .with_context(|| format!("invalid time {s:?}: expected RFC 3339 or epoch milliseconds"))?;
    Ok(TimestampMs(ts.as_millisecond()))
}

fn start_offset(
    log: &Log,
    args: &ConsumeArgs,
    since: Option<TimestampMs>,
) -> anyhow::Result<Offset> {
    if let Some(o) = args.offset {
        return Ok(Offset(o));
    }
    if let Some(t) = since {
        return Ok(log
            .offset_for_timestamp(t)?
            .unwrap_or_else(|| log.log_end_offset()));
    }
    Ok(log.log_start_offset())
}

pub fn run(data_dir: &Path, args: ConsumeArgs) -> anyhow::Result<Outcome> {
    let pieces = match (&args.format, &args.key_delimiter) {
        (Some(f), _) => parse_format(f)?,
        (None, Some(sep)) => vec![
            Piece::Key,
            Piece::Text(sep.as_bytes().to_vec()),
            Piece::Value,
            Piece::Text(b"\n".to_vec()),
        ],
        (None, None) => vec![Piece::Value, Piece::Text(b"\n".to_vec())],
    };
    let since = args.since.as_deref().map(parse_time).transpose()?;
    let manager = LogManager::new(data_dir);
    let info = manager.topic(&args.topic)?;
    let partitions: Vec<u32> = match args.partition {
        Some(p) if p >= info.partitions => {
            anyhow::bail!(
                "topic {:?} has no partition {p} (it has {})",
                info.name,
                info.partitions
            )
        }
        Some(p) => vec![p],
        None => (0..info.partitions).collect(),
    };
    let mut readers = Vec::new();
    for p in partitions {
        let log = manager.open_partition(&info.name, p)?;
        let from = start_offset(&log, &args, since)?;
        readers.push((p, log, from));
    }
    let mut left = args.count.unwrap_or(u64::MAX);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut line = Vec::new();
    loop {
        let mut printed_this_round = 0u64;
        for (p, log, from) in &mut readers {
            if left == 0 {
                break;
            }
            let mut records = log.records(*from, usize::try_from(left).unwrap_or(usize::MAX))?;
            for r in records.by_ref() {
                let r = r?;
                line.clear();
                render(&mut line, &pieces, &r, &info.name, *p);
                out.write_all(&line)?;
                left -= 1;
                printed_this_round += 1;
            }
            *from = records.position();
        }
        if !args.follow || left == 0 {
            break;
        }
        out.flush()?;
        if printed_this_round == 0 {
            std::thread::sleep(POLL);
        }
    }
    out.flush()?;
    for (_, log, _) in readers {
        log.close()?;
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn formats_render_like_kcat() {
        let pieces = parse_format("%t/%p@%o %k=%s (%K,%S) %% %h\\n").expect("format");
        let r = Record {
            offset: Offset(7),
            timestamp: TimestampMs(5),
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![logsync_storage::RecordHeader {
                key: Bytes::from_static(b"a"),
                value: Some(Bytes::from_static(b"1")),
            }],
        };
        let mut out = Vec::new();
        render(&mut out, &pieces, &r, "t", 2);
        assert_eq!(String::from_utf8_lossy(&out), "t/2@7 k= (1,-1) % a=1\n");
        assert!(parse_format("%x").is_err());
        assert!(parse_format("\\q").is_err());
    }

    #[test]
    fn times_parse_as_rfc3339_or_epoch_ms() {
        assert_eq!(
            parse_time("1700000000000").expect("ms"),
            TimestampMs(1_700_000_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").expect("rfc3339"),
            TimestampMs(1_700_000_000_000)
        );
        assert!(parse_time("yesterday").is_err());
    }
}
