//! `logsync bench storage`: the storage engine against the system calls it
//! is built on (issue 2's targets).
//!
//! Every benchmark works in its own fresh subdirectory of the benchmark
//! directory and removes it when done (the open benchmark writes 10 GiB at
//! scale 1). Throughput benchmarks run the baseline and logsync alternately
//! for a few rounds and keep the median of each, so that a burst of noise
//! (another build, page-cache writeback) does not decide the ratio alone.

mod append;
mod clean;
mod open;
mod read;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use logsync_storage::{FsyncPolicy, Log, LogConfig, Record};

pub use super::Options;
use super::report::{Row, fmt_bytes, fmt_num, mb_per_s, print_results, print_row};
use super::workload::{Scratch, free_bytes};

/// Seed of every generator, printed so that a run can be repeated.
pub const SEED: u64 = 0x6c6f_6773_796e_6321;

/// What a benchmark gets: where to write and how big to make things.
#[derive(Debug)]
pub struct Ctx {
    scratch: Scratch,
    scale: f64,
    /// Rounds of throughput benchmarks (baseline and logsync alternately).
    rounds: usize,
}

impl Ctx {
    /// `base` times the scale, at least `min`.
    fn scaled(&self, base: u64, min: u64) -> u64 {
        ((base as f64 * self.scale) as u64).max(min)
    }
}

type BenchFn = fn(&Ctx) -> anyhow::Result<Vec<Row>>;

/// The benchmarks, in the order they run: name, what it measures, function.
const BENCHES: [(&str, &str, BenchFn); 10] = [
    (
        "append-batch",
        "1,000 x 100 B records per append, no fsync, vs write(2) of the same bytes",
        append::append_batch,
    ),
    (
        "append-single",
        "one 100 B record per append, no fsync, vs write(2) of the same batch",
        append::append_single,
    ),
    (
        "group-commit",
        "4 threads, one 1 KiB record per append, fsync every batch, vs 1 thread write+fdatasync",
        append::group_commit,
    ),
    (
        "sequential-read",
        "Log::read of a whole warm log in 1 MiB reads, vs read(2) of its files",
        read::sequential_read,
    ),
    (
        "random-read",
        "one record at a random offset, vs pread(2) of 4 KiB",
        read::random_read,
    ),
    (
        "open",
        "Log::open of a 10 GiB log: clean, after crashes, with no checkpoint; vs stat of its files",
        open::open,
    ),
    (
        "clean-10k-keys",
        "the cleaner on 1M records of 100 B over 10k keys in 1 MiB segments, vs reading them",
        clean::clean_10k_keys,
    ),
    (
        "clean-1m-keys",
        "the cleaner on 1M records with 1M distinct keys, vs reading them",
        clean::clean_1m_keys,
    ),
    (
        "clean-timestamp",
        "the cleaner, timestamp strategy, 10k keys, 20% of records out of order, vs reading them",
        clean::clean_timestamp,
    ),
    (
        "retention",
        "apply_retention deleting 1,000 segments after a reopen, vs unlinking as many files",
        clean::retention,
    ),
];

/// Runs the storage suite and prints the results and the final table.
pub fn run(opts: &Options<'_>) -> anyhow::Result<()> {
    let names: Vec<&str> = BENCHES.iter().map(|(n, _, _)| *n).collect();
    let scratch = opts.prepare("storage", &names, 100.0)?;
    let selected: Vec<_> = BENCHES.iter().filter(|(n, _, _)| opts.wants(n)).collect();
    let ctx = Ctx {
        scratch,
        scale: opts.scale,
        rounds: 3,
    };

    println!("# logsync bench storage");
    println!();
    for (k, v) in super::report::machine_description() {
        println!("{k:>9}: {v}");
    }
    let root = ctx.scratch.root();
    let free = free_bytes(root).map_or_else(|| "unknown".to_owned(), fmt_bytes);
    println!(
        "{:>9}: {} ({} free{})",
        "directory",
        root.display(),
        free,
        file_system_of(root)
            .map(|f| format!(", {f}"))
            .unwrap_or_default()
    );
    println!(
        "{:>9}: {} (seed {SEED:#x}); MB = 10^6 bytes",
        "scale", opts.scale
    );
    println!(
        "{:>9}: {}",
        "command",
        std::env::args().collect::<Vec<_>>().join(" ")
    );

    let mut rows = Vec::new();
    for (name, what, bench) in selected {
        println!();
        println!("## {name}: {what}");
        let start = Instant::now();
        let got = bench(&ctx).with_context(|| format!("benchmark {name}"))?;
        for row in &got {
            print_row(row);
        }
        println!("   ({name} took {:.1} s)", start.elapsed().as_secs_f64());
        rows.extend(got);
    }
    print_results(&rows);
    Ok(())
}

/// The file system type holding `dir`, from `/proc/mounts` (longest mount
/// point that is a prefix of the canonical path).
fn file_system_of(dir: &Path) -> Option<String> {
    let canon = dir.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, point, fstype) = (f.next()?, f.next()?, f.next()?);
            canon
                .starts_with(point)
                .then(|| (point.len(), fstype.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
}

/// A log configuration with the given fsync policy and `segment.bytes`.
fn config(fsync: FsyncPolicy, segment_bytes: u32) -> LogConfig {
    LogConfig {
        fsync,
        segment_bytes,
        ..LogConfig::default()
    }
}

/// Appends `batches` batches of `records` to a new log in `dir` with
/// `config` and closes it cleanly; prints and returns how long it took.
fn fill_log(
    dir: &PathBuf,
    config: LogConfig,
    records: &[Record],
    batches: u64,
) -> anyhow::Result<u64> {
    let log = Log::open(dir, config)?;
    let start = Instant::now();
    for _ in 0..batches {
        log.append_records(records)?;
    }
    let elapsed = start.elapsed();
    let size = log.stats()?.size_bytes;
    log.close()?;
    println!(
        "   prepared {} records in {} batches, {} of .log files in {:.1} s ({} MB/s)",
        fmt_num((records.len() as u64 * batches) as f64, 0),
        fmt_num(batches as f64, 0),
        fmt_bytes(size),
        elapsed.as_secs_f64(),
        fmt_num(mb_per_s(size, elapsed), 0)
    );
    Ok(size)
}

/// The segment size for a given scale: 1 GiB at scale 1, never below 1 MiB.
fn segment_bytes(ctx: &Ctx) -> u32 {
    u32::try_from(ctx.scaled(1 << 30, 1 << 20))
        .unwrap_or(1 << 30)
        .min(1 << 30)
}

/// How long fixed-duration benchmarks run: 5 s at scale 1, at least 1 s.
fn duration(ctx: &Ctx) -> Duration {
    Duration::from_secs_f64((5.0 * ctx.scale).clamp(1.0, 60.0))
}
