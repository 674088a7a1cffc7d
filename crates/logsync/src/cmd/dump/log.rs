//! Dumping a `.log` segment in `kafka-dump-log`'s words: one line per batch,
//! with `--deep` one `| offset: ...` line per record.

use std::io::Write;
use std::path::Path;

use logsync_storage::batch::{
    self, BATCH_HEADER_BYTES, BatchHeader, Compression, DEFAULT_MAX_DECOMPRESSED_BYTES,
    RecordCursor, TimestampType,
};

use super::{Problems, Step, Walker};

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap to 0
/// after `i32::MAX`.
fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// `CreateTime` or `LogAppendTime`, as Kafka labels a batch's timestamps.
fn timestamp_label(h: &BatchHeader) -> &'static str {
    match h.attributes.timestamp_type() {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// Prints every batch of the `.log` file at `path`; returns what was wrong.
pub(super) fn dump(
    path: &Path,
    base: Option<u64>,
    deep: bool,
    out: &mut impl Write,
) -> anyhow::Result<Problems> {
    let mut walker = Walker::open(path, false)?;
    if let Some(base) = base {
        writeln!(out, "Log starting offset: {base}")?;
    }
    let mut problems = Problems::default();
    let (mut batches, mut records) = (0u64, 0u64);
    while let Some(step) = walker.next_step()? {
        match step {
            Step::End { position, problem } => {
                writeln!(out, "position: {position} error: {problem}")?;
                problems.add(position);
            }
            Step::Zeros { position, len } => writeln!(
                out,
                "position: {position} note: {len} bytes of zeros to the end of the file, not data \
                 (written ahead by a log that is open, or left by a crash)"
            )?,
            Step::Batch { position, bytes } => {
                batches += 1;
                let h = match batch::parse_header_complete(&bytes) {
                    Ok(h) => h,
                    Err(kind) => {
                        // The length field was sane, so the walk goes on.
                        writeln!(out, "position: {position} error: bad batch header: {kind}")?;
                        problems.add(position);
                        continue;
                    }
                };
                records += u64::try_from(h.records_count).unwrap_or(0);
                let crc = batch::verify_crc(&bytes, &h);
                print_batch(out, &h, position, crc.is_ok())?;
                let mut bad = false;
                if let Err(kind) = crc {
                    writeln!(out, "position: {position} error: {kind}")?;
                    bad = true;
                }
                // Records are printed even from a batch failing its CRC: that
                // is when one wants to see them.
                let records_ok = if deep {
                    print_records(out, &h, &bytes)?
                } else {
                    true
                };
                if !bad && records_ok {
                    // The whole batch: record count, lengths, offset deltas.
                    if let Err(kind) = batch::validate(&bytes, DEFAULT_MAX_DECOMPRESSED_BYTES) {
                        writeln!(out, "position: {position} error: {kind}")?;
                        bad = true;
                    }
                }
                if bad || !records_ok {
                    problems.add(position);
                }
            }
        }
    }
    writeln!(
        out,
        "{batches} batches, {records} records, {} invalid; walked {} of {} bytes",
        problems.count,
        walker.position(),
        walker.len()
    )?;
    Ok(problems)
}

fn print_batch(
    out: &mut impl Write,
    h: &BatchHeader,
    position: u64,
    valid: bool,
) -> std::io::Result<()> {
    let a = h.attributes;
    let last_sequence = if h.base_sequence < 0 {
        -1
    } else {
        increment_sequence(h.base_sequence, h.last_offset_delta)
    };
    let horizon = if a.has_delete_horizon() {
        format!("OptionalLong[{}]", h.base_timestamp)
    } else {
        "OptionalLong.empty".to_owned()
    };
    let codec = a.compression().map_or("unknown", Compression::name);
    writeln!(
        out,
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {last_sequence} \
         producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} \
         isControl: {} deleteHorizonMs: {horizon} position: {position} {}: {} size: {} \
         magic: {} compresscodec: {codec} crc: {} isvalid: {valid}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        h.base_sequence,
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        a.is_transactional(),
        a.is_control(),
        timestamp_label(h),
        h.max_timestamp,
        h.total_size(),
        h.magic,
        h.crc,
    )
}

