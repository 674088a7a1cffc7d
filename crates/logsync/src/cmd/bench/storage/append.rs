//! Append benchmarks: batched, one record at a time, and group commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use logsync_storage::batch::encode_batch;
use logsync_storage::{BatchSpec, FsyncPolicy, Log, Record, TimestampMs};

use super::{Ctx, SEED, config, duration};
use crate::cmd::bench::baseline;
use crate::cmd::bench::report::{
    Row, Target, fmt_bytes, fmt_num, mb_per_s, median, micros, per_s, percentile,
};
use crate::cmd::bench::workload::{XorShift, ensure_free_space, records};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// One batch of `records` as the log would store it at `base_offset`.
pub(super) fn encode(records: &[Record], base_offset: u64) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_batch(
        &mut out,
        &BatchSpec {
            base_offset,
            ..BatchSpec::default()
        },
        records,
    )
    .map_err(|e| anyhow!("encoding a batch: {e}"))?;
    Ok(out)
}

/// append-batch: `Log::append_records` of 1,000 x 100 B records per call
/// against `write(2)` of the same encoded batches, no fsync on either side.
pub fn append_batch(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    const PER_BATCH: usize = 1000;
    const VALUE: usize = 100;
    let mut rng = XorShift::new(SEED);
    let recs = records(&mut rng, PER_BATCH, VALUE, TimestampMs::now());
    let batch_len = encode(&recs, 0)?.len() as u64;
    let batches = (ctx.scaled(GIB, 4 * MIB) / batch_len).max(4);
    let total = batches * batch_len;
    ensure_free_space(
        ctx.scratch.root(),
        total + total / 10 + 64 * MIB,
        "append-batch",
    )?;
    // The baseline cycles through up to 64 distinct encoded batches (7 MB:
    // more than the CPU caches hold, like the log's own stream), rather
    // than holding the whole run in memory.
    // The noisiest figure on a shared VM, and the target closest to its
    // baseline: more rounds than the others.
    let rounds = ctx.rounds.max(5);
    let ring = (0..batches.min(64))
        .map(|i| encode(&recs, i * PER_BATCH as u64))
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!(
        "   {} batches of {} B ({} records of {VALUE} B, null keys), {} per run; segment.bytes 1 GiB; median of {} rounds",
        fmt_num(batches as f64, 0),
        fmt_num(batch_len as f64, 0),
        fmt_num(PER_BATCH as f64, 0),
        fmt_bytes(total),
        rounds
    );
    let step = u64::from(config(FsyncPolicy::Never, GIB as u32).preallocate_bytes);
    let (mut log_rates, mut payload_rates, mut base_rates, mut raw_rates, mut prealloc_rates) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let w = ctx.scratch.subdir(&format!("append-batch-{round}"))?;
        // The page cache of this VM is faster or slower from one second to
        // the next: alternate which side goes first.
        let baseline_first = round % 2 == 1;
        let warm = || baseline::warm_page_cache(&w.join("warm.bin"), total);
        let baselines = || -> anyhow::Result<_> {
            let base_file = w.join("baseline.bin");
            warm()?;
            let (base_bytes, base_time) = baseline::write_chunks(&base_file, &ring, batches)?;
            std::fs::remove_file(&base_file)?;
            let pre = if step > 0 {
                warm()?;
                let (b, t) = baseline::write_chunks_preallocated(&base_file, &ring, batches, step)?;
                std::fs::remove_file(&base_file)?;
                Some(mb_per_s(b, t))
            } else {
                None
            };
            Ok((base_bytes, base_time, pre))
        };
        let mut early = None;
        if baseline_first {
            early = Some(baselines()?);
        }
        let log = Log::open(w.join("log"), config(FsyncPolicy::Never, GIB as u32))?;
        warm()?;
        let start = Instant::now();
        for _ in 0..batches {
            log.append_records(&recs)?;
        }
        let elapsed = start.elapsed();
        let written = log.stats()?.size_bytes;
        log.close()?;
        drop(log);
        std::fs::remove_dir_all(w.join("log"))?;
        // The broker's path: batches arrive encoded and are validated
        // (header, CRC, every record) and copied, not encoded.
        let log = Log::open(w.join("log-raw"), config(FsyncPolicy::Never, GIB as u32))?;
        warm()?;
        let start = Instant::now();
        for batch in ring.iter().cycle().take(batches as usize) {
            log.append(batch)?;
        }
        let raw_elapsed = start.elapsed();
        let raw_written = log.stats()?.size_bytes;
        log.close()?;
        drop(log);
        std::fs::remove_dir_all(w.join("log-raw"))?;
        let (base_bytes, base_time, pre) = match early {
            Some(b) => b,
            None => baselines()?,
        };
        if written != base_bytes || raw_written != base_bytes {
            bail!(
                "logsync wrote {written} and {raw_written} bytes of .log files, the baseline {base_bytes}: not the same work"
            );
        }
        raw_rates.push(mb_per_s(raw_written, raw_elapsed));
        prealloc_rates.extend(pre);

        let payload = batches * (PER_BATCH * VALUE) as u64;
        log_rates.push(mb_per_s(written, elapsed));
        payload_rates.push(mb_per_s(payload, elapsed));
        base_rates.push(mb_per_s(base_bytes, base_time));
        println!(
            "   round {round}: append_records {} MB/s written ({} MB/s payload) in {:.2} s; append (pre-encoded) {} MB/s; \
             write(2) {} MB/s in {:.2} s; write(2) into reserved blocks {} MB/s",
            fmt_num(mb_per_s(written, elapsed), 0),
            fmt_num(mb_per_s(payload, elapsed), 0),
            elapsed.as_secs_f64(),
            fmt_num(mb_per_s(raw_written, raw_elapsed), 0),
            fmt_num(mb_per_s(base_bytes, base_time), 0),
            base_time.as_secs_f64(),
            pre.map_or_else(|| "-".to_owned(), |r| fmt_num(r, 0)),
        );
    }
    let payload_share = (PER_BATCH * VALUE) as f64 / batch_len as f64;
    let base = median(&base_rates).unwrap_or_default();
    Ok(vec![
        Row {
            name: "append-batch, bytes written".into(),
            unit: "MB/s",
            decimals: 0,
            logsync: median(&log_rates).unwrap_or_default(),
            baseline: Some(base),
            target: Target::RatioAtLeast(0.7),
        },
        Row {
            name: "append-batch, record payload".into(),
            unit: "MB/s",
            decimals: 0,
            logsync: median(&payload_rates).unwrap_or_default(),
            baseline: Some(base * payload_share),
            target: Target::None,
        },
        Row {
            name: "append-batch, baseline write(2) into blocks reserved the same way".into(),
            unit: "MB/s",
            decimals: 0,
            logsync: median(&log_rates).unwrap_or_default(),
            baseline: median(&prealloc_rates),
            target: Target::None,
        },
        Row {
            name: "append-batch via Log::append (pre-encoded)".into(),
            unit: "MB/s",
            decimals: 0,
            logsync: median(&raw_rates).unwrap_or_default(),
            baseline: Some(base),
            target: Target::None,
        },
    ])
}

