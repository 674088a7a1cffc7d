//! `logsync dump FILE`: prints a segment's batches (and with `--deep` its
//! records) like Kafka's `kafka-dump-log`, or an index's entries checked
//! against the segment's `.log`.
//!
//! Only reads files: it takes no partition lock, so it works beside a
//! running producer (which is how the tests watch a producer stream). Any
//! invalid batch or entry makes the exit status 2.

mod index;
mod log;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::Context as _;
use logsync_storage::batch::header::{MIN_BATCH_LENGTH, peek_offset_and_length};
use logsync_storage::batch::{BATCH_HEADER_BYTES, LOG_OVERHEAD};
use logsync_storage::segment::file_name::{FileKind, parse_file_name};

use crate::Outcome;
use crate::cli::DumpArgs;

/// Read buffer for walking a `.log` file.
const READ_BUFFER_BYTES: usize = 1 << 20;

pub fn run(args: DumpArgs) -> anyhow::Result<Outcome> {
    let path = args.file.as_path();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some("log") => FileKind::Log,
        Some("index") => FileKind::Index,
        Some("timeindex") => FileKind::TimeIndex,
        _ => anyhow::bail!(
            "cannot dump {}: expected a .log, .index or .timeindex file",
            path.display()
        ),
    };
    // Segment files are named by their base offset; a `.log` copied under
    // another name can still be walked, an index cannot be read without it.
    let base = parse_file_name(name).map(|(base, _)| base);
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "Dumping {}", path.display())?;
    let (problems, what) = match kind {
        FileKind::Log => (log::dump(path, base, args.deep, &mut out)?, "batch"),
        FileKind::Index | FileKind::TimeIndex => {
            let base = base.with_context(|| {
                format!(
                    "cannot tell the base offset of {}: expected a name like 00000000000000000000.{}",
                    path.display(),
                    kind.extension()
                )
            })?;
            (index::dump(path, base, kind, &mut out)?, "index entry")
        }
    };
    out.flush()?;
    if let Some(first) = problems.first_position {
        anyhow::bail!(
            "{} invalid {what}{} in {} (first at position {first})",
            problems.count,
            if problems.count == 1 { "" } else { "s" },
            path.display()
        );
    }
    Ok(Outcome::Done)
}

/// What was found wrong in a file.
#[derive(Debug, Default)]
struct Problems {
    count: u64,
    first_position: Option<u64>,
}

impl Problems {
    fn add(&mut self, position: u64) {
        self.count += 1;
        self.first_position.get_or_insert(position);
    }
}

/// One step of a walk over a `.log` file.
#[derive(Debug)]
enum Step {
    /// A batch whose length field fits in the file: all its bytes, or only
    /// its header when walking headers. Nothing else is checked yet.
    Batch { position: u64, bytes: Vec<u8> },
    /// Bytes at `position` that cannot be walked past (the walk ends).
    End { position: u64, problem: String },
    /// Nothing but zeros from `position` to the end of the file (`len`
    /// bytes): written ahead of the data by a log that is open
    /// (`segment.zero.ahead.bytes`) or left so by a crash. Not data and not
    /// damage; the walk ends.
    Zeros { position: u64, len: u64 },
}

/// Walks a `.log` file batch by batch by the length fields alone, reading it
/// in order through one buffer so a large file is never held whole.
struct Walker {
    reader: BufReader<File>,
    position: u64,
    /// File size when the walk began: a writer may be appending beside us.
    len: u64,
    headers_only: bool,
    done: bool,
}

