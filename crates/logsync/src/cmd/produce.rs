//! `logsync produce TOPIC`: each line of stdin becomes a record.
//!
//! A reader thread feeds lines through a bounded channel; the appender blocks
//! for the first line, then takes whatever else is already waiting (up to a
//! batch limit) and appends it as one batch. So a slow pipe is durable line by
//! line, a fast one is batched, and nothing waits in user space after EOF.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::mpsc;

use logsync_storage::batch::BATCH_HEADER_BYTES;
use logsync_storage::{Error, Log, LogConfig, LogManager, Record, TimestampMs};

use crate::Outcome;
use crate::cli::ProduceArgs;

/// Lines queued between the reader thread and the appender.
const CHANNEL_LINES: usize = 10_000;
/// Most records in one batch.
const BATCH_RECORDS: usize = 10_000;
/// Target bytes per batch (kept under max.message.bytes too).
const BATCH_BYTES: usize = 900 * 1024;

/// Kafka's `Utils.murmur2`, which its default partitioner uses for keyed records.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if let Some(&b) = rest.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a key.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions
}

/// Splits a line into key and value at the first `sep`.
fn split_line<'a>(line: &'a [u8], sep: Option<&[u8]>) -> (Option<&'a [u8]>, &'a [u8]) {
    let Some(sep) = sep.filter(|s| !s.is_empty()) else {
        return (None, line);
    };
    match line.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (line.get(..i), line.get(i + sep.len()..).unwrap_or_default()),
        None => (None, line),
    }
}

pub fn run(data_dir: &Path, args: ProduceArgs) -> anyhow::Result<Outcome> {
    let manager = LogManager::new(data_dir);
    let info = match manager.topic(&args.topic) {
        Ok(info) => info,
        Err(Error::UnknownTopic(_)) => {
            let info = manager.create_topic(&args.topic, 1, LogConfig::default())?;
            eprintln!("note: created topic {} with 1 partition", info.name);
            info
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(p) = args.partition.filter(|&p| p >= info.partitions) {
        anyhow::bail!(
            "topic {:?} has no partition {p} (it has {})",
            info.name,
            info.partitions
        );
    }
    let limit = BATCH_BYTES
        .min((info.config.max_message_bytes as usize).saturating_sub(BATCH_HEADER_BYTES));

    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(CHANNEL_LINES);
    let reader = std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    if tx.send(Ok(line)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        }
    });

    let sep = args.key_delimiter.as_deref().map(str::as_bytes);
    let mut logs: BTreeMap<u32, Log> = BTreeMap::new();
    let mut round_robin = 0u32;
    let mut produced = 0u64;
    let result = (|| -> anyhow::Result<()> {
        while let Ok(first) = rx.recv() {
            // What is already waiting joins this batch.
            let mut lines = vec![first?];
            let mut bytes = lines.first().map_or(0, Vec::len);
            while lines.len() < BATCH_RECORDS && bytes < limit {
                match rx.try_recv() {
                    Ok(line) => {
                        let line = line?;
                        bytes += line.len() + 16;
                        lines.push(line);
                    }
                    Err(_) => break,
                }
            }
            let now = TimestampMs::now();
            let keyless = args.partition.unwrap_or(round_robin % info.partitions);
            round_robin = round_robin.wrapping_add(1);
            let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
            for line in &lines {
                let (key, value) = split_line(line, sep);
                let p = match (args.partition, key) {
                    (Some(p), _) => p,
                    (None, Some(k)) => partition_for_key(k, info.partitions),
                    (None, None) => keyless,
                };
                by_partition
                    .entry(p)
                    .or_default()
                    .push(Record::new(key, value, now));
            }
            for (p, records) in by_partition {
                let log = match logs.entry(p) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(manager.open_partition(&info.name, p)?)
                    }
                };
                log.append_records(&records)?;
                produced += records.len() as u64;
            }
        }
        Ok(())
    })();
    drop(rx);
    // Everything read must be durable before exit 0.
    let closed: anyhow::Result<()> = logs.into_values().try_for_each(|log| {
        log.flush()?;
        log.close()?;
        Ok(())
    });
    let _ = reader.join();
    result?;
    closed?;
    tracing::info!(records = produced, topic = %info.name, "produced");
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58_897_971
        );
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn lines_split_at_the_first_separator() {
        assert_eq!(
            split_line(b"k:v:w", Some(b":")),
            (Some(&b"k"[..]), &b"v:w"[..])
        );
        assert_eq!(split_line(b"novalue", Some(b":")), (None, &b"novalue"[..]));
        assert_eq!(
            split_line(b"a::b", Some(b"::")),
            (Some(&b"a"[..]), &b"b"[..])
        );
        assert_eq!(split_line(b"x", None), (None, &b"x"[..]));
    }
}
