//! Recovery after damage: torn tails cut at every byte, bit flips anywhere,
//! missing or damaged index files and checkpoints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use logsync_storage::batch;
use logsync_storage::fs::FileSystem;
use logsync_storage::log::CLEAN_SHUTDOWN_FILE;
use logsync_storage::{Error, FsyncPolicy, Log, LogConfig, Offset, TimestampMs};
use logsync_testkit::SimFs;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{record, small_config, value_for};

/// A closed log of `n` single-record batches in a temp dir.
fn build(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    for i in 0..n {
        log.append_records(&[record(i)]).expect("append");
    }
    log.close().expect("close");
    dir
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.path().join(e.file_name())).expect("copy");
    }
    to
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

/// Every offset's record, or the error reading it.
fn read_each(log: &Log) -> Vec<Result<Vec<u8>, Error>> {
    (log.log_start_offset().0..log.log_end_offset().0)
        .map(|o| {
            let r = log.records(Offset(o), 1)?.next().ok_or(Error::Closed)??;
            assert_eq!(r.offset, Offset(o), "records(o) starts at o");
            Ok(r.value.map(|v| v.to_vec()).unwrap_or_default())
        })
        .collect()
}

#[test]
fn reopen_cuts_a_torn_tail_at_every_byte_of_the_last_batches() {
    let original = build(40);
    let last = files(original.path(), "log").pop().expect("a segment");
    let bytes = Bytes::from(std::fs::read(&last).expect("read"));
    let batches = batch::split_batches(&bytes).expect("valid");
    let mut boundaries = vec![0u64];
    for b in &batches {
        boundaries.push(boundaries.last().copied().unwrap_or(0) + b.header().total_size());
    }
    let first_offset = batches[0].header().base_offset as u64;
    let from = boundaries[boundaries.len().saturating_sub(4)];
    for cut in from..=bytes.len() as u64 {
        let dir = copy_dir(original.path());
        let seg = dir.path().join(last.file_name().expect("name"));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .expect("open");
        f.set_len(cut).expect("cut");
        std::fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).expect("unclean");
        let log =
            Log::open(dir.path(), small_config()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let whole = boundaries.iter().filter(|&&b| b > 0 && b <= cut).count() as u64;
        assert_eq!(
            log.log_end_offset(),
            Offset(first_offset + whole),
            "cut at {cut}"
        );
        let got: Vec<Vec<u8>> = read_each(&log)
            .into_iter()
            .map(|r| r.expect("readable"))
            .collect();
        let want: Vec<Vec<u8>> = (0..first_offset + whole).map(value_for).collect();
        assert_eq!(got, want, "cut at {cut}");
        // The log works on: the next append lands right after the cut.
        assert_eq!(
            log.append_records(&[record(1)])
                .expect("append")
                .base_offset,
            Offset(first_offset + whole)
        );
    }
}