/// Prints the records of one batch (`bytes` is the whole batch); returns
/// false if they could not all be read.
fn print_records(out: &mut impl Write, h: &BatchHeader, bytes: &[u8]) -> anyhow::Result<bool> {
    let raw = bytes.get(BATCH_HEADER_BYTES..).unwrap_or_default();
    let payload = match h
        .attributes
        .compression()
        .and_then(|codec| batch::decompress(codec, raw, DEFAULT_MAX_DECOMPRESSED_BYTES))
    {
        Ok(p) => p,
        Err(kind) => {
            writeln!(out, "| error: cannot read the records: {kind}")?;
            return Ok(false);
        }
    };
    let log_append_time =
        (h.attributes.timestamp_type() == TimestampType::LogAppendTime).then_some(h.max_timestamp);
    let mut cursor = RecordCursor::new(
        h.base_offset,
        h.base_timestamp,
        h.records_count,
        log_append_time,
    );
    let label = timestamp_label(h);
    while let Some(r) = cursor.next_record(&payload) {
        let r = match r {
            Ok(r) => r,
            Err(kind) => {
                writeln!(out, "| error: {kind}")?;
                return Ok(false);
            }
        };
        let delta = i32::try_from(r.offset.0.saturating_sub(h.base_offset as u64)).unwrap_or(0);
        let sequence = if h.base_sequence < 0 {
            -1
        } else {
            increment_sequence(h.base_sequence, delta)
        };
        let size = |b: Option<&[u8]>| b.map_or(-1, |b| b.len() as i64);
        let header_keys: Vec<String> = r
            .headers
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        write!(
            out,
            "| offset: {} {label}: {} keySize: {} valueSize: {} sequence: {sequence} headerKeys: [{}]",
            r.offset,
            r.timestamp,
            size(r.key),
            size(r.value),
            header_keys.join(","),
        )?;
        if h.attributes.is_control() {
            write!(out, " {}", control_record(r.key, r.value))?;
        } else {
            // As kafka-dump-log: a null key or value is left out.
            if let Some(k) = r.key {
                write!(out, " key: {}", String::from_utf8_lossy(k))?;
            }
            if let Some(v) = r.value {
                write!(out, " payload: {}", String::from_utf8_lossy(v))?;
            }
        }
        writeln!(out)?;
    }
    Ok(true)
}

/// A control record as Kafka describes it: the key holds a version and a
/// type (0 abort, 1 commit), an end-transaction marker's value a version
/// and the coordinator epoch.
fn control_record(key: Option<&[u8]>, value: Option<&[u8]>) -> String {
    let i16_at = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map(i16::from_be_bytes)
    };
    let kind = key.and_then(|k| i16_at(k, 2));
    let epoch = value
        .and_then(|v| v.get(2..6))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(i32::from_be_bytes);
    match (kind, epoch) {
        (Some(0), Some(e)) => format!("endTxnMarker: ABORT coordinatorEpoch: {e}"),
        (Some(1), Some(e)) => format!("endTxnMarker: COMMIT coordinatorEpoch: {e}"),
        (Some(t), _) => format!("controlType: {t}"),
        (None, _) => "controlType: unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_as_kafkas() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }

    #[test]
    fn control_records_are_named() {
        let commit_key = [0, 0, 0, 1];
        let value = [0, 0, 0, 0, 0, 7];
        assert_eq!(
            control_record(Some(&commit_key), Some(&value)),
            "endTxnMarker: COMMIT coordinatorEpoch: 7"
        );
        assert_eq!(control_record(Some(&[0, 0, 0, 9]), None), "controlType: 9");
        assert_eq!(control_record(None, None), "controlType: unknown");
    }
}
