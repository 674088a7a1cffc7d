//! `logsync bench kv`: the key/value store (issue 4's targets), each figure
//! beside a baseline measured in the same run: a `HashMap` in memory for
//! `get` and `set`, `write(2)` + `fdatasync(2)` for group commit, the
//! seed's full-scan `get`, and `read(2)` of the log for compaction.
//!
//! At scale 1 the big store holds 10M keys of 16 B with 32 B values; one
//! store serves the set, get, full-scan and open benchmarks (filled once),
//! the others work in their own directories.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use logsync_kv::{HINT_FILE, KvConfig, Store, WriteBatch};
use logsync_storage::{FsyncPolicy, Offset};

use super::Options;
use super::baseline;
use super::report::{
    Row, Target, fmt_bytes, fmt_num, mb_per_s, median, micros, millis, per_s, percentile,
    print_results, print_row,
};
use super::workload::{Scratch, Workdir, XorShift, ensure_free_space, log_files, total_size};

/// Seed of every generator, printed so that a run can be repeated.
const SEED: u64 = 0x6b76_2d62_656e_6368;
/// Keys per write batch when loading.
const BATCH: usize = 1000;
/// Distinct values (cycled) so that generating them costs nothing.
const VALUES: usize = 4096;
const VALUE_LEN: usize = 32;

const BENCHES: [(&str, &str); 6] = [
    (
        "set",
        "load N keys (10M at scale 1) in write batches of 1,000, fsync never, vs HashMap::insert",
    ),
    (
        "get",
        "get of a random present key, hot, one thread, vs HashMap::get + copy",
    ),
    (
        "full-scan",
        "the seed's get: scan the whole log for one key, vs a keydir get",
    ),
    (
        "open",
        "open the N-key store with its checkpoint, vs without (full rebuild)",
    ),
    (
        "group-commit",
        "8 threads, set of one key each, fsync every batch, vs 1 thread write+fdatasync",
    ),
    (
        "compact",
        "compact a store where each of N/10 keys was written 10 times, vs read(2) of its log",
    ),
];

fn key(i: u64) -> Vec<u8> {
    format!("user:{i:011}").into_bytes()
}

fn values() -> Vec<Bytes> {
    let mut rng = XorShift::new(SEED);
    (0..VALUES)
        .map(|_| Bytes::from(rng.text(VALUE_LEN)))
        .collect()
}

fn config(fsync: FsyncPolicy) -> KvConfig {
    KvConfig {
        fsync: Some(fsync),
        ..KvConfig::default()
    }
}

fn row(name: &str, unit: &'static str, decimals: usize, logsync: f64) -> Row {
    Row {
        name: name.to_owned(),
        unit,
        decimals,
        logsync,
        baseline: None,
        target: Target::None,
    }
}

/// The big store, filled once.
struct Big {
    // Dropped in this order: the store before its directory goes.
    store: Store,
    dir: Workdir,
    keys: u64,
}

/// Fills the big store; returns it and the set rows.
fn fill_big(
    scratch: &Scratch,
    keys: u64,
    vals: &[Bytes],
    measure: bool,
) -> anyhow::Result<(Big, Vec<Row>)> {
    ensure_free_space(scratch.root(), keys * 120, "the big store")?;
    let dir = scratch.subdir("big")?;
    let store = Store::open(dir.join("data"), config(FsyncPolicy::Never))?;
    let mut batch = WriteBatch::new();
    let start = Instant::now();
    for i in 0..keys {
        batch.set(key(i), vals[(i as usize) % VALUES].clone());
        if batch.len() == BATCH {
            store.write_batch(&batch)?;
            batch.clear();
        }
    }
    store.write_batch(&batch)?;
    let elapsed = start.elapsed();
    let log_bytes = store.stats()?.log_bytes;
    println!(
        "   loaded {} keys in {:.1} s, {} of log",
        fmt_num(keys as f64, 0),
        elapsed.as_secs_f64(),
        fmt_bytes(log_bytes)
    );
    if !measure {
        return Ok((Big { dir, store, keys }, Vec::new()));
    }
    // One set per call (one record batch, one write(2) each), for 1 s;
    // before the baseline below, whose 10M freed allocations would leave
    // the allocator consolidating under this loop.
    let single_start = Instant::now();
    let mut single = 0u64;
    while single_start.elapsed() < Duration::from_secs(1) {
        store.set(&key(single % keys), &vals[(single as usize) % VALUES])?;
        single += 1;
    }
    let single_elapsed = single_start.elapsed();
    // Baseline: the same inserts into a HashMap (owned keys and values).
    let base = {
        let mut map: HashMap<Vec<u8>, Bytes> = HashMap::new();
        let start = Instant::now();
        for i in 0..keys {
            map.insert(key(i), vals[(i as usize) % VALUES].clone());
        }
        let t = start.elapsed();
        drop(map);
        t
    };
    let mut rows = vec![Row {
        target: Target::AtLeast(1_000_000.0),
        baseline: Some(per_s(keys, base)),
        ..row(
            "set, fsync never, batches of 1,000",
            "ops/s",
            0,
            per_s(keys, elapsed),
        )
    }];
    rows.push(Row {
        baseline: Some(per_s(keys, base)),
        ..row(
            "set, fsync never, one key per call",
            "ops/s",
            0,
            per_s(single, single_elapsed),
        )
    });
    Ok((Big { dir, store, keys }, rows))
}

