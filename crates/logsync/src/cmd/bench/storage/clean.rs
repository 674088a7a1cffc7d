//! Cleaner and retention benchmarks (issue 3): cleaning 1M records of
//! 100 B values in 1 MiB segments over 10k keys, over 1M distinct keys, and
//! with the timestamp strategy and 20% out-of-order records; retention
//! deleting 1,000 segments. Each beside a baseline from the same run: for
//! the cleaner, reading every record of the same log (what any cleaner must
//! at least do); for retention, unlinking the same number of files.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use logsync_storage::{
    CleanupPolicy, CompactionStrategy, FsyncPolicy, Log, LogConfig, Offset, Record, TimestampMs,
};

use super::{Ctx, SEED};
use crate::cmd::bench::report::{Row, Target, fmt_bytes, fmt_num, millis, per_s};
use crate::cmd::bench::workload::{XorShift, ensure_free_space};

const PER_BATCH: u64 = 1000;
const SEGMENT: u32 = 1 << 20;

fn clean_config(strategy: CompactionStrategy) -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT,
        fsync: FsyncPolicy::Never,
        cleanup_policy: CleanupPolicy::Compact,
        compaction_strategy: strategy,
        ..LogConfig::default()
    }
}

/// Writes `n` keyed records (100 B values) and rolls, so all of it is cleanable.
fn fill(
    dir: &Path,
    config: LogConfig,
    n: u64,
    keys: u64,
    out_of_order: u64,
) -> anyhow::Result<Log> {
    let log = Log::open(dir, config)?;
    let mut rng = XorShift::new(SEED);
    let base = 1_700_000_000_000i64;
    let mut i = 0u64;
    while i < n {
        let batch: Vec<Record> = (i..(i + PER_BATCH).min(n))
            .map(|j| {
                let key = if keys >= n { j } else { rng.below(keys) };
                // `out_of_order` percent of records carry a timestamp up to
                // 100 s older than their position says.
                let late = if rng.below(100) < out_of_order {
                    rng.below(100_000) as i64
                } else {
                    0
                };
                Record {
                    offset: Offset(0),
                    timestamp: TimestampMs(base + j as i64 - late),
                    key: Some(Bytes::from(format!("key-{key:08}"))),
                    value: Some(Bytes::from(rng.text(100))),
                    headers: Vec::new(),
                }
            })
            .collect();
        log.append_records(&batch)?;
        i += PER_BATCH;
    }
    log.roll_active()?;
    Ok(log)
}

/// Reads every record once: the baseline a cleaner cannot beat.
fn read_all(log: &Log) -> anyhow::Result<(u64, Duration)> {
    let start = Instant::now();
    let mut n = 0u64;
    for r in log.records(log.log_start_offset(), usize::MAX)? {
        std::hint::black_box(r?);
        n += 1;
    }
    Ok((n, start.elapsed()))
}

