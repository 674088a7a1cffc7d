//! The baselines: what the operating system does for the same work with
//! plain system calls and no log around them.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::workload::XorShift;

/// `write(2)` of `count` chunks (cycling through `chunks`) to a new file at
/// `path`, without fsync; returns bytes written and the time taken. The file
/// is created before the clock starts.
pub fn write_chunks(
    path: &Path,
    chunks: &[Vec<u8>],
    count: u64,
) -> anyhow::Result<(u64, Duration)> {
    let mut file =
        File::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    if chunks.is_empty() {
        bail!("nothing to write");
    }
    let mut bytes = 0u64;
    let start = Instant::now();
    for chunk in chunks.iter().cycle().take(count as usize) {
        file.write_all(chunk)
            .with_context(|| format!("writing {}", path.display()))?;
        bytes += chunk.len() as u64;
    }
    let elapsed = start.elapsed();
    Ok((bytes, elapsed))
}

/// Writes `bytes` to a scratch file at `path` and deletes it at once, so
/// that the page cache a measured write is about to fill comes from memory
/// freed a moment ago. On this VM memory left free for a few seconds is
/// handed back to the host and costs a fault there when touched again, so
/// whichever side ran first after a pause was up to 3x slower; every
/// measured side is preceded by this.
pub fn warm_page_cache(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let mut file =
        File::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    let chunk = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < bytes {
        let n = chunk.len().min((bytes - done) as usize);
        file.write_all(chunk.get(..n).unwrap_or_default())
            .with_context(|| format!("writing {}", path.display()))?;
        done += n as u64;
    }
    drop(file);
    std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))
}

/// [`write_chunks`] into a file whose blocks are reserved ahead of the
/// writes `step` bytes at a time (`fallocate` keeping the size), as the log
/// reserves them for its active segment (`segment.preallocate.bytes`).
pub fn write_chunks_preallocated(
    path: &Path,
    chunks: &[Vec<u8>],
    count: u64,
    step: u64,
) -> anyhow::Result<(u64, Duration)> {
    let file = File::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    if chunks.is_empty() || step == 0 {
        bail!("nothing to write");
    }
    let mut bytes = 0u64;
    let mut reserved = 0u64;
    let start = Instant::now();
    for chunk in chunks.iter().cycle().take(count as usize) {
        let end = bytes + chunk.len() as u64;
        if end > reserved {
            rustix::fs::fallocate(
                &file,
                rustix::fs::FallocateFlags::KEEP_SIZE,
                reserved,
                end + step - reserved,
            )
            .with_context(|| format!("fallocate {}", path.display()))?;
            reserved = end + step;
        }
        file.write_all_at(chunk, bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        bytes = end;
    }
    let elapsed = start.elapsed();
    Ok((bytes, elapsed))
}

/// `write(2)` + `fdatasync(2)` of `chunk` in a loop on one thread until
/// `duration` has passed; returns the latency of each iteration.
pub fn write_fdatasync_loop(
    path: &Path,
    chunk: &[u8],
    duration: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let mut file =
        File::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    let mut latencies = Vec::new();
    let start = Instant::now();
    while start.elapsed() < duration {
        let t = Instant::now();
        file.write_all(chunk)
            .with_context(|| format!("writing {}", path.display()))?;
        file.sync_data()
            .with_context(|| format!("fdatasync {}", path.display()))?;
        latencies.push(t.elapsed());
    }
    Ok(latencies)
}

/// `read(2)` of every file front to back with a buffer of `buf_len`;
/// returns bytes read and the time taken.
pub fn read_files(files: &[PathBuf], buf_len: usize) -> anyhow::Result<(u64, Duration)> {
    let mut buf = vec![0u8; buf_len];
    let mut bytes = 0u64;
    let start = Instant::now();
    for path in files {
        let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
    }
    Ok((bytes, start.elapsed()))
}

/// `count` `pread(2)`s of `len` bytes at random `len`-aligned positions of
/// the files (a file chosen in proportion to its size); returns each one's
/// latency. Files are opened before the clock starts.
pub fn random_preads(
    files: &[PathBuf],
    len: usize,
    count: usize,
    rng: &mut XorShift,
) -> anyhow::Result<Vec<Duration>> {
    let mut opened = Vec::new();
    let mut total = 0u64;
    for path in files {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = f
            .metadata()
            .with_context(|| format!("stat {}", path.display()))?
            .len();
        if size >= len as u64 {
            total += size;
            opened.push((f, size, total));
        }
    }
    if opened.is_empty() {
        bail!("no file of at least {len} bytes to read");
    }
    let mut buf = vec![0u8; len];
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let at = rng.below(total);
        let Some((file, size, _)) = opened.iter().find(|(_, _, end)| at < *end) else {
            bail!("position past the files")
        };
        let slots = size / len as u64;
        let pos = rng.below(slots) * len as u64;
        let t = Instant::now();
        let n = file.read_at(&mut buf, pos).context("pread")?;
        latencies.push(t.elapsed());
        if n == 0 {
            bail!("pread at {pos} returned nothing");
        }
    }
    Ok(latencies)
}

/// `stat(2)` of every entry of `dir` (the least an open must do); returns
/// the number of entries and the time taken.
pub fn stat_dir(dir: &Path) -> anyhow::Result<(usize, Duration)> {
    let start = Instant::now();
    let mut n = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        std::fs::metadata(entry.path())
            .with_context(|| format!("stat {}", entry.path().display()))?;
        n += 1;
    }
    Ok((n, start.elapsed()))
}