fn get_bench(big: &Big, vals: &[Bytes]) -> anyhow::Result<Vec<Row>> {
    const SAMPLES: usize = 1_000_000;
    let mut rng = XorShift::new(SEED ^ 1);
    let sample: Vec<Vec<u8>> = (0..SAMPLES).map(|_| key(rng.below(big.keys))).collect();
    // Warm up (the log was just written: its pages are in the cache).
    for k in sample.iter().take(100_000) {
        big.store
            .get(k)?
            .ok_or_else(|| anyhow!("a loaded key is missing"))?;
    }
    let mut lat = Vec::with_capacity(SAMPLES);
    for k in &sample {
        let t = Instant::now();
        let v = big.store.get(k)?;
        lat.push(t.elapsed());
        if v.is_none() {
            bail!("key {} missing", String::from_utf8_lossy(k));
        }
    }
    lat.sort_unstable();
    let mut map: HashMap<Vec<u8>, Bytes> = HashMap::with_capacity(big.keys as usize);
    for i in 0..big.keys {
        map.insert(key(i), vals[(i as usize) % VALUES].clone());
    }
    let mut base = Vec::with_capacity(SAMPLES);
    let mut sink = 0usize;
    for k in &sample {
        let t = Instant::now();
        let v = map.get(k).map(|v| v.to_vec());
        base.push(t.elapsed());
        sink += v.map_or(0, |v| v.len());
    }
    drop(map);
    base.sort_unstable();
    if sink == 0 {
        bail!("the baseline found nothing");
    }
    let p = |s: &[Duration], q: f64| percentile(s, q).map_or(0.0, micros);
    let stats = big.store.stats()?;
    println!(
        "   {} samples over {} keys; timings include one Instant::now() (~20-30 ns)",
        fmt_num(SAMPLES as f64, 0),
        fmt_num(big.keys as f64, 0)
    );
    Ok(vec![
        Row {
            target: Target::AtMost(1.0),
            baseline: Some(p(&base, 50.0)),
            ..row("get p50, hot", "µs", 3, p(&lat, 50.0))
        },
        Row {
            target: Target::AtMost(5.0),
            baseline: Some(p(&base, 99.0)),
            ..row("get p99, hot", "µs", 3, p(&lat, 99.0))
        },
        row(
            "keydir memory per key, after loading (vectors grown by doubling)",
            "B",
            1,
            stats.index_memory_bytes as f64 / stats.keys.max(1) as f64,
        ),
    ])
}

fn full_scan_bench(big: &Big) -> anyhow::Result<Vec<Row>> {
    let wanted = key(big.keys / 2);
    let log = big.store.log();
    let start = Instant::now();
    let mut found = None;
    for r in log.records(Offset(0), usize::MAX)? {
        let r = r?;
        if r.key.as_deref() == Some(wanted.as_slice()) {
            found = r.value;
        }
    }
    let scan = start.elapsed();
    let want = found.ok_or_else(|| anyhow!("the scan did not find the key"))?;
    let t = Instant::now();
    let got = big.store.get(&wanted)?;
    let keydir = t.elapsed();
    if got.as_ref() != Some(&want) {
        bail!("the keydir and the scan disagree");
    }
    Ok(vec![Row {
        baseline: Some(millis(scan)),
        ..row(
            "get of one key, keydir (cold call) vs seed's full scan",
            "ms",
            4,
            millis(keydir),
        )
    }])
}

