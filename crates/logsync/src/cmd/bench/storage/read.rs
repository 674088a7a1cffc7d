//! Read benchmarks: a whole log front to back, and single records at random.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use logsync_storage::{FsyncPolicy, Log, Offset, TimestampMs};

use super::{Ctx, SEED, config, fill_log};
use crate::cmd::bench::baseline;
use crate::cmd::bench::report::{Row, Target, fmt_num, mb_per_s, median, micros, percentile};
use crate::cmd::bench::workload::{XorShift, ensure_free_space, log_files, records, total_size};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const READ_BYTES: usize = 1 << 20;

/// sequential-read: `Log::read(offset, 1 MiB)` following `next_offset` to the
/// end of a warm 1 GiB log, against `read(2)` of its `.log` files with 1 MiB
/// buffers.
pub fn sequential_read(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let mut rng = XorShift::new(SEED);
    let recs = records(&mut rng, 1000, 100, TimestampMs::now());
    let target = ctx.scaled(GIB, 8 * MIB);
    ensure_free_space(
        ctx.scratch.root(),
        target + target / 10 + 64 * MIB,
        "sequential-read",
    )?;
    let w = ctx.scratch.subdir("sequential-read")?;
    let dir = w.join("log");
    let cfg = config(FsyncPolicy::Never, GIB as u32);
    // ~109 kB per batch of 1,000 x 100 B.
    let batches = (target / 109_000).max(1);
    fill_log(&dir, cfg.clone(), &recs, batches)?;
    let files = log_files(&dir)?;
    let size = total_size(&files)?;
    let log = Log::open(&dir, cfg)?;
    // Warm the page cache: both sides then read from memory.
    baseline::read_files(&files, READ_BYTES)?;
    println!(
        "   {} reads of up to 1 MiB; page cache warm; median of {} rounds",
        fmt_num((size / MIB).max(1) as f64, 0),
        ctx.rounds
    );
    let (mut log_rates, mut base_rates) = (Vec::new(), Vec::new());
    for round in 1..=ctx.rounds {
        let (base_bytes, base_time) = baseline::read_files(&files, READ_BYTES)?;
        let (bytes, elapsed, reads) = read_all(&log)?;
        if bytes != size || base_bytes != size {
            bail!(
                "read {bytes} bytes through the log and {base_bytes} with read(2); the .log files hold {size}"
            );
        }
        log_rates.push(mb_per_s(bytes, elapsed));
        base_rates.push(mb_per_s(base_bytes, base_time));
        println!(
            "   round {round}: logsync {} MB/s ({reads} reads in {:.3} s); read(2) {} MB/s in {:.3} s",
            fmt_num(mb_per_s(bytes, elapsed), 0),
            elapsed.as_secs_f64(),
            fmt_num(mb_per_s(base_bytes, base_time), 0),
            base_time.as_secs_f64()
        );
    }
    log.close()?;
    Ok(vec![Row {
        name: "sequential-read".into(),
        unit: "MB/s",
        decimals: 0,
        logsync: median(&log_rates).unwrap_or_default(),
        baseline: median(&base_rates),
        target: Target::RatioAtLeast(0.5),
    }])
}

/// Reads the whole log with `Log::read` in 1 MiB steps: bytes, time, reads.
fn read_all(log: &Log) -> anyhow::Result<(u64, Duration, u64)> {
    let end = log.log_end_offset();
    let mut next = log.log_start_offset();
    let (mut bytes, mut reads) = (0u64, 0u64);
    let start = Instant::now();
    while next < end {
        let r = log.read(next, READ_BYTES)?;
        if r.bytes.is_empty() || r.next_offset <= next {
            bail!("Log::read at offset {next} made no progress (log end {end})");
        }
        bytes += r.bytes.len() as u64;
        reads += 1;
        next = r.next_offset;
    }
    Ok((bytes, start.elapsed(), reads))
}

