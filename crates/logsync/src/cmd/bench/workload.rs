//! Inputs and scratch space shared by the benchmarks: a seeded generator,
//! records, the benchmark directory (removed afterwards) and the free-space
//! check.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use bytes::Bytes;
use logsync_storage::{Offset, Record, TimestampMs};

use super::report::fmt_bytes;

/// xorshift64: a fixed seed gives the same values on every run, which is all
/// a benchmark needs (no dependency for it).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced, xorshift cannot leave it).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n` > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `len` bytes of printable, random-looking text.
    pub fn text(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| b'!' + (self.next_u64() % 94) as u8)
            .collect()
    }
}

/// `count` records with null keys and `value_len`-byte random values.
pub fn records(
    rng: &mut XorShift,
    count: usize,
    value_len: usize,
    timestamp: TimestampMs,
) -> Vec<Record> {
    (0..count)
        .map(|_| Record {
            offset: Offset(0),
            timestamp,
            key: None,
            value: Some(Bytes::from(rng.text(value_len))),
            headers: Vec::new(),
        })
        .collect()
}

/// The benchmark directory. Every benchmark works in a subdirectory of its
/// own, created fresh and removed when done; the root is removed at the end
/// if this run created it.
#[derive(Debug)]
pub struct Scratch {
    root: PathBuf,
    /// Directories this run created (the root and perhaps its parents),
    /// innermost first, removed when empty at the end.
    created: Vec<PathBuf>,
}

impl Scratch {
    /// Uses `root`, creating it (and missing parents) if needed.
    pub fn new(root: PathBuf) -> anyhow::Result<Scratch> {
        let mut created = Vec::new();
        let mut p = root.as_path();
        while !p.as_os_str().is_empty() && !p.exists() {
            created.push(p.to_path_buf());
            match p.parent() {
                Some(parent) => p = parent,
                None => break,
            }
        }
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Scratch { root, created })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A new, empty subdirectory for one benchmark. It must not exist yet:
    /// the benchmark removes it when done and must never remove files it
    /// did not write.
    pub fn subdir(&self, name: &str) -> anyhow::Result<Workdir> {
        let path = self.root.join(name);
        if path.exists() {
            bail!(
                "{} already exists; remove it or pass another --dir",
                path.display()
            );
        }
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Workdir { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for dir in &self.created {
            // Only empty directories go: a failed benchmark's subdirectory
            // was already removed by its `Workdir`.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// One benchmark's directory, removed with everything in it on drop (also
/// when the benchmark fails).
#[derive(Debug)]
pub struct Workdir {
    path: PathBuf,
}

impl Workdir {
    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("warning: could not remove {}: {e}", self.path.display());
        }
    }
}

/// Fails with a clear message when the file system holding `dir` has less
/// than `need` bytes free. Uses `df -Pk` (POSIX output); if `df` is missing
/// or its output unreadable, warns and lets a later write error surface.
pub fn ensure_free_space(dir: &Path, need: u64, what: &str) -> anyhow::Result<()> {
    let Some(free) = free_bytes(dir) else {
        eprintln!(
            "warning: could not read free space of {} (df -Pk); going on",
            dir.display()
        );
        return Ok(());
    };
    if free < need {
        bail!(
            "{what} needs about {} free in {} but only {} is free (try a smaller --scale, or --dir elsewhere)",
            fmt_bytes(need),
            dir.display(),
            fmt_bytes(free)
        );
    }
    Ok(())
}

/// Free bytes for unprivileged users on the file system of `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    if !out.status.success() {
        return None;
    }
    parse_df_available(&String::from_utf8_lossy(&out.stdout))
}

/// The `Available` column (KiB) of `df -Pk` output, in bytes.
fn parse_df_available(text: &str) -> Option<u64> {
    let line = text.lines().nth(1)?;
    // Filesystem 1024-blocks Used Available Capacity Mounted-on; the file
    // system name may contain spaces, so count from the right.
    let fields: Vec<&str> = line.split_whitespace().collect();
    let avail = fields.len().checked_sub(3).and_then(|i| fields.get(i))?;
    avail.parse::<u64>().ok().map(|kib| kib * 1024)
}

/// The `.log` files of a partition directory, oldest first.
pub fn log_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    Ok(files)
}

/// Total size of the files.
pub fn total_size(files: &[PathBuf]) -> anyhow::Result<u64> {
    let mut total = 0;
    for f in files {
        total += std::fs::metadata(f)
            .with_context(|| format!("stat {}", f.display()))?
            .len();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_output_is_parsed_from_the_right() {
        let text = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda 264091472 13000000 82000000 14% /\n";
        assert_eq!(parse_df_available(text), Some(82_000_000 * 1024));
        let spaced = "Filesystem 1024-blocks Used Available Capacity Mounted on\nmy disk 100 50 40 56% /mnt/x\n";
        assert_eq!(parse_df_available(spaced), Some(40 * 1024));
        assert_eq!(parse_df_available("Filesystem\n"), None);
    }

    #[test]
    fn xorshift_is_deterministic_and_bounded() {
        let mut a = XorShift::new(7);
        let mut b = XorShift::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 10));
        assert!(xs.iter().any(|&x| x != xs.first().copied().unwrap_or(0)));
        assert!(XorShift::new(0).next_u64() != 0);
    }

    #[test]
    fn workdirs_are_removed_and_never_reused() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path().join("a").join("bench");
        {
            let scratch = Scratch::new(root.clone())?;
            let w = scratch.subdir("one")?;
            std::fs::write(w.join("f"), b"x")?;
            assert!(scratch.subdir("one").is_err());
            let p = scratch.root().join("one");
            assert!(p.exists());
            drop(w);
            assert!(!p.exists());
        }
        assert!(!root.exists());
        assert!(!tmp.path().join("a").exists());
        Ok(())
    }
}
