//! Open benchmarks: how long `Log::open` takes on a big log after a clean
//! close, after a crash with a recent recovery point, and with no recovery
//! point at all.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use logsync_storage::checkpoint::CHECKPOINT_FILE;
use logsync_storage::log::CLEAN_SHUTDOWN_FILE;
use logsync_storage::{FsyncPolicy, Log, LogConfig, TimestampMs};

use super::append::encode;
use super::{Ctx, SEED, config, fill_log, segment_bytes};
use crate::cmd::bench::baseline;
use crate::cmd::bench::report::{Row, Target, fmt_bytes, fmt_num, mb_per_s, median, millis};
use crate::cmd::bench::workload::{XorShift, ensure_free_space, log_files, records};

const OPENS: usize = 5;

/// open: a 10 GiB log in 1 GiB segments (both scaled), opened `OPENS` times
/// after a clean close and after a simulated crash, and once with no
/// checkpoint; the baseline is a `stat(2)` of every file of the directory.
pub fn open(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    const PER_BATCH: usize = 1000;
    let mut rng = XorShift::new(SEED);
    let recs = records(&mut rng, PER_BATCH, 100, TimestampMs::now());
    let seg = segment_bytes(ctx);
    let target = ctx.scaled(10 << 30, 10 << 20);
    ensure_free_space(
        ctx.scratch.root(),
        target + target / 10 + (256 << 20),
        "open",
    )?;
    let batch = encode(&recs, 0)?;
    // Ten full segments and one batch in the active one, at any scale.
    let per_segment = (u64::from(seg) / batch.len() as u64).max(1);
    let batches = (target / u64::from(seg)).max(1) * per_segment + 1;
    println!(
        "   writing {} in segments of {} (batches of {PER_BATCH} x 100 B, no fsync)",
        fmt_bytes(batches * batch.len() as u64),
        fmt_bytes(u64::from(seg))
    );
    let w = ctx.scratch.subdir("open")?;
    let dir = w.join("log");
    let cfg = config(FsyncPolicy::Never, seg);
    let size = fill_log(&dir, cfg.clone(), &recs, batches)?;
    let end = batches * PER_BATCH as u64;
    let files = log_files(&dir)?;
    let active_size = files
        .last()
        .map(std::fs::metadata)
        .transpose()?
        .map_or(0, |m| m.len());
    println!(
        "   {} segments; the active (last) one holds {}",
        files.len(),
        fmt_bytes(active_size)
    );

    let mut stat = Vec::new();
    for _ in 0..OPENS {
        let (n, t) = baseline::stat_dir(&dir)?;
        stat.push(millis(t));
        if n == 0 {
            bail!("{} is empty", dir.display());
        }
    }
    let stat_ms = median(&stat).unwrap_or_default();

    // 1. After a clean close: the marker is there, nothing is re-validated;
    // the active segment holds one batch.
    let clean = timed_opens(&dir, &cfg, end, |_| Ok(()))?;
    println!("   open after clean close: {} (ms)", list(&clean));

    // 2. After a crash: no marker, and the first 100 bytes of a batch whose
    // write the crash tore at the end of the active segment. The recovery
    // point is where the last close left it (the end), so only the torn
    // tail is looked at.
    let torn = batch
        .get(..batch.len().min(100))
        .unwrap_or_default()
        .to_vec();
    let last = files.last().cloned().context("no .log file")?;
    let crash = timed_opens(&dir, &cfg, end, |dir| {
        remove(&dir.join(CLEAN_SHUTDOWN_FILE))?;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&last)
            .with_context(|| format!("opening {}", last.display()))?;
        f.write_all(&torn)
            .with_context(|| format!("appending to {}", last.display()))?;
        Ok(())
    })?;
    println!(
        "   open after a crash (torn tail of {} B cut): {} (ms)",
        torn.len(),
        list(&crash)
    );

    // 3. No checkpoint either: every batch of every segment is re-read and
    // CRC checked, and every index rebuilt.
    remove(&dir.join(CLEAN_SHUTDOWN_FILE))?;
    remove(&dir.join(CHECKPOINT_FILE))?;
    let (full, log) = open_checked(&dir, &cfg, end)?;
    log.close()?;
    drop(log);
    println!(
        "   open with no checkpoint (full re-validation of {}): {:.0} ms = {} MB/s (page cache warm, most likely)",
        fmt_bytes(size),
        millis(full),
        fmt_num(mb_per_s(size, full), 0)
    );
    println!(
        "   baseline: stat(2) of the {} files of the directory: {:.3} ms",
        std::fs::read_dir(&dir)?.count(),
        stat_ms
    );

    // 4. The log as written leaves the active segment nearly empty, the
    // cheapest case. Fill it to half a segment with small batches (10 x
    // 100 B: one index entry per ~4 KiB, as a producer of small batches
    // leaves it) and open it cleanly again.
    let small = records(&mut rng, 10, 100, TimestampMs::now());
    let small_len = encode(&small, 0)?.len() as u64;
    let fill = (u64::from(seg) / 2).saturating_sub(active_size) / small_len;
    let log = Log::open(&dir, cfg.clone())?;
    // The checkpoint as a crash during these appends would leave it: the
    // recovery point where this open put it (FsyncPolicy::Never moves it
    // only on a roll, a flush or a close).
    let checkpoint = dir.join(CHECKPOINT_FILE);
    let before =
        std::fs::read(&checkpoint).with_context(|| format!("reading {}", checkpoint.display()))?;
    let start = Instant::now();
    for _ in 0..fill {
        log.append_records(&small)?;
    }
    let end = log.log_end_offset().0;
    log.close()?;
    drop(log);
    let half = files
        .last()
        .map(std::fs::metadata)
        .transpose()?
        .map_or(0, |m| m.len());
    println!(
        "   appended {} batches of 10 x 100 B in {:.1} s: the active segment now holds {}",
        fmt_num(fill as f64, 0),
        start.elapsed().as_secs_f64(),
        fmt_bytes(half)
    );
    let busy = timed_opens(&dir, &cfg, end, |_| Ok(()))?;
    println!(
        "   open after clean close, active segment half full: {} (ms)",
        list(&busy)
    );

    // 5. A crash after those appends: no marker, and the recovery point
    // before them, so all of them are re-validated (the process died; the
    // page cache kept its data).
    let redo = timed_opens(&dir, &cfg, end, |dir| {
        remove(&dir.join(CLEAN_SHUTDOWN_FILE))?;
        std::fs::write(&checkpoint, &before)
            .with_context(|| format!("writing {}", checkpoint.display()))
    })?;
    let redo_bytes = half.saturating_sub(active_size);
    let redo_ms = median(&redo).unwrap_or_default();
    println!(
        "   open after a crash with {} appended since the recovery point: {} (ms), {} MB/s re-validated",
        fmt_bytes(redo_bytes),
        list(&redo),
        fmt_num(redo_bytes as f64 / 1e3 / redo_ms.max(1e-9), 0)
    );
    drop(w);

    let row = |name: &str, ms: f64, target| Row {
        name: name.into(),
        unit: "ms",
        decimals: 2,
        logsync: ms,
        baseline: Some(stat_ms),
        target,
    };
    Ok(vec![
        row(
            &format!("open-clean ({}, median of {OPENS})", fmt_bytes(size)),
            median(&clean).unwrap_or_default(),
            Target::AtMost(50.0),
        ),
        row(
            &format!(
                "open-clean, active segment {} in 1.1 kB batches",
                fmt_bytes(half)
            ),
            median(&busy).unwrap_or_default(),
            Target::AtMost(50.0),
        ),
        row(
            "open-crash (recovery point at end, torn tail)",
            median(&crash).unwrap_or_default(),
            Target::None,
        ),
        row(
            &format!("open-crash, {} to re-validate", fmt_bytes(redo_bytes)),
            redo_ms,
            Target::None,
        ),
        row(
            "open-full-recovery (no checkpoint)",
            millis(full),
            Target::None,
        ),
    ])
}

/// Opens the log `OPENS` times, each after `prepare`, closing it each time;
/// returns the times in milliseconds.
fn timed_opens(
    dir: &Path,
    cfg: &LogConfig,
    end: u64,
    prepare: impl Fn(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    for _ in 0..OPENS {
        prepare(dir)?;
        let (t, log) = open_checked(dir, cfg, end)?;
        log.close()?;
        times.push(millis(t));
    }
    Ok(times)
}

/// Times one `Log::open` and checks that the log still ends at `end`.
fn open_checked(dir: &Path, cfg: &LogConfig, end: u64) -> anyhow::Result<(Duration, Log)> {
    let start = Instant::now();
    let log = Log::open(dir, cfg.clone())?;
    let elapsed = start.elapsed();
    let got = log.log_end_offset().0;
    if got != end {
        bail!("after open the log ends at {got}, expected {end}");
    }
    Ok((elapsed, log))
}

fn remove(path: &Path) -> anyhow::Result<()> {
    std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))
}

fn list(ms: &[f64]) -> String {
    ms.iter()
        .map(|m| format!("{m:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}
