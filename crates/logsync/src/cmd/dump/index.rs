//! Dumping `.index` and `.timeindex` files, each entry checked against the
//! batches of the sibling `.log` (which is walked by its headers only).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use logsync_storage::batch::BatchHeader;
use logsync_storage::index::{OFFSET_ENTRY_BYTES, OffsetEntry, TIME_ENTRY_BYTES, TimeEntry};
use logsync_storage::segment::file_name::{FileKind, file_path};

use super::{Problems, Step, Walker};

/// The batches of a segment, as far as its `.log` can be walked.
struct Batches {
    /// Batch position -> last offset.
    by_position: HashMap<u64, u64>,
    /// Last offset -> max timestamp.
    by_last_offset: HashMap<u64, i64>,
}

impl Batches {
    fn read(log: &Path) -> anyhow::Result<Batches> {
        let mut walker = Walker::open(log, true)?;
        let mut batches = Batches {
            by_position: HashMap::new(),
            by_last_offset: HashMap::new(),
        };
        while let Some(step) = walker.next_step()? {
            if let Step::Batch { position, bytes } = step
                && let Ok(h) = BatchHeader::parse(&bytes)
            {
                batches.by_position.insert(position, h.last_offset());
                batches
                    .by_last_offset
                    .insert(h.last_offset(), h.max_timestamp);
            }
        }
        Ok(batches)
    }

    /// Why `.index` entry `e` is wrong, if it is.
    fn check_offset(&self, base: u64, e: OffsetEntry) -> Option<String> {
        let offset = base + u64::from(e.relative_offset);
        match self.by_position.get(&u64::from(e.position)) {
            Some(&last) if last == offset => None,
            Some(&last) => Some(format!("the batch at that position has last offset {last}")),
            None => Some("no batch starts at that position".to_owned()),
        }
    }

    /// Why `.timeindex` entry `e` is wrong, if it is.
    fn check_time(&self, base: u64, e: TimeEntry) -> Option<String> {
        let offset = base + u64::from(e.relative_offset);
        match self.by_last_offset.get(&offset) {
            Some(&ts) if ts == e.timestamp => None,
            Some(&ts) => Some(format!(
                "the batch ending at that offset has max timestamp {ts}"
            )),
            None => Some("no batch ends at that offset".to_owned()),
        }
    }
}

/// One entry of either index, for the shared walk below.
trait Entry: Copy {
    const BYTES: usize;
    fn decode_all(bytes: &[u8]) -> Vec<Self>;
    fn is_zero(&self) -> bool;
    /// Kafka's line for the entry.
    fn describe(&self, base: u64) -> String;
    /// Why the entry is out of order after `prev`, if it is.
    fn out_of_order(&self, prev: &Self) -> Option<&'static str>;
    fn check(&self, batches: &Batches, base: u64) -> Option<String>;
}

impl Entry for OffsetEntry {
    const BYTES: usize = OFFSET_ENTRY_BYTES;
    fn decode_all(bytes: &[u8]) -> Vec<Self> {
        OffsetEntry::decode_all(bytes)
    }
    fn is_zero(&self) -> bool {
        self.relative_offset == 0 && self.position == 0
    }
    fn describe(&self, base: u64) -> String {
        let offset = base + u64::from(self.relative_offset);
        format!("offset: {offset} position: {}", self.position)
    }
    fn out_of_order(&self, prev: &Self) -> Option<&'static str> {
        (!self.follows(prev)).then_some("offsets and positions must increase")
    }
    fn check(&self, batches: &Batches, base: u64) -> Option<String> {
        batches.check_offset(base, *self)
    }
}

impl Entry for TimeEntry {
    const BYTES: usize = TIME_ENTRY_BYTES;
    fn decode_all(bytes: &[u8]) -> Vec<Self> {
        TimeEntry::decode_all(bytes)
    }
    fn is_zero(&self) -> bool {
        self.timestamp == 0 && self.relative_offset == 0
    }
    fn describe(&self, base: u64) -> String {
        let offset = base + u64::from(self.relative_offset);
        format!("timestamp: {} offset: {offset}", self.timestamp)
    }
    fn out_of_order(&self, prev: &Self) -> Option<&'static str> {
        (!self.follows(prev)).then_some("timestamps must increase and offsets not decrease")
    }
    fn check(&self, batches: &Batches, base: u64) -> Option<String> {
        batches.check_time(base, *self)
    }
}

/// Prints and checks every entry of the index at `path`; returns what was
/// wrong (positions are byte positions in the index file).
pub(super) fn dump(
    path: &Path,
    base: u64,
    kind: FileKind,
    out: &mut impl Write,
) -> anyhow::Result<Problems> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let log = file_path(path.parent().unwrap_or(Path::new(".")), base, FileKind::Log);
    let batches = if log.exists() {
        Some(Batches::read(&log)?)
    } else {
        eprintln!("note: {} not found: entries are not checked", log.display());
        None
    };
    let problems = match kind {
        FileKind::TimeIndex => dump_entries::<TimeEntry>(&bytes, base, batches.as_ref(), out)?,
        FileKind::Index | FileKind::Log => {
            dump_entries::<OffsetEntry>(&bytes, base, batches.as_ref(), out)?
        }
    };
    Ok(problems)
}

fn dump_entries<E: Entry>(
    bytes: &[u8],
    base: u64,
    batches: Option<&Batches>,
    out: &mut impl Write,
) -> anyhow::Result<Problems> {
    let entries = E::decode_all(bytes);
    // An index is preallocated while its segment is active: it ends in zero
    // entries. The first entry may be a real all-zero one; it is kept only
    // if the log confirms it.
    let zeros = entries.iter().rev().take_while(|e| e.is_zero()).count();
    let mut real = entries.len() - zeros;
    if real == 0
        && let (Some(first), Some(b)) = (entries.first(), batches)
        && first.check(b, base).is_none()
    {
        real = 1;
    }
    let mut problems = Problems::default();
    let mut prev: Option<E> = None;
    for (i, e) in entries.iter().take(real).enumerate() {
        let position = (i * E::BYTES) as u64;
        let mut what = prev.and_then(|p| e.out_of_order(&p)).map(str::to_owned);
        if what.is_none() {
            what = batches.and_then(|b| e.check(b, base));
        }
        match &what {
            None => writeln!(out, "{}", e.describe(base))?,
            Some(why) => {
                writeln!(out, "{} mismatch: {why}", e.describe(base))?;
                problems.add(position);
            }
        }
        prev = Some(*e);
    }
    let torn = bytes.len() % E::BYTES;
    if torn != 0 {
        let position = (bytes.len() - torn) as u64;
        writeln!(
            out,
            "position: {position} error: {torn} trailing bytes do not form a whole entry"
        )?;
        problems.add(position);
    }
    let padding = entries.len() - real;
    if padding > 0 {
        writeln!(
            out,
            "{padding} trailing zero entries (preallocated space, not errors)"
        )?;
    }
    let checked = if batches.is_some() {
        "checked against the log"
    } else {
        "not checked"
    };
    writeln!(out, "{real} entries, {} invalid, {checked}", problems.count)?;
    Ok(problems)
}
