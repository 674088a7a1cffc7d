//! Recovery after damage: torn tails cut at every byte, bit flips anywhere,
//! missing or damaged index files and checkpoints.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use logsync_storage::batch;
use logsync_storage::log::CLEAN_SHUTDOWN_FILE;
use logsync_storage::{Error, Log, Offset, TimestampMs};
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