fn one_clean(
    ctx: &Ctx,
    name: &str,
    keys: u64,
    strategy: CompactionStrategy,
    out_of_order: u64,
    target: Target,
) -> anyhow::Result<Vec<Row>> {
    let n = ctx.scaled(1_000_000, 20_000);
    let keys = keys.min(n);
    ensure_free_space(ctx.scratch.root(), n * 200 + (64 << 20), name)?;
    let w = ctx.scratch.subdir(name)?;
    let log = fill(
        &w.join("log"),
        clean_config(strategy),
        n,
        keys,
        out_of_order,
    )?;
    let stats = log.stats()?;
    println!(
        "   {} records over {} keys, {} in {} segments of {}",
        fmt_num(n as f64, 0),
        fmt_num(keys as f64, 0),
        fmt_bytes(stats.size_bytes),
        stats.segments.len(),
        fmt_bytes(u64::from(SEGMENT))
    );
    let (read, read_time) = read_all(&log)?;
    let report = log.clean()?;
    let after = read_all(&log)?.0;
    println!(
        "   read all: {:.3} s; clean: {:.3} s, {} pass(es), {} -> {} records, {} -> {}, key map {}",
        read_time.as_secs_f64(),
        report.duration.as_secs_f64(),
        report.passes,
        fmt_num(report.records_before as f64, 0),
        fmt_num(after as f64, 0),
        fmt_bytes(report.bytes_before),
        fmt_bytes(report.bytes_after),
        fmt_bytes(report.map_bytes)
    );
    if read != n || report.records_before != n {
        anyhow::bail!(
            "{name}: read {read} and cleaned {} of {n} records",
            report.records_before
        );
    }
    log.close()?;
    Ok(vec![
        Row {
            name: format!("{name}, records cleaned/s (baseline: records read/s)"),
            unit: "rec/s",
            decimals: 0,
            logsync: per_s(n, report.duration),
            baseline: Some(per_s(n, read_time)),
            target,
        },
        Row {
            name: format!("{name}, wall time of the clean"),
            unit: "ms",
            decimals: 0,
            logsync: millis(report.duration),
            baseline: None,
            target: Target::None,
        },
    ])
}

/// clean-10k-keys: the main figure (target: under 1 s, >= 1M rec/s).
pub fn clean_10k_keys(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let mut rows = one_clean(
        ctx,
        "clean-10k-keys",
        10_000,
        CompactionStrategy::Offset,
        0,
        Target::AtLeast(1_000_000.0),
    )?;
    if let Some(wall) = rows.get_mut(1) {
        wall.target = Target::AtMost(1_000.0);
    }
    Ok(rows)
}

/// clean-1m-keys: every key distinct (key map pressure).
pub fn clean_1m_keys(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    one_clean(
        ctx,
        "clean-1m-keys",
        u64::MAX,
        CompactionStrategy::Offset,
        0,
        Target::None,
    )
}

/// clean-timestamp: 10k keys, timestamp strategy, 20% out-of-order records.
pub fn clean_timestamp(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    one_clean(
        ctx,
        "clean-timestamp-20pct-late",
        10_000,
        CompactionStrategy::Timestamp,
        20,
        Target::None,
    )
}