/// append-single: one 100 B record per `Log::append_records` call against
/// one `write(2)` of the same encoded batch per call, no fsync.
pub fn append_single(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let mut rng = XorShift::new(SEED);
    let one = records(&mut rng, 1, 100, TimestampMs::now());
    let batch = encode(&one, 0)?;
    let count = ctx.scaled(5_000_000, 10_000);
    let total = count * batch.len() as u64;
    ensure_free_space(
        ctx.scratch.root(),
        total + total / 10 + 64 * MIB,
        "append-single",
    )?;
    println!(
        "   {} appends of one {} B batch (one 100 B record), {} per run; median of {} rounds",
        fmt_num(count as f64, 0),
        batch.len(),
        fmt_bytes(total),
        ctx.rounds
    );
    let chunks = [batch];
    let (mut log_rates, mut base_rates) = (Vec::new(), Vec::new());
    for round in 1..=ctx.rounds {
        let w = ctx.scratch.subdir(&format!("append-single-{round}"))?;
        let base_file = w.join("baseline.bin");
        let (_, base_time) = baseline::write_chunks(&base_file, &chunks, count)?;
        std::fs::remove_file(&base_file)?;

        let log = Log::open(w.join("log"), config(FsyncPolicy::Never, GIB as u32))?;
        let start = Instant::now();
        for _ in 0..count {
            log.append_records(&one)?;
        }
        let elapsed = start.elapsed();
        let end = log.log_end_offset().0;
        log.close()?;
        drop(log);
        if end != count {
            bail!("log ends at offset {end} after {count} appends");
        }
        log_rates.push(per_s(count, elapsed));
        base_rates.push(per_s(count, base_time));
        println!(
            "   round {round}: logsync {} records/s ({:.2} µs per append); write(2) {} calls/s ({:.2} µs per call)",
            fmt_num(per_s(count, elapsed), 0),
            micros(elapsed) / count as f64,
            fmt_num(per_s(count, base_time), 0),
            micros(base_time) / count as f64
        );
    }
    Ok(vec![Row {
        name: "append-single".into(),
        unit: "records/s",
        decimals: 0,
        logsync: median(&log_rates).unwrap_or_default(),
        baseline: median(&base_rates),
        target: Target::AtLeast(1_000_000.0),
    }])
}