fn open_bench(big: Big) -> anyhow::Result<Vec<Row>> {
    const ROUNDS: usize = 3;
    let Big { store, dir, keys } = big;
    let t = Instant::now();
    store.close()?;
    let close = t.elapsed();
    drop(store);
    let data = dir.join("data");
    let hint = data.join("kv-0").join(HINT_FILE);
    let aside = data.join("kv-0").join("kv.hint.aside");
    let hint_bytes = std::fs::metadata(&hint).map(|m| m.len()).unwrap_or(0);
    // Alternate the two opens and keep the median of each, so that a burst
    // of noise on a shared machine does not decide the ratio alone.
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let mut memory = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let store = Store::open(&data, config(FsyncPolicy::Never))?;
        with.push(t.elapsed().as_secs_f64());
        let report = store.open_report().clone();
        if !report.from_checkpoint || report.replayed_records != 0 || store.len() != keys {
            bail!("open with the checkpoint went wrong: {report:?}");
        }
        memory = store.stats()?.index_memory_bytes;
        // Nothing new: close leaves the checkpoint as it is.
        store.close()?;
        drop(store);
        std::fs::rename(&hint, &aside).with_context(|| format!("moving {}", hint.display()))?;
        let t = Instant::now();
        let store = Store::open(
            &data,
            KvConfig {
                checkpoint_min_records: u64::MAX,
                ..config(FsyncPolicy::Never)
            },
        )?;
        without.push(t.elapsed().as_secs_f64());
        let report = store.open_report().clone();
        if report.from_checkpoint || store.len() != keys {
            bail!("open without the checkpoint went wrong: {report:?}");
        }
        store.close()?;
        drop(store);
        std::fs::rename(&aside, &hint).with_context(|| format!("restoring {}", hint.display()))?;
    }
    drop(dir);
    let with = median(&with).unwrap_or(0.0);
    let without = median(&without).unwrap_or(0.0);
    println!(
        "   checkpoint {} for {} keys, written at close in {:.2} s; median of {ROUNDS} opens each",
        fmt_bytes(hint_bytes),
        fmt_num(keys as f64, 0),
        close.as_secs_f64()
    );
    Ok(vec![
        Row {
            target: Target::AtMost(1000.0),
            baseline: Some(without * 1e3),
            ..row(
                "open with checkpoint (baseline: full rebuild)",
                "ms",
                0,
                with * 1e3,
            )
        },
        Row {
            target: Target::AtLeast(10.0),
            ..row(
                "open speed-up from the checkpoint",
                "x",
                1,
                without / with.max(1e-9),
            )
        },
        row(
            "keydir memory per key, opened from the checkpoint",
            "B",
            1,
            memory as f64 / keys.max(1) as f64,
        ),
    ])
}

fn group_commit_bench(
    scratch: &Scratch,
    dur: Duration,
    vals: &[Bytes],
) -> anyhow::Result<Vec<Row>> {
    const THREADS: u64 = 8;
    ensure_free_space(scratch.root(), 256 << 20, "group-commit")?;
    let w = scratch.subdir("group-commit")?;
    let chunk = vec![b'x'; 16 + VALUE_LEN + 70];
    let mut base = baseline::write_fdatasync_loop(&w.join("baseline.bin"), &chunk, dur)?;
    let base_rate = per_s(base.len() as u64, dur);
    base.sort_unstable();
    let store = Arc::new(Store::open(
        w.join("data"),
        config(FsyncPolicy::EveryBatch),
    )?);
    let start = Instant::now();
    let deadline = start + dur;
    let results: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&store);
                s.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut lat = Vec::new();
                    let mut i = 0u64;
                    loop {
                        let now = Instant::now();
                        if now >= deadline {
                            return Ok(lat);
                        }
                        store.set(
                            &key(t * 1_000_000 + i % 100_000),
                            &vals[(i as usize) % VALUES],
                        )?;
                        lat.push(now.elapsed());
                        i += 1;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a writer thread panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut lat = Vec::new();
    for r in results {
        lat.extend(r?);
    }
    lat.sort_unstable();
    let p = |s: &[Duration], q: f64| percentile(s, q).map_or(0.0, millis);
    store.close()?;
    drop(store);
    drop(w);
    Ok(vec![
        Row {
            baseline: Some(base_rate),
            ..row(
                "set, fsync per batch, 8 writers",
                "ops/s",
                0,
                per_s(lat.len() as u64, elapsed),
            )
        },
        Row {
            baseline: Some(p(&base, 99.0)),
            ..row(
                "set, fsync per batch, 8 writers, p99",
                "ms",
                3,
                p(&lat, 99.0),
            )
        },
    ])
}