#[test]
fn a_garbage_tail_is_cut_but_damage_before_valid_data_is_reported() {
    let original = build(40);
    let last = files(original.path(), "log").pop().expect("segment");
    let name = last.file_name().expect("name").to_owned();

    // Garbage appended after the last batch: a torn write, cut.
    let dir = copy_dir(original.path());
    let mut bytes = std::fs::read(dir.path().join(&name)).expect("read");
    let len = bytes.len();
    bytes.extend_from_slice(&[0xAB; 100]);
    std::fs::write(dir.path().join(&name), &bytes).expect("write");
    std::fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).expect("unclean");
    std::fs::remove_file(dir.path().join("partition.checkpoint"))
        .expect("no checkpoint: full check");
    let log = Log::open(dir.path(), small_config()).expect("open cuts the tail");
    assert_eq!(log.log_end_offset(), Offset(40));
    assert_eq!(
        std::fs::metadata(dir.path().join(&name))
            .expect("stat")
            .len(),
        len as u64
    );
    drop(log);

    // A flipped byte in the first batch of the last segment, valid batches after it.
    let dir = copy_dir(original.path());
    let mut bytes = std::fs::read(dir.path().join(&name)).expect("read");
    bytes[40] ^= 0xFF;
    std::fs::write(dir.path().join(&name), &bytes).expect("write");
    std::fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).expect("unclean");
    std::fs::remove_file(dir.path().join("partition.checkpoint"))
        .expect("no checkpoint: full check");
    let err = Log::open(dir.path(), small_config()).expect_err("corruption, not a torn tail");
    match err {
        Error::Corrupt { path, position, .. } => {
            assert_eq!(path.file_name(), Some(name.as_os_str()));
            assert_eq!(position, 0);
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert_eq!(
        std::fs::read(dir.path().join(&name)).expect("read"),
        bytes,
        "nothing truncated away"
    );
}

#[test]
fn flipped_bits_never_serve_a_wrong_record() {
    let seed = logsync_testkit::seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let original = build(120);
    let all: Vec<PathBuf> = ["log", "index", "timeindex"]
        .iter()
        .flat_map(|e| files(original.path(), e))
        .collect();
    for round in 0..150 {
        let dir = copy_dir(original.path());
        let victim = dir.path().join(
            all[rng.random_range(0..all.len())]
                .file_name()
                .expect("name"),
        );
        let mut bytes = std::fs::read(&victim).expect("read");
        if bytes.is_empty() {
            continue;
        }
        let at = rng.random_range(0..bytes.len());
        bytes[at] ^= 1 << rng.random_range(0..8);
        std::fs::write(&victim, &bytes).expect("write");
        let unclean = rng.random_bool(0.5);
        if unclean {
            std::fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).expect("unclean");
            if rng.random_bool(0.5) {
                std::fs::remove_file(dir.path().join("partition.checkpoint")).expect("full check");
            }
        }
        let what = format!(
            "seed {seed} round {round}: bit at {at} of {} (unclean: {unclean})",
            victim.display()
        );
        let log = match Log::open(dir.path(), small_config()) {
            Ok(log) => log,
            Err(Error::Corrupt { .. }) => continue, // reported, not served
            Err(e) => panic!("{what}: unexpected error {e}"),
        };
        let index_file = victim.extension().is_some_and(|e| e != "log");
        for (i, r) in read_each(&log).into_iter().enumerate() {
            let o = log.log_start_offset().0 + i as u64;
            match r {
                Ok(v) => assert_eq!(v, value_for(o), "{what}: offset {o} served wrong bytes"),
                Err(Error::Corrupt { .. }) if !index_file => {}
                Err(e) => panic!("{what}: offset {o}: {e}"),
            }
        }
        if index_file {
            assert_eq!(log.log_end_offset(), Offset(120), "{what}");
            let t = record(77).timestamp;
            assert_eq!(
                log.offset_for_timestamp(t).expect("lookup"),
                Some(Offset(77)),
                "{what}"
            );
        }
    }
}

#[test]
fn missing_index_files_are_rebuilt() {
    let original = build(100);
    for unclean in [false, true] {
        let dir = copy_dir(original.path());
        for p in files(dir.path(), "index")
            .into_iter()
            .chain(files(dir.path(), "timeindex"))
        {
            std::fs::remove_file(p).expect("rm");
        }
        if unclean {
            std::fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).expect("unclean");
        }
        let log = Log::open(dir.path(), small_config()).expect("open");
        let got: Vec<Vec<u8>> = read_each(&log)
            .into_iter()
            .map(|r| r.expect("readable"))
            .collect();
        assert_eq!(got, (0..100).map(value_for).collect::<Vec<_>>());
        assert_eq!(
            log.offset_for_timestamp(TimestampMs(record(50).timestamp.0))
                .expect("lookup"),
            Some(Offset(50))
        );
        log.close().expect("close");
        assert!(
            !files(dir.path(), "index").is_empty(),
            "rebuilt files written"
        );
    }
}