/// group-commit: 4 threads appending one 1 KiB record per call to one log
/// with `FsyncPolicy::EveryBatch`, against one thread doing `write(2)` +
/// `fdatasync(2)` of the same batch bytes, for the same time.
pub fn group_commit(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    const THREADS: usize = 4;
    let mut rng = XorShift::new(SEED);
    let one = records(&mut rng, 1, 1024, TimestampMs::now());
    let batch = encode(&one, 0)?;
    let dur = duration(ctx);
    ensure_free_space(ctx.scratch.root(), 256 * MIB, "group-commit")?;
    println!(
        "   {:.1} s each; batches of one 1 KiB record ({} B encoded); the baseline writes the same {} B per fdatasync",
        dur.as_secs_f64(),
        batch.len(),
        batch.len()
    );
    let w = ctx.scratch.subdir("group-commit")?;
    let mut base_lat = baseline::write_fdatasync_loop(&w.join("baseline.bin"), &batch, dur)?;
    let base_rate = per_s(base_lat.len() as u64, dur);
    base_lat.sort_unstable();

    let log = Arc::new(Log::open(
        w.join("log"),
        config(FsyncPolicy::EveryBatch, GIB as u32),
    )?);
    let start = Instant::now();
    let deadline = start + dur;
    let results: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let log = Arc::clone(&log);
                let one = one.clone();
                s.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut lat = Vec::new();
                    loop {
                        let t = Instant::now();
                        if t >= deadline {
                            return Ok(lat);
                        }
                        log.append_records(&one)?;
                        lat.push(t.elapsed());
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("an appender thread panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut lat = Vec::new();
    for r in results {
        lat.extend(r?);
    }
    let appended = lat.len() as u64;
    let end = log.log_end_offset().0;
    log.close()?;
    drop(log);
    drop(w);
    if end != appended {
        bail!("log ends at offset {end} after {appended} appends");
    }
    lat.sort_unstable();
    let rate = per_s(appended, elapsed);
    let p = |v: &[Duration], q| percentile(v, q).map_or(0.0, micros);
    println!(
        "   logsync: {} batches in {:.2} s, append latency p50 {:.0} µs, p99 {:.0} µs",
        fmt_num(appended as f64, 0),
        elapsed.as_secs_f64(),
        p(&lat, 50.0),
        p(&lat, 99.0)
    );
    println!(
        "   baseline: {} write+fdatasync in {:.2} s, latency p50 {:.0} µs, p99 {:.0} µs",
        fmt_num(base_lat.len() as f64, 0),
        dur.as_secs_f64(),
        p(&base_lat, 50.0),
        p(&base_lat, 99.0)
    );
    Ok(vec![Row {
        name: format!("group-commit, {THREADS} threads"),
        unit: "batches/s",
        decimals: 0,
        logsync: rate,
        baseline: Some(base_rate),
        target: Target::RatioAtLeast(3.0),
    }])
}