impl Walker {
    fn open(path: &Path, headers_only: bool) -> anyhow::Result<Walker> {
        let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("stat {}", path.display()))?
            .len();
        Ok(Walker {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, file),
            position: 0,
            len,
            headers_only,
            done: false,
        })
    }

    /// Where the walk stands: the end of the last batch returned.
    fn position(&self) -> u64 {
        self.position
    }

    fn len(&self) -> u64 {
        self.len
    }

    /// The next batch, the problem that ends the walk, or `None` at the end.
    ///
    /// # Errors
    /// Read errors (the file shrinking under us shows up as one).
    fn next_step(&mut self) -> anyhow::Result<Option<Step>> {
        if self.done || self.position >= self.len {
            return Ok(None);
        }
        let position = self.position;
        let left = self.len - position;
        let end = |problem: String| Some(Step::End { position, problem });
        if left < LOG_OVERHEAD as u64 {
            self.done = true;
            return Ok(end(format!("torn tail: {left} bytes, too few for a batch")));
        }
        let mut bytes = vec![0u8; LOG_OVERHEAD];
        self.reader.read_exact(&mut bytes)?;
        let (_, length) = peek_offset_and_length(&bytes).map_err(anyhow::Error::new)?;
        if length < MIN_BATCH_LENGTH {
            self.done = true;
            if bytes.iter().all(|&b| b == 0) {
                let mut rest = Vec::new();
                (&mut self.reader).take(left).read_to_end(&mut rest)?;
                if rest.iter().all(|&b| b == 0) {
                    return Ok(Some(Step::Zeros {
                        position,
                        len: left,
                    }));
                }
            }
            return Ok(end(format!(
                "batch length {length} is impossible (at least {MIN_BATCH_LENGTH}): garbage or zeros, the next batch cannot be found"
            )));
        }
        let total = LOG_OVERHEAD as u64 + length as u64;
        if total > left {
            self.done = true;
            return Ok(end(format!(
                "torn tail: a batch of {total} bytes starts here but only {left} bytes are left"
            )));
        }
        let keep = if self.headers_only {
            BATCH_HEADER_BYTES as u64
        } else {
            total
        };
        bytes.resize(keep as usize, 0);
        self.reader
            .read_exact(bytes.get_mut(LOG_OVERHEAD..).unwrap_or_default())?;
        let skip = i64::try_from(total - keep).context("batch too large")?;
        self.reader.seek_relative(skip)?;
        self.position += total;
        Ok(Some(Step::Batch { position, bytes }))
    }
}

#[cfg(test)]
mod tests {
    use logsync_storage::batch::{BatchSpec, encode_batch};
    use logsync_storage::{Record, TimestampMs};

    use super::*;

    fn walk(bytes: &[u8], headers_only: bool) -> Vec<Step> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.log");
        std::fs::write(&path, bytes).expect("write");
        let mut w = Walker::open(&path, headers_only).expect("open");
        let mut steps = Vec::new();
        while let Some(s) = w.next_step().expect("step") {
            steps.push(s);
        }
        steps
    }

    fn two_batches() -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..2u64 {
            let r = Record::new(None, b"value", TimestampMs(1_700_000_000_000));
            let spec = BatchSpec {
                base_offset: i,
                ..BatchSpec::default()
            };
            encode_batch(&mut out, &spec, &[r]).expect("encode");
        }
        out
    }

    #[test]
    fn the_walk_finds_each_batch_and_stops_at_a_torn_tail() {
        let mut bytes = two_batches();
        let one = bytes.len() as u64 / 2;
        bytes.extend_from_slice(&bytes.clone()[..20]);
        let steps = walk(&bytes, false);
        assert_eq!(steps.len(), 3);
        assert!(
            matches!(&steps[1], Step::Batch { position, bytes } if *position == one && bytes.len() as u64 == one)
        );
        assert!(
            matches!(&steps[2], Step::End { position, problem } if *position == 2 * one && problem.contains("torn tail"))
        );
        let headers = walk(&bytes, true);
        assert!(
            matches!(&headers[1], Step::Batch { bytes, .. } if bytes.len() == BATCH_HEADER_BYTES)
        );
    }

    #[test]
    fn zeros_to_the_end_are_a_note_and_zeros_before_data_a_problem() {
        let mut bytes = two_batches();
        let data = bytes.len() as u64;
        bytes.extend_from_slice(&[0u8; 100]);
        let steps = walk(&bytes, false);
        assert_eq!(steps.len(), 3);
        assert!(
            matches!(&steps[2], Step::Zeros { position, len } if *position == data && *len == 100)
        );
        bytes.push(1);
        let steps = walk(&bytes, false);
        assert!(matches!(&steps[2], Step::End { problem, .. } if problem.contains("length 0")));
    }
}