#[test]
fn a_damaged_checkpoint_falls_back_to_a_full_check() {
    let original = build(60);
    let dir = copy_dir(original.path());
    std::fs::write(dir.path().join("partition.checkpoint"), b"garbage").expect("write");
    std::fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).expect("unclean");
    let log = Log::open(dir.path(), small_config()).expect("open");
    assert_eq!(log.log_end_offset(), Offset(60));
    assert_eq!(
        read_each(&log).into_iter().filter(Result::is_ok).count(),
        60
    );
}

/// Asserts `offset_for_timestamp` against a linear scan of `ts` (the
/// timestamp at each offset) for every timestamp in range and around it.
fn check_time_lookups(log: &Log, ts: &[i64], what: &str) {
    let lo = ts.iter().copied().min().unwrap_or(0) - 1;
    let hi = ts.iter().copied().max().unwrap_or(0) + 1;
    for t in lo..=hi {
        let linear = ts.iter().position(|&x| x >= t).map(|i| Offset(i as u64));
        assert_eq!(
            log.offset_for_timestamp(TimestampMs(t)).expect("lookup"),
            linear,
            "{what}: t={t}"
        );
    }
}

#[test]
fn time_lookups_after_recovery_from_a_mid_segment_recovery_point_match_a_linear_scan() {
    let seed = logsync_testkit::seed();
    // One segment, a dense index, every append durable.
    let config = LogConfig {
        segment_bytes: 1 << 20,
        fsync: FsyncPolicy::EveryBatch,
        ..small_config()
    };
    let dir = Path::new("/sim/t-0");
    for first in [37u64, 40, 41, 43] {
        for late in [0u64, 5] {
            let what = format!("seed {seed}, {first} rising then {late} late");
            let fs = Arc::new(SimFs::new(seed.wrapping_add(first * 10 + late)));
            let dynfs: Arc<dyn FileSystem> = fs.clone();
            let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("open");
            let mut ts = Vec::new();
            let append = |log: &Log, ts: &mut Vec<i64>, t: i64| {
                let mut r = record(ts.len() as u64);
                r.timestamp = TimestampMs(t);
                log.append_records(&[r]).expect("append");
                ts.push(t);
            };
            for i in 0..first {
                append(&log, &mut ts, 1_000 + i as i64 * 10);
            }
            // The recovery point is now mid-segment, past the last index entry.
            log.flush().expect("flush");
            // Late arrivals: below the maximum, so they cannot restore it.
            for j in 0..late {
                append(&log, &mut ts, 1_000 + j as i64 * 5);
            }
            fs.crash();
            drop(log);
            fs.reboot();
            let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("recover");
            check_time_lookups(&log, &ts, &format!("{what}, after recovery"));
            // The writer resumes from the true maximum: more late arrivals
            // must not get time entries claiming a lower maximum.
            for j in 0..30 {
                append(&log, &mut ts, 1_000 + first as i64 * 5 + j);
            }
            check_time_lookups(&log, &ts, &format!("{what}, appends after recovery"));
            log.close().expect("close");
            let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("reopen");
            check_time_lookups(&log, &ts, &format!("{what}, after a clean reopen"));
        }
    }
}

