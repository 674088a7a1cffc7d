//! `logsync dump FILE`: prints a segment's batches (and with `--deep` its
//! records) like Kafka's `kafka-dump-log`, or an index's entries checked
//! against the segment's `.log`. Reads files only: no lock, works beside a
//! running writer. Any invalid batch or entry makes the exit status 2.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context as _;
use bytes::Bytes;
use logsync_storage::batch::{self, BATCH_HEADER_BYTES, Batch, BatchHeader};
use logsync_storage::index::{OffsetEntry, TimeEntry};
use logsync_storage::segment::file_name::{FileKind, file_path, parse_file_name};

use crate::Outcome;
use crate::cli::DumpArgs;

pub fn run(args: DumpArgs) -> anyhow::Result<Outcome> {
    let name = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let Some((base, kind)) = parse_file_name(name) else {
        anyhow::bail!(
            "{}: not a segment file (expected <20 digits>.log, .index or .timeindex)",
            args.file.display()
        );
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    writeln!(out, "Dumping {}", args.file.display())?;
    let invalid = match kind {
        FileKind::Log => dump_log(&args.file, args.deep, &mut out)?,
        FileKind::Index | FileKind::TimeIndex => dump_index(&args.file, base, kind, &mut out)?,
    };
    out.flush()?;
    if invalid > 0 {
        anyhow::bail!(
            "{invalid} invalid {} in {}",
            if kind == FileKind::Log {
                "batch(es)"
            } else {
                "entries"
            },
            args.file.display()
        );
    }
    Ok(Outcome::Done)
}

/// Every batch header of a `.log` file with its position, up to the first
/// unreadable one (headers only).
fn headers(path: &Path) -> anyhow::Result<Vec<(u64, BatchHeader)>> {
    let mut file = std::io::BufReader::new(
        std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?,
    );
    let mut out = Vec::new();
    let mut pos = 0u64;
    let mut head = [0u8; BATCH_HEADER_BYTES];
    while file.read_exact(&mut head).is_ok() {
        let Ok(h) = BatchHeader::parse(&head) else {
            break;
        };
        out.push((pos, h));
        let skip = h.total_size() - BATCH_HEADER_BYTES as u64;
        if std::io::copy(&mut (&mut file).take(skip), &mut std::io::sink())? != skip {
            break;
        }
        pos += h.total_size();
    }
    Ok(out)
}

fn dump_log(path: &Path, deep: bool, out: &mut impl Write) -> anyhow::Result<u64> {
    let mut file = std::io::BufReader::new(
        std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?,
    );
    let len = std::fs::metadata(path)?.len();
    let mut pos = 0u64;
    let mut invalid = 0u64;
    let mut batches = 0u64;
    while pos < len {
        let mut head = [0u8; BATCH_HEADER_BYTES];
        if let Err(e) = file.read_exact(&mut head) {
            writeln!(
                out,
                "position: {pos} truncated header ({} bytes left): {e}",
                len - pos
            )?;
            invalid += 1;
            break;
        }
        let h = match BatchHeader::parse(&head) {
            Ok(h) => h,
            Err(kind) => {
                writeln!(
                    out,
                    "position: {pos} invalid batch header: {kind}; cannot find the next batch"
                )?;
                invalid += 1;
                break;
            }
        };
        let total = h.total_size();
        if pos + total > len {
            writeln!(
                out,
                "position: {pos} truncated batch: needs {total} bytes, {} left",
                len - pos
            )?;
            invalid += 1;
            break;
        }
        let mut bytes = vec![0u8; total as usize];
        bytes[..BATCH_HEADER_BYTES].copy_from_slice(&head);
        file.read_exact(&mut bytes[BATCH_HEADER_BYTES..])?;
        let crc_ok = batch::verify_crc(&bytes, &h).is_ok();
        if !crc_ok {
            invalid += 1;
        }
        batches += 1;
        let a = h.attributes;
        let codec = a.compression().map_or("unknown", |c| c.name());
        let last_seq = if h.base_sequence < 0 {
            -1
        } else {
            h.base_sequence.wrapping_add(h.last_offset_delta)
        };
        let horizon = if a.has_delete_horizon() {
            format!("OptionalLong[{}]", h.base_timestamp)
        } else {
            "OptionalLong.empty".into()
        };
        let ts_type = if a.timestamp_type() == batch::TimestampType::LogAppendTime {
            "LogAppendTime"
        } else {
            "CreateTime"
        };
        writeln!(
            out,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {last_seq} producerId: {} producerEpoch: {} \
             partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {horizon} position: {pos} \
             {ts_type}: {} size: {total} magic: {} compresscodec: {codec} crc: {} isvalid: {crc_ok}",
            h.base_offset,
            h.last_offset(),
            h.records_count,
            h.base_sequence,
            h.producer_id,
            h.producer_epoch,
            h.partition_leader_epoch,
            a.is_transactional(),
            a.is_control(),
            h.max_timestamp,
            h.magic,
            h.crc,
        )?;
        if deep && crc_ok {
            dump_records(&Bytes::from(bytes), &h, ts_type, out)?;
        }
        pos += total;
    }
    writeln!(
        out,
        "{batches} batch(es), {invalid} invalid, {pos} of {len} bytes"
    )?;
    Ok(invalid)
}

fn dump_records(
    bytes: &Bytes,
    h: &BatchHeader,
    ts_type: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let b = Batch::parse(bytes).map_err(|k| anyhow::anyhow!("{k}"))?;
    let records = match b.records(batch::DEFAULT_MAX_DECOMPRESSED_BYTES) {
        Ok(r) => r,
        Err(k) => {
            writeln!(out, "| cannot read records: {k}")?;
            return Ok(());
        }
    };
    for (i, r) in records.enumerate() {
        match r {
            Ok(r) => {
                let seq = if h.base_sequence < 0 {
                    -1
                } else {
                    h.base_sequence.wrapping_add(i as i32)
                };
                let keys: Vec<String> = r
                    .headers
                    .iter()
                    .map(|x| String::from_utf8_lossy(&x.key).into_owned())
                    .collect();
                write!(
                    out,
                    "| offset: {} {ts_type}: {} keySize: {} valueSize: {} sequence: {seq} headerKeys: [{}]",
                    r.offset,
                    r.timestamp,
                    r.key.as_ref().map_or(-1, |k| k.len() as i64),
                    r.value.as_ref().map_or(-1, |v| v.len() as i64),
                    keys.join(","),
                )?;
                if let Some(k) = &r.key {
                    write!(out, " key: {}", String::from_utf8_lossy(k))?;
                }
                if let Some(v) = &r.value {
                    write!(out, " payload: {}", String::from_utf8_lossy(v))?;
                }
                writeln!(out)?;
            }
            Err(k) => writeln!(out, "| bad record: {k}")?,
        }
    }
    Ok(())
}

fn dump_index(path: &Path, base: u64, kind: FileKind, out: &mut impl Write) -> anyhow::Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let log_path = file_path(dir, base, FileKind::Log);
    let batches = headers(&log_path)?;
    let mut invalid = 0u64;
    let (entry_size, count) = match kind {
        FileKind::Index => (OFFSET_ENTRY, OffsetEntry::decode_all(&bytes).len()),
        _ => (TIME_ENTRY, TimeEntry::decode_all(&bytes).len()),
    };
    // A preallocated index (active segment) ends in zero entries.
    let zeros = bytes
        .chunks_exact(entry_size)
        .rev()
        .take_while(|c| c.iter().all(|&b| b == 0))
        .count();
    let real = count - zeros;
    if kind == FileKind::Index {
        for e in OffsetEntry::decode_all(&bytes).into_iter().take(real) {
            let offset = base + u64::from(e.relative_offset);
            let ok = batches
                .iter()
                .any(|(pos, h)| *pos == u64::from(e.position) && h.last_offset() == offset);
            writeln!(
                out,
                "offset: {offset} position: {}{}",
                e.position,
                if ok {
                    ""
                } else {
                    "  MISMATCH: no batch ending at that offset there"
                }
            )?;
            invalid += u64::from(!ok);
        }
    } else {
        for e in TimeEntry::decode_all(&bytes).into_iter().take(real) {
            let offset = base + u64::from(e.relative_offset);
            let ok = batches
                .iter()
                .any(|(_, h)| h.last_offset() == offset && h.max_timestamp == e.timestamp);
            writeln!(
                out,
                "timestamp: {} offset: {offset}{}",
                e.timestamp,
                if ok {
                    ""
                } else {
                    "  MISMATCH: no batch with that last offset and max timestamp"
                }
            )?;
            invalid += u64::from(!ok);
        }
    }
    if bytes.len() % entry_size != 0 {
        writeln!(
            out,
            "trailing {} bytes do not form an entry",
            bytes.len() % entry_size
        )?;
        invalid += 1;
    }
    writeln!(
        out,
        "{real} entries, {zeros} preallocated zero entries, {invalid} invalid (checked against {})",
        log_path.display()
    )?;
    Ok(invalid)
}

const OFFSET_ENTRY: usize = logsync_storage::index::OFFSET_ENTRY_BYTES;
const TIME_ENTRY: usize = logsync_storage::index::TIME_ENTRY_BYTES;