/// retention: 1,000 sealed segments deleted by one `apply_retention` after
/// a reopen (indexes not loaded yet, as after a restart); the baseline
/// unlinks as many files of the same sizes.
pub fn retention(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let segments = ctx.scaled(1_000, 50);
    let seg_bytes = 64u32 << 10;
    ensure_free_space(
        ctx.scratch.root(),
        segments * 3 * u64::from(seg_bytes),
        "retention",
    )?;
    let w = ctx.scratch.subdir("retention")?;
    let dir = w.join("log");
    let config = LogConfig {
        segment_bytes: seg_bytes,
        segment_index_bytes: 64 << 10,
        fsync: FsyncPolicy::Never,
        retention_ms: Some(1),
        ..LogConfig::default()
    };
    let mut rng = XorShift::new(SEED);
    let per_batch = 100u64;
    let value = rng.text(100);
    {
        let log = Log::open(&dir, config.clone())?;
        let batch: Vec<Record> = (0..per_batch)
            .map(|_| Record::new(None, &value, TimestampMs(1)))
            .collect();
        while (log.stats()?.segments.len() as u64) <= segments {
            log.append_records(&batch)?;
        }
        log.close()?;
    }
    // Baseline: the same number of files, of the same sizes, written the
    // same way (appends of one batch's size) and synced, as old segments
    // are (unlinking a file whose blocks are not allocated yet is much
    // cheaper), then unlinked.
    let files = w.join("files");
    std::fs::create_dir_all(&files)?;
    let batch_len = 100 * (value.len() + 20);
    let chunk = vec![b'x'; batch_len];
    for i in 0..segments {
        let mut f = std::fs::File::create(files.join(format!("{i}.log")))?;
        let mut written = 0;
        while written < seg_bytes as usize {
            std::io::Write::write_all(&mut f, &chunk)?;
            written += chunk.len();
        }
        f.sync_all()?;
        for (ext, len) in [("index", 200), ("timeindex", 300)] {
            let mut f = std::fs::File::create(files.join(format!("{i}.{ext}")))?;
            std::io::Write::write_all(&mut f, chunk.get(..len).unwrap_or_default())?;
            f.sync_all()?;
        }
    }
    let start = Instant::now();
    for i in 0..segments {
        for ext in ["log", "index", "timeindex"] {
            std::fs::remove_file(files.join(format!("{i}.{ext}")))?;
        }
    }
    let unlink = start.elapsed();

    // Cold: right after a reopen, each segment's indexes are loaded (two
    // opens and a read per segment) to learn its newest timestamp. Warm:
    // as in a running server, where they are loaded already.
    let cold_dir = w.join("cold");
    copy_dir(&dir, &cold_dir)?;
    let log = Log::open(&dir, config.clone())?;
    log.stats()?;
    let start = Instant::now();
    let report = log.apply_retention_at(TimestampMs(i64::MAX))?;
    let took = start.elapsed();
    // The first run after a reopen, with an appender running meanwhile: how
    // long retention holds up appends (files are renamed and removed
    // outside the writer lock).
    let cold_log = std::sync::Arc::new(Log::open(&cold_dir, config)?);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appender = {
        let (log, stop) = (
            std::sync::Arc::clone(&cold_log),
            std::sync::Arc::clone(&stop),
        );
        let record = Record::new(None, &value, TimestampMs(i64::MAX - 1));
        std::thread::spawn(move || -> anyhow::Result<Duration> {
            let mut worst = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let t = Instant::now();
                log.append_records(std::slice::from_ref(&record))?;
                worst = worst.max(t.elapsed());
            }
            Ok(worst)
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    let cold = cold_log.apply_retention_at(TimestampMs(i64::MAX))?;
    let cold_took = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Release);
    let held_up = appender
        .join()
        .map_err(|_| anyhow::anyhow!("appender panicked"))??;
    println!(
        "   longest append while that ran: {:.2} ms",
        millis(held_up)
    );
    cold_log.close()?;
    println!(
        "   cold (first run after a reopen): {} segments in {:.1} ms",
        cold.segments_deleted,
        millis(cold_took)
    );
    println!(
        "   deleted {} segments ({}) in {:.1} ms; unlinking {} plain files took {:.1} ms",
        report.segments_deleted,
        fmt_bytes(report.bytes_deleted),
        millis(took),
        segments * 3,
        millis(unlink)
    );
    if (report.segments_deleted as u64) < segments {
        anyhow::bail!(
            "retention deleted only {} segments",
            report.segments_deleted
        );
    }
    log.close()?;
    Ok(vec![
        Row {
            name: format!("retention deleting {segments} segments (baseline: unlink 3 files each)"),
            unit: "ms",
            decimals: 1,
            logsync: millis(took),
            baseline: Some(millis(unlink)),
            target: Target::AtMost(100.0),
        },
        Row {
            name: "retention after a reopen: longest append meanwhile".to_owned(),
            unit: "ms",
            decimals: 2,
            logsync: millis(held_up),
            baseline: None,
            target: Target::None,
        },
        Row {
            name: format!(
                "retention deleting {segments} segments, first run after a reopen, an appender running"
            ),
            unit: "ms",
            decimals: 1,
            logsync: millis(cold_took),
            baseline: Some(millis(unlink)),
            target: Target::None,
        },
    ])
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            let target = to.join(e.file_name());
            std::fs::copy(e.path(), &target)?;
            // Old segments are on disk, not only in the page cache: an
            // unsynced file is much cheaper to unlink.
            std::fs::File::open(&target)?.sync_all()?;
        }
    }
    Ok(())
}