#[test]
fn time_lookups_after_truncate_suffix_match_a_linear_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..small_config()
    };
    let log = Log::open(dir.path(), config.clone()).expect("open");
    // Rising: the kept part's maximum lies after the last time entry below
    // the cut, which is all the index keeps of it.
    let ts: Vec<i64> = (0..60).map(|i| 1_000 + i * 10).collect();
    for (i, &t) in ts.iter().enumerate() {
        let mut r = record(i as u64);
        r.timestamp = TimestampMs(t);
        log.append_records(&[r]).expect("append");
    }
    for cut in [57u64, 55, 52, 46, 41] {
        log.truncate_suffix(Offset(cut)).expect("truncate");
        let kept = &ts[..cut as usize];
        check_time_lookups(&log, kept, &format!("cut at {cut}"));
    }
    // Appends after the cut with timestamps below the kept maximum.
    let mut all = ts[..41].to_vec();
    for j in 0..20 {
        let t = 1_100 + j;
        let mut r = record(all.len() as u64);
        r.timestamp = TimestampMs(t);
        log.append_records(&[r]).expect("append");
        all.push(t);
    }
    check_time_lookups(&log, &all, "appends after the cut");
    log.close().expect("close");
    let log = Log::open(dir.path(), config).expect("reopen");
    check_time_lookups(&log, &all, "after reopen");
}

#[test]
fn an_empty_segment_left_by_a_failed_roll_does_not_hide_records() {
    let original = build(60);
    let segs = files(original.path(), "log");
    assert!(segs.len() >= 3);
    // An empty .log in the middle, as a roll that failed after creating it
    // (and a later successful roll) would leave; base inside the previous
    // segment's range.
    let dir = copy_dir(original.path());
    let second = segs[1]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let base: u64 = second[..20].parse().expect("base");
    std::fs::write(dir.path().join(format!("{:020}.log", base + 1)), b"").expect("stray");
    let log = Log::open(dir.path(), small_config()).expect("open");
    let got: Vec<Vec<u8>> = read_each(&log)
        .into_iter()
        .map(|r| r.expect("readable"))
        .collect();
    assert_eq!(got, (0..60).map(value_for).collect::<Vec<_>>());
    drop(log);
    // An empty stray as the last segment, from a roll that failed before any
    // append: the checkpoint names the segment before it, so the open recovers.
    let dir = copy_dir(original.path());
    let last = segs
        .last()
        .expect("last")
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let base: u64 = last[..20].parse().expect("base");
    std::fs::write(dir.path().join(format!("{:020}.log", base + 1)), b"").expect("stray");
    let log = Log::open(dir.path(), small_config()).expect("open");
    assert_eq!(log.log_end_offset(), Offset(60));
    assert_eq!(
        read_each(&log).into_iter().filter(Result::is_ok).count(),
        60
    );
}

/// Data damaged at rest after a clean shutdown (nothing re-checks it at
/// open): `read` refuses the batch with its position, `read_unverified` (the
/// broker's Fetch, which leaves CRCs to consumers as Kafka does) serves it as
/// stored, and the batch's own CRC still tells the consumer.
#[test]
fn read_checks_crcs_and_read_unverified_leaves_them_to_the_consumer() {
    let dir = build(10);
    let log_file = files(dir.path(), "log").pop().expect("a segment");
    let mut bytes = std::fs::read(&log_file).expect("read");
    // The last byte of the first batch lies in its record's value.
    let first_len = 12 + i32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    bytes[first_len - 1] ^= 0x01;
    std::fs::write(&log_file, &bytes).expect("write");

    let log = Log::open(dir.path(), small_config()).expect("clean open checks nothing");
    match log.read(Offset(0), 1 << 20) {
        Err(Error::Corrupt { position, .. }) => assert_eq!(position, 0),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let served = log
        .read_unverified(Offset(0), 1 << 20)
        .expect("served as stored");
    assert_eq!(served.next_offset, Offset(10), "all ten batches");
    assert_eq!(&served.bytes[..], &bytes[..served.bytes.len()]);
    assert!(
        batch::validate(&served.bytes, 1 << 20).is_err(),
        "the CRC shows the damage"
    );
    let rest = served.bytes.slice(first_len..);
    batch::validate(&rest, 1 << 20).expect("the next batch is intact");
    // Past the damaged batch, both agree.
    let checked = log.read(Offset(1), 1 << 20).expect("read from 1");
    assert_eq!(checked.bytes, rest);
}