/// random-read: one record at a random offset of a warm log of 10M records,
/// through `Log::records(offset, 1)` and through `Log::read(offset, 1)`,
/// against `pread(2)` of 4 KiB at random aligned positions of its files.
pub fn random_read(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    const PER_BATCH: u64 = 10;
    // Single-record reads of a slow path could take minutes at 200,000:
    // each variant stops after this long (reported) once it has 100.
    const MIN_SAMPLES: usize = 100;
    let budget = Duration::from_secs_f64((30.0 * ctx.scale).clamp(2.0, 30.0));
    let mut rng = XorShift::new(SEED);
    let recs = records(&mut rng, PER_BATCH as usize, 100, TimestampMs::now());
    let n_records = ctx.scaled(10_000_000, 20_000) / PER_BATCH * PER_BATCH;
    let queries = ctx.scaled(200_000, 2_000) as usize;
    // ~1,150 B per batch of 10 x 100 B.
    let estimate = n_records / PER_BATCH * 1_150;
    ensure_free_space(
        ctx.scratch.root(),
        estimate + estimate / 10 + 64 * MIB,
        "random-read",
    )?;
    println!(
        "   {} records of 100 B appended {PER_BATCH} per batch (one record per batch would take {}x as many appends \
         and store ~50% more bytes); {} random single-record reads per variant; page cache warm",
        fmt_num(n_records as f64, 0),
        PER_BATCH,
        fmt_num(queries as f64, 0)
    );
    let w = ctx.scratch.subdir("random-read")?;
    let dir = w.join("log");
    let cfg = config(FsyncPolicy::Never, GIB as u32);
    fill_log(&dir, cfg.clone(), &recs, n_records / PER_BATCH)?;
    let files = log_files(&dir)?;
    let log = Log::open(&dir, cfg)?;
    baseline::read_files(&files, READ_BYTES)?;
    let offsets: Vec<u64> = (0..queries).map(|_| rng.below(n_records)).collect();
    // Untimed warm-up: loads every segment's indexes once.
    for &o in offsets.iter().take(1000) {
        log.read(Offset(o), 1)?;
    }

    let mut via_read = Vec::with_capacity(queries);
    let start = Instant::now();
    for &o in &offsets {
        let t = Instant::now();
        let r = log.read(Offset(o), 1)?;
        via_read.push(t.elapsed());
        if r.bytes.is_empty() {
            bail!("Log::read at offset {o} returned nothing");
        }
        if via_read.len() >= MIN_SAMPLES && start.elapsed() > budget {
            break;
        }
    }
    let mut via_records = Vec::with_capacity(queries);
    let start = Instant::now();
    for &o in &offsets {
        let t = Instant::now();
        let got = log.records(Offset(o), 1)?.next().transpose()?;
        via_records.push(t.elapsed());
        match got {
            Some(r) if r.offset.0 == o => {}
            other => bail!(
                "Log::records at offset {o} gave {:?}",
                other.map(|r| r.offset)
            ),
        }
        if via_records.len() >= MIN_SAMPLES && start.elapsed() > budget {
            break;
        }
    }
    log.close()?;
    drop(log);
    let mut base =
        baseline::random_preads(&files, 4096, queries, &mut rng).context("baseline preads")?;
    drop(w);

    let mut rows = Vec::new();
    base.sort_unstable();
    let bp = |q| percentile(&base, q).map(micros);
    for (label, mut lat) in [
        ("Log::records(o, 1).next()", via_records),
        ("Log::read(o, 1)", via_read),
    ] {
        lat.sort_unstable();
        let p = |q| percentile(&lat, q).map_or(0.0, micros);
        let sampled = if lat.len() < queries {
            format!(
                " (stopped after {} reads: {:.0} s budget)",
                lat.len(),
                budget.as_secs_f64()
            )
        } else {
            String::new()
        };
        println!(
            "   {label}: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, mean {:.2} µs{sampled}",
            p(50.0),
            p(99.0),
            p(99.9),
            micros(lat.iter().sum::<Duration>()) / lat.len().max(1) as f64
        );
        for (q, target) in [
            (50.0, Target::AtMost(2.0)),
            (99.0, Target::AtMost(20.0)),
            (99.9, Target::None),
        ] {
            rows.push(Row {
                name: format!("random-read p{q} via {label}"),
                unit: "µs",
                decimals: 2,
                logsync: p(q),
                baseline: bp(q),
                target,
            });
        }
    }
    println!(
        "   baseline pread(2) of 4 KiB: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs",
        bp(50.0).unwrap_or_default(),
        bp(99.0).unwrap_or_default(),
        bp(99.9).unwrap_or_default()
    );
    Ok(rows)
}
