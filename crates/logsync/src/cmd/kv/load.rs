//! `logsync kv load FILE`: bulk-sets `key<TAB>value` lines.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use logsync_kv::{Store, WriteBatch};

use crate::Outcome;

/// Bytes of keys and values per write (one record batch, well below the
/// default `max.message.bytes`).
const BATCH_BYTES: usize = 256 << 10;
/// Bad lines reported one by one; the rest are counted.
const REPORTED_BAD_LINES: u64 = 20;

pub fn run(store: &Store, file: &Path) -> anyhow::Result<Outcome> {
    let (reader, len): (Box<dyn Read>, Option<u64>) = if file == Path::new("-") {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = crate::cmd::progress::file_bar(len);
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::new();
    let mut batch = WriteBatch::new();
    let mut batch_bytes = 0;
    let (mut line_no, mut loaded, mut bad, mut read) = (0u64, 0u64, 0u64, 0u64);
    let mut first_bad = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        read += n as u64;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let problem = match text.iter().position(|&b| b == b'\t') {
            _ if text.is_empty() => Some("empty line"),
            None => Some("no TAB between key and value"),
            Some(0) => Some("empty key"),
            Some(tab) => {
                let (k, v) = text.split_at(tab);
                let v = v.get(1..).unwrap_or_default();
                batch.set(k.to_vec(), v.to_vec());
                batch_bytes += text.len();
                None
            }
        };
        if let Some(why) = problem {
            bad += 1;
            first_bad.get_or_insert((line_no, why));
            if bad <= REPORTED_BAD_LINES {
                bar.suspend(|| eprintln!("warning: {}:{line_no}: {why}", file.display()));
            }
        }
        if batch_bytes >= BATCH_BYTES {
            store.write_batch(&batch)?;
            loaded += batch.len() as u64;
            batch.clear();
            batch_bytes = 0;
            bar.set_position(read);
            bar.set_message(format!("{loaded} keys"));
        }
    }
    store.write_batch(&batch)?;
    loaded += batch.len() as u64;
    bar.finish_and_clear();
    println!(
        "loaded {loaded} keys from {} into {} ({line_no} lines, {bad} bad)",
        file.display(),
        store.topic()
    );
    if let Some((at, why)) = first_bad {
        anyhow::bail!(
            "{bad} bad lines in {} (first: line {at}, {why}); the other {loaded} lines were loaded",
            file.display()
        );
    }
    Ok(Outcome::Done)
}