fn compact_bench(scratch: &Scratch, keys: u64, vals: &[Bytes]) -> anyhow::Result<Vec<Row>> {
    const OVERWRITES: u64 = 10;
    ensure_free_space(scratch.root(), keys * OVERWRITES * 150, "compact")?;
    let w = scratch.subdir("compact")?;
    let store = Store::open(w.join("data"), config(FsyncPolicy::Never))?;
    let mut batch = WriteBatch::new();
    for round in 0..OVERWRITES {
        for i in 0..keys {
            batch.set(key(i), vals[((i + round * 7) as usize) % VALUES].clone());
            if batch.len() == BATCH {
                store.write_batch(&batch)?;
                batch.clear();
            }
        }
    }
    store.write_batch(&batch)?;
    store.log().roll_active()?;
    let files = log_files(&w.join("data").join("kv-0"))?;
    let size = total_size(&files)?;
    let (read, read_time) = baseline::read_files(&files, 1 << 20)?;
    println!(
        "   {} keys x {OVERWRITES} writes: {} of log",
        fmt_num(keys as f64, 0),
        fmt_bytes(size)
    );
    let report = store.compact()?;
    for i in [0, keys / 2, keys - 1] {
        let want = &vals[((i + (OVERWRITES - 1) * 7) as usize) % VALUES];
        if store.get(&key(i))?.as_ref() != Some(want) {
            bail!("wrong value after compaction");
        }
    }
    store.close()?;
    drop(store);
    drop(w);
    println!(
        "   before {}, after {}, reclaimed {} in {:.2} s (keydir rebuild and checkpoint included)",
        fmt_bytes(report.bytes_before),
        fmt_bytes(report.bytes_after),
        fmt_bytes(report.bytes_reclaimed()),
        report.duration.as_secs_f64()
    );
    Ok(vec![
        Row {
            baseline: Some(mb_per_s(read, read_time)),
            ..row(
                "compact 10x-overwritten store (baseline: read(2) of its log)",
                "MB/s",
                0,
                mb_per_s(report.bytes_before, report.duration),
            )
        },
        row(
            "compact: bytes reclaimed",
            "MB",
            1,
            report.bytes_reclaimed() as f64 / 1e6,
        ),
    ])
}

/// Runs the kv suite and prints the results and the final table.
pub fn run(opts: &Options<'_>) -> anyhow::Result<()> {
    let names: Vec<&str> = BENCHES.iter().map(|(n, _)| *n).collect();
    let scratch = opts.prepare("kv", &names, 10.0)?;
    let want = |name: &str| opts.wants(name);
    let keys = ((10_000_000.0 * opts.scale) as u64).max(10_000);
    let dur = Duration::from_secs_f64((5.0 * opts.scale).clamp(1.0, 30.0));
    println!("# logsync bench kv");
    println!();
    for (k, v) in super::report::machine_description() {
        println!("{k:>9}: {v}");
    }
    println!("{:>9}: {}", "directory", scratch.root().display());
    println!(
        "{:>9}: {} ({} keys of 16 B, values of {VALUE_LEN} B; seed {SEED:#x}); MB = 10^6 bytes",
        "scale",
        opts.scale,
        fmt_num(keys as f64, 0)
    );
    println!(
        "{:>9}: {}",
        "command",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let vals = values();
    let mut rows = Vec::new();
    let mut section = |name: &str, got: Vec<Row>, started: Instant| {
        for r in &got {
            print_row(r);
        }
        println!("   ({name} took {:.1} s)", started.elapsed().as_secs_f64());
        rows.extend(got);
    };
    let header = |name: &str| {
        let what = BENCHES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, w)| *w);
        println!();
        println!("## {name}: {what}");
    };
    if ["set", "get", "full-scan", "open"].iter().any(|n| want(n)) {
        let started = Instant::now();
        if want("set") {
            header("set");
        } else {
            println!();
            println!("## preparing the {}-key store", fmt_num(keys as f64, 0));
        }
        let (big, set_rows) =
            fill_big(&scratch, keys, &vals, want("set")).context("benchmark set")?;
        section(
            "set",
            if want("set") { set_rows } else { Vec::new() },
            started,
        );
        if want("get") {
            header("get");
            let started = Instant::now();
            let got = get_bench(&big, &vals).context("benchmark get")?;
            section("get", got, started);
        }
        if want("full-scan") {
            header("full-scan");
            let started = Instant::now();
            let got = full_scan_bench(&big).context("benchmark full-scan")?;
            section("full-scan", got, started);
        }
        if want("open") {
            header("open");
            let started = Instant::now();
            let got = open_bench(big).context("benchmark open")?;
            section("open", got, started);
        }
    }
    if want("group-commit") {
        header("group-commit");
        let started = Instant::now();
        let got = group_commit_bench(&scratch, dur, &vals).context("benchmark group-commit")?;
        section("group-commit", got, started);
    }
    if want("compact") {
        header("compact");
        let started = Instant::now();
        let got =
            compact_bench(&scratch, (keys / 10).max(1000), &vals).context("benchmark compact")?;
        section("compact", got, started);
    }
    print_results(&rows);
    Ok(())
}
