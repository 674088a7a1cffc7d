//! Simulated crashes and faults through the testkit's `SimFs`: a crash at
//! each of more than a thousand points never loses an acknowledged append,
//! never invents data; failed fsyncs poison; ENOSPC leaves nothing half-written.

use std::path::Path;
use std::sync::Arc;

use logsync_storage::fs::FileSystem;
use logsync_storage::{Error, Log, LogConfig, Offset, Record, TimestampMs};
use logsync_testkit::{Faults, SimFs};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{sim_config as config, sim_record as rec, value_for};

#[derive(Default)]
struct Model {
    /// Value appended at each offset (acknowledged or not), by step number.
    attempted: Vec<Option<u64>>,
    /// Offsets below this were acknowledged durable.
    acked_end: u64,
    /// Start offsets: the last acknowledged truncation, the greatest attempted.
    start_acked: u64,
    start_attempted: u64,
}

/// Random appends, flushes, truncations and reopens until the fs crashes
/// (or `steps` run out).
fn workload(fs: &Arc<SimFs>, dir: &Path, rng: &mut StdRng, model: &mut Model, steps: u32) {
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let Ok(mut log) = Log::open_with(dir, config(), Arc::clone(&dynfs)) else {
        return;
    };
    for _ in 0..steps {
        match rng.random_range(0..20) {
            0 => {
                if log.flush().is_err() {
                    return;
                }
            }
            1 => {
                let end = log.log_end_offset().0;
                let to = rng.random_range(0..=end);
                model.start_attempted = model.start_attempted.max(to);
                if log.truncate_prefix(Offset(to)).is_err() {
                    return;
                }
                model.start_acked = model.start_acked.max(to);
            }
            2 => {
                let _ = log.close();
                drop(log);
                log = match Log::open_with(dir, config(), Arc::clone(&dynfs)) {
                    Ok(l) => l,
                    Err(_) => return,
                };
            }
            _ => {
                let n = rng.random_range(1..4);
                let base = log.log_end_offset().0;
                let steps: Vec<u64> = (0..n).map(|_| rng.random_range(0..10_000)).collect();
                let records: Vec<Record> = steps.iter().map(|&s| rec(s)).collect();
                if model.attempted.len() < (base + n) as usize {
                    model.attempted.resize((base + n) as usize, None);
                }
                for (i, &s) in steps.iter().enumerate() {
                    model.attempted[base as usize + i] = Some(s);
                }
                match log.append_records(&records) {
                    Ok(info) => {
                        assert_eq!(info.base_offset, Offset(base));
                        model.acked_end = base + n;
                    }
                    Err(_) => return,
                }
            }
        }
        if fs.crashed() {
            return;
        }
    }
    let _ = log.close();
}

fn check(fs: &Arc<SimFs>, dir: &Path, model: &Model, what: &str) {
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let log = Log::open_with(dir, config(), dynfs)
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let start = log.log_start_offset().0;
    let end = log.log_end_offset().0;
    assert!(
        end >= model.acked_end,
        "{what}: end {end} lost acknowledged data below {}",
        model.acked_end
    );
    assert!(
        start >= model.start_acked.min(end)
            && start <= model.start_attempted.max(model.start_acked),
        "{what}: start {start} outside [{}, {}]",
        model.start_acked,
        model.start_attempted
    );
    let got: Vec<Record> = log
        .records(Offset(start), usize::MAX)
        .expect("records")
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{what}: read failed: {e}"));
    assert_eq!(
        got.len() as u64,
        end - start,
        "{what}: records between start and end"
    );
    for r in got {
        let step = model.attempted.get(r.offset.0 as usize).copied().flatten();
        let step = step.unwrap_or_else(|| panic!("{what}: offset {} was never appended", r.offset));
        assert_eq!(
            r.value.as_deref(),
            Some(value_for(step).as_slice()),
            "{what}: offset {}",
            r.offset
        );
    }
}

#[test]
fn a_crash_at_any_of_1200_points_loses_no_acknowledged_append() {
    let seed = logsync_testkit::seed();
    let dir = Path::new("/sim/topic-0");
    for point in 0..1200u64 {
        let run_seed = seed.wrapping_add(point);
        let fs = Arc::new(SimFs::new(run_seed));
        let mut rng = StdRng::seed_from_u64(run_seed);
        let mut model = Model::default();
        // A history first, then the crash somewhere in a second run.
        workload(&fs, dir, &mut rng, &mut model, 30);
        fs.set_faults(Faults {
            crash_after_ops: Some(point % 400),
            ..Faults::default()
        });
        workload(&fs, dir, &mut rng, &mut model, 60);
        fs.reboot();
        check(&fs, dir, &model, &format!("seed {run_seed} point {point}"));
        // Recovery itself is restartable: crash again during it, then check.
        fs.set_faults(Faults {
            crash_after_ops: Some(point % 7),
            ..Faults::default()
        });
        let dynfs: Arc<dyn FileSystem> = fs.clone();
        drop(Log::open_with(dir, config(), dynfs));
        fs.reboot();
        check(
            &fs,
            dir,
            &model,
            &format!("seed {run_seed} point {point}, crash during recovery"),
        );
    }
}

#[test]
fn a_failed_fsync_poisons_the_log_until_reopened() {
    let fs = Arc::new(SimFs::new(1));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let dir = Path::new("/sim/p-0");
    let log = Log::open_with(dir, config(), Arc::clone(&dynfs)).expect("open");
    log.append_records(&[rec(1)]).expect("append");
    fs.set_faults(Faults {
        failing_syncs: 1,
        ..Faults::default()
    });
    let err = log.append_records(&[rec(2)]).expect_err("fsync fails");
    assert!(
        err.to_string().contains("fdatasync") || matches!(err, Error::Io { .. }),
        "{err}"
    );
    // No silent retry: later appends are refused even though fsync works again.
    assert!(matches!(
        log.append_records(&[rec(3)]),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(log.flush(), Err(Error::Poisoned { .. })));
    drop(log);
    let log = Log::open_with(dir, config(), dynfs).expect("reopen");
    log.append_records(&[rec(4)]).expect("works after reopen");
}

#[test]
fn disk_full_leaves_nothing_half_written_and_recovers_when_space_returns() {
    let fs = Arc::new(SimFs::new(2));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let dir = Path::new("/sim/p-0");
    let config = LogConfig {
        // The file grows with each append (no zeros written ahead).
        zero_ahead_bytes: 0,
        preallocate_bytes: 0,
        segment_bytes: 1 << 20,
        ..config()
    };
    let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("open");
    log.append_records(&[rec(1)]).expect("append");
    let used = fs.bytes_held();
    fs.set_faults(Faults {
        capacity_bytes: Some(used + 100),
        max_write_bytes: Some(64),
        ..Faults::default()
    });
    let err = log
        .append_records(&[rec(2), rec(3), rec(4)])
        .expect_err("disk full");
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    assert_eq!(log.log_end_offset(), Offset(1));
    let seg = fs
        .paths()
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("segment");
    let bytes = fs.read_file(&seg).expect("log file");
    assert_eq!(
        logsync_storage::batch::split_batches(&bytes.into())
            .expect("valid")
            .len(),
        1,
        "partial batch cut back"
    );
    fs.set_faults(Faults::default());
    let info = log.append_records(&[rec(5)]).expect("space again");
    assert_eq!(info.base_offset, Offset(1));
    log.close().expect("close");
    let log = Log::open_with(dir, config, dynfs).expect("reopen");
    assert_eq!(log.log_end_offset(), Offset(2));
}

#[test]
fn a_full_disk_at_close_applies_retention_and_closes_cleanly() {
    let config = LogConfig {
        // The file grows with each append (no zeros written ahead).
        zero_ahead_bytes: 0,
        preallocate_bytes: 0,
        retention_bytes: Some(4096),
        ..config()
    };
    let (fs, dynfs, log) = filled_sim_log(3, &config, 200);
    let dir = Path::new(SIM_DIR);
    let segments = |fs: &SimFs| {
        fs.paths()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .count()
    };
    let before = segments(&fs);
    assert!(before > 3, "{before} segments");
    // Not a byte left, even after the close trims the active segment's
    // preallocated index files: the checkpoint and the marker cannot be
    // written.
    fs.set_faults(Faults {
        capacity_bytes: Some(fs.bytes_held() - 2 * u64::from(config.segment_index_bytes)),
        ..Faults::default()
    });
    log.close().expect("retention made room for the close");
    assert!(segments(&fs) < before, "old segments deleted");
    assert!(
        fs.paths()
            .iter()
            .any(|p| p.ends_with(logsync_storage::log::CLEAN_SHUTDOWN_FILE)),
        "clean-shutdown marker written"
    );
    fs.set_faults(Faults::default());
    let log = Log::open_with(dir, config, dynfs).expect("reopen");
    assert_eq!(log.log_end_offset(), Offset(200));
    assert!(log.log_start_offset() > Offset(0));
}

#[test]
fn a_full_disk_at_close_without_retention_only_costs_the_next_open_a_recovery() {
    // Keep everything: retention may not delete anything to make room.
    let config = LogConfig {
        // The file grows with each append (no zeros written ahead).
        zero_ahead_bytes: 0,
        preallocate_bytes: 0,
        retention_ms: None,
        retention_bytes: None,
        ..config()
    };
    let (fs, dynfs, log) = filled_sim_log(4, &config, 50);
    let dir = Path::new(SIM_DIR);
    fs.set_faults(Faults {
        capacity_bytes: Some(fs.bytes_held() - 2 * u64::from(config.segment_index_bytes)),
        ..Faults::default()
    });
    // Sealed and synced; only the checkpoint and the marker are missing.
    log.close().expect("closed without a checkpoint");
    assert!(
        !fs.paths()
            .iter()
            .any(|p| p.ends_with(logsync_storage::log::CLEAN_SHUTDOWN_FILE)),
        "no clean-shutdown marker"
    );
    // Reading works on the full disk: open cannot write its checkpoint.
    let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("open on a full disk");
    let read = log.records(Offset(0), 100).expect("read").count();
    assert_eq!(read, 50);
    log.close().expect("close again");
    fs.set_faults(Faults::default());
    let log = Log::open_with(dir, config, dynfs).expect("reopen recovers");
    assert_eq!(log.log_end_offset(), Offset(50));
    assert_eq!(log.log_start_offset(), Offset(0));
    // The last time-index entry may be missing: lookups by time still land.
    for step in [0, 31, 48, 49] {
        assert_eq!(
            log.offset_for_timestamp(TimestampMs(step)).expect("lookup"),
            Some(Offset(step as u64))
        );
    }
    assert_eq!(
        log.offset_for_timestamp(TimestampMs(50)).expect("lookup"),
        None
    );
}

#[test]
fn an_append_on_a_disk_too_full_for_the_checkpoint_still_makes_room() {
    let config = LogConfig {
        // The file grows with each append (no zeros written ahead).
        zero_ahead_bytes: 0,
        preallocate_bytes: 0,
        retention_bytes: Some(4096),
        ..config()
    };
    let (fs, dynfs, log) = filled_sim_log(5, &config, 200);
    let dir = Path::new(SIM_DIR);
    // Not a byte left: the new log start cannot be checkpointed before the
    // old segments go, so they go first.
    fs.set_faults(Faults {
        capacity_bytes: Some(fs.bytes_held()),
        ..Faults::default()
    });
    let info = log
        .append_records(&[rec(200)])
        .expect("retention made room");
    assert_eq!(info.base_offset, Offset(200));
    let start = log.log_start_offset();
    assert!(start > Offset(0));
    log.close().expect("close");
    fs.set_faults(Faults::default());
    let log = Log::open_with(dir, config, dynfs).expect("reopen");
    assert_eq!(
        log.log_start_offset(),
        start,
        "the new start was made durable"
    );
    assert_eq!(log.log_end_offset(), Offset(201));
}

#[test]
fn recovery_on_a_full_disk_still_opens_and_reads() {
    let config = LogConfig {
        retention_ms: None,
        ..config()
    };
    let (fs, dynfs, log) = filled_sim_log(6, &config, 120);
    let dir = Path::new(SIM_DIR);
    // Every append was synced; a damaged checkpoint sends every segment
    // through re-validation after the crash, which rewrites index files.
    fs.crash();
    drop(log);
    fs.reboot();
    fs.write_file(&dir.join("partition.checkpoint"), b"damaged");
    fs.set_faults(Faults {
        capacity_bytes: Some(fs.bytes_held()),
        ..Faults::default()
    });
    let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("open on a full disk");
    assert_eq!(log.log_end_offset(), Offset(120));
    let values: Vec<Vec<u8>> = log
        .records(Offset(0), 200)
        .expect("read")
        .map(|r| r.expect("record").value.expect("value").to_vec())
        .collect();
    assert_eq!(values.len(), 120);
    assert_eq!(values[77], value_for(77));
    assert_eq!(
        log.offset_for_timestamp(TimestampMs(90)).expect("lookup"),
        Some(Offset(90))
    );
    log.close().expect("close");
    fs.set_faults(Faults::default());
    let log = Log::open_with(dir, config, dynfs).expect("reopen with room");
    assert_eq!(log.log_end_offset(), Offset(120));
    assert_eq!(
        log.offset_for_timestamp(TimestampMs(33)).expect("lookup"),
        Some(Offset(33))
    );
}

#[test]
fn zeros_ahead_are_best_effort_on_a_full_disk_and_cut_at_close() {
    let fs = Arc::new(SimFs::new(7));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let dir = Path::new("/sim/p-0");
    let config = LogConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 1 << 20,
        zero_ahead_bytes: 64 << 10,
        preallocate_bytes: 0,
        retention_ms: None,
        ..config()
    };
    let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("open");
    log.append_records(&[rec(0)]).expect("append");
    let seg = dir.join("00000000000000000000.log");
    let file_len = |fs: &SimFs| fs.read_file(&seg).expect("segment").len();
    assert!(file_len(&fs) >= 64 << 10, "zeros written ahead");
    // Room for 20 kB more, not for another 64 KiB of zeros: once the zeros
    // are used up, appends go on at the end of the file until it is full.
    let capacity = fs.bytes_held() + 20_000;
    fs.set_faults(Faults {
        capacity_bytes: Some(capacity),
        ..Faults::default()
    });
    let step = append_until_full(&log, 1);
    assert!(
        fs.bytes_held() + 1_000 > capacity,
        "the room went to records, not zeros: {} of {capacity}",
        fs.bytes_held()
    );
    let bytes = fs.read_file(&seg).expect("segment");
    let batches = logsync_storage::batch::split_batches(&bytes.clone().into()).expect("valid");
    assert_eq!(batches.len() as u64, step, "one batch per append");
    assert_eq!(
        batches.iter().map(|b| b.bytes().len()).sum::<usize>(),
        bytes.len(),
        "the failed zeros were cut back: the file holds batches only"
    );
    fs.set_faults(Faults::default());
    log.append_records(&[rec(step)]).expect("room again");
    assert!(
        file_len(&fs) > bytes.len() + (60 << 10),
        "zeros ahead again"
    );
    log.close().expect("close");
    let bytes = fs.read_file(&seg).expect("segment");
    let batches = logsync_storage::batch::split_batches(&bytes.clone().into()).expect("valid");
    assert_eq!(
        batches.iter().map(|b| b.bytes().len()).sum::<usize>(),
        bytes.len(),
        "closed segment holds batches only, no zeros"
    );
    let log = Log::open_with(dir, config, dynfs).expect("reopen");
    assert_eq!(log.log_end_offset(), Offset(step + 1));
}

#[test]
fn reserved_blocks_take_appends_on_a_full_disk_and_are_given_back_at_close() {
    let fs = Arc::new(SimFs::new(9));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let dir = Path::new(SIM_DIR);
    let config = LogConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 1 << 20,
        zero_ahead_bytes: 0,
        preallocate_bytes: 64 << 10,
        retention_ms: None,
        ..config()
    };
    let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("open");
    log.append_records(&[rec(0)]).expect("append");
    let seg = dir.join("00000000000000000000.log");
    let data = log.stats().expect("stats").size_bytes;
    let reserved = fs.bytes_held();
    assert_eq!(
        fs.read_file(&seg).expect("segment").len() as u64,
        data,
        "the file's size is the data's"
    );
    // Not a byte left: appends go on into the reserved blocks, then the
    // next reservation fails and so does the append that needs it.
    fs.set_faults(Faults {
        capacity_bytes: Some(reserved),
        ..Faults::default()
    });
    let step = append_until_full(&log, 1);
    let written = log.stats().expect("stats").size_bytes;
    assert!(
        written > data + (60 << 10),
        "appends used the reserved 64 KiB: {written} bytes"
    );
    let bytes = fs.read_file(&seg).expect("segment");
    assert_eq!(bytes.len() as u64, written, "nothing half-written");
    fs.set_faults(Faults::default());
    log.append_records(&[rec(step)]).expect("room again");
    assert!(
        fs.bytes_held() > written + (60 << 10),
        "reserving ahead again"
    );
    log.close().expect("close");
    let bytes = fs.read_file(&seg).expect("segment");
    let batches = logsync_storage::batch::split_batches(&bytes.clone().into()).expect("valid");
    assert_eq!(batches.len() as u64, step + 1, "one batch per append");
    let files = bytes_in_files(&fs);
    assert_eq!(fs.bytes_held(), files, "the reservation was given back");
    let log = Log::open_with(dir, config, dynfs).expect("reopen");
    assert_eq!(log.log_end_offset(), Offset(step + 1));
}

#[test]
fn index_entries_reach_the_files_at_a_flush_and_are_rebuilt_after_a_crash() {
    // One segment, an entry for nearly every batch, fewer than the 64 an
    // active segment keeps in memory before writing them out.
    let config = LogConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 1 << 16,
        index_interval_bytes: 32,
        ..config()
    };
    let (fs, dynfs, log) = filled_sim_log(10, &config, 20);
    let index = Path::new(SIM_DIR).join("00000000000000000000.index");
    let held = |fs: &SimFs| -> Vec<Vec<u8>> {
        let bytes = fs.read_file(&index).expect("index file");
        bytes
            .chunks_exact(8)
            .take_while(|e| e.iter().any(|&b| b != 0))
            .map(<[u8]>::to_vec)
            .collect()
    };
    assert!(held(&fs).is_empty(), "entries pending, not yet written");
    log.flush().expect("flush");
    let flushed = held(&fs);
    assert!(
        flushed.len() >= 15,
        "{} entries after the flush",
        flushed.len()
    );
    // Pending again, then a crash: what the flush wrote survives, the rest
    // is rebuilt by recovery.
    for step in 20..40 {
        log.append_records(&[rec(step)]).expect("append");
    }
    fs.crash();
    drop(log);
    fs.reboot();
    assert_eq!(held(&fs).get(..flushed.len()), Some(&flushed[..]));
    let log =
        Log::open_with(Path::new(SIM_DIR), config.clone(), Arc::clone(&dynfs)).expect("reopen");
    assert_eq!(log.log_end_offset(), Offset(40), "every append was synced");
    for step in 0..40 {
        let got = log.records(Offset(step), 1).expect("read").next();
        let r = got.expect("a record").expect("decodes");
        assert_eq!(
            r.value.as_deref(),
            Some(&value_for(step)[..]),
            "offset {step}"
        );
        assert_eq!(
            log.offset_for_timestamp(TimestampMs(step as i64))
                .expect("lookup"),
            Some(Offset(step))
        );
    }
    log.close().expect("close");
    drop(log);
    let closed = held(&fs);
    assert!(
        closed.len() >= 35,
        "{} entries after the close",
        closed.len()
    );
    assert_eq!(closed.get(..flushed.len()), Some(&flushed[..]));
    let seg = logsync_storage::segment::Segment::open(&dynfs, Path::new(SIM_DIR), 0, 32)
        .expect("segment");
    assert_eq!(
        seg.raw_index_entries().offsets.len(),
        closed.len(),
        "all entries valid"
    );
}

#[test]
fn time_lookups_stay_right_after_a_full_disk_deferred_index_writes_and_a_crash() {
    // Timestamps rising with dips, an index entry for every batch, no
    // blocks reserved ahead: writing the pending index entries at a flush
    // meets the full disk at every possible byte, while the checkpoint may
    // still fit. Whatever the files end up holding, a reopened log must
    // answer time lookups as a scan of its records would.
    let ts = |step: u64| TimestampMs((step * 10) as i64 - ((step % 3) * 25) as i64);
    let config = LogConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 1 << 16,
        index_interval_bytes: 1,
        zero_ahead_bytes: 0,
        preallocate_bytes: 0,
        retention_ms: None,
        ..config()
    };
    let dir = Path::new(SIM_DIR);
    for extra in (0..1200).step_by(37) {
        let fs = Arc::new(SimFs::new(extra));
        let dynfs: Arc<dyn FileSystem> = fs.clone();
        let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("open");
        for step in 0..100 {
            log.append_records(&[Record::new(None, &value_for(step), ts(step))])
                .expect("append");
        }
        fs.set_faults(Faults {
            capacity_bytes: Some(fs.bytes_held() + extra),
            ..Faults::default()
        });
        let _ = log.flush();
        fs.crash();
        drop(log);
        fs.reboot();
        let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("reopen");
        assert_eq!(log.log_end_offset(), Offset(100), "extra {extra}");
        for target in (0..1000).step_by(3) {
            let want = (0..100).find(|&s| ts(s).0 >= target).map(Offset);
            assert_eq!(
                log.offset_for_timestamp(TimestampMs(target))
                    .expect("lookup"),
                want,
                "extra {extra}, timestamp {target}"
            );
        }
        log.close().expect("close");
    }
}

#[test]
fn time_entries_that_cannot_be_written_hold_back_the_offset_entries_too() {
    // The greatest timestamp sits mid-segment. If the offset entries
    // reached the files while the time entries did not, loading would
    // rebuild time entries only from the last offset entry and miss it.
    let ts = |step: u64| TimestampMs(if step == 30 { 10_000 } else { step as i64 * 10 });
    let config = LogConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 1 << 16,
        index_interval_bytes: 1,
        ..config()
    };
    let fs = Arc::new(SimFs::new(12));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let dir = Path::new(SIM_DIR);
    let log = Log::open_with(dir, config.clone(), Arc::clone(&dynfs)).expect("open");
    for step in 0..40 {
        log.append_records(&[Record::new(None, &value_for(step), ts(step))])
            .expect("append");
    }
    fs.set_faults(Faults {
        full_for_suffix: Some(".timeindex".to_owned()),
        ..Faults::default()
    });
    log.close()
        .expect("close: the entries stay out of the files");
    drop(log);
    fs.set_faults(Faults::default());
    let log = Log::open_with(dir, config, dynfs).expect("reopen");
    assert_eq!(
        log.offset_for_timestamp(TimestampMs(5_000))
            .expect("lookup"),
        Some(Offset(30))
    );
    assert_eq!(
        log.offset_for_timestamp(TimestampMs(10_001))
            .expect("lookup"),
        None
    );
}

#[test]
fn a_reservation_that_fails_in_part_is_given_back() {
    let fs = Arc::new(SimFs::new(13));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        preallocate_bytes: 64 << 10,
        zero_ahead_bytes: 0,
        ..config()
    };
    let log = Log::open_with(Path::new(SIM_DIR), config, Arc::clone(&dynfs)).expect("open");
    // Room for 10 KiB: the 64 KiB reservation fails after taking it all.
    fs.set_faults(Faults {
        capacity_bytes: Some(fs.bytes_held() + (10 << 10)),
        ..Faults::default()
    });
    log.append_records(&[rec(0)])
        .expect("append without a reservation");
    log.flush()
        .expect("the checkpoint finds the room the reservation left");
    log.close().expect("close");
}

#[test]
fn blocks_a_crash_left_reserved_are_given_back_by_recovery() {
    let config = LogConfig {
        segment_bytes: 1 << 20,
        preallocate_bytes: 64 << 10,
        zero_ahead_bytes: 0,
        ..config()
    };
    let (fs, dynfs, log) = filled_sim_log(14, &config, 5);
    fs.crash();
    drop(log);
    fs.reboot();
    let log = Log::open_with(Path::new(SIM_DIR), config, dynfs).expect("recover");
    assert_eq!(log.log_end_offset(), Offset(5));
    log.close().expect("close");
    drop(log);
    let files = bytes_in_files(&fs);
    assert_eq!(
        fs.bytes_held(),
        files,
        "no blocks held past the files' ends"
    );
}

const SIM_DIR: &str = "/sim/p-0";

/// Appends one record a step from `first` on until an append fails, which
/// must be for a full disk; returns the step that failed.
fn append_until_full(log: &Log, first: u64) -> u64 {
    let mut step = first;
    loop {
        match log.append_records(&[rec(step)]) {
            Ok(_) if step < first + 100_000 => step += 1,
            Ok(_) => panic!("the disk never filled"),
            Err(e) => {
                assert!(matches!(e, Error::DiskFull { .. }), "{e}");
                return step;
            }
        }
    }
}

/// Bytes of every file as reads see them (what the disk holds when no
/// blocks are reserved past the files' ends).
fn bytes_in_files(fs: &SimFs) -> u64 {
    fs.paths()
        .iter()
        .filter_map(|p| fs.read_file(p))
        .map(|b| b.len() as u64)
        .sum()
}

/// A log on a fresh `SimFs` (seeded with `seed`) at [`SIM_DIR`], holding
/// `records` records appended one per batch.
fn filled_sim_log(
    seed: u64,
    config: &LogConfig,
    records: u64,
) -> (Arc<SimFs>, Arc<dyn FileSystem>, Log) {
    let fs = Arc::new(SimFs::new(seed));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let log = Log::open_with(Path::new(SIM_DIR), config.clone(), Arc::clone(&dynfs)).expect("open");
    for step in 0..records {
        log.append_records(&[rec(step)]).expect("append");
    }
    (fs, dynfs, log)
}

#[test]
fn a_crash_leaves_the_zeros_written_ahead_and_recovery_cuts_them() {
    let config = LogConfig {
        segment_bytes: 1 << 20,
        zero_ahead_bytes: 64 << 10,
        ..config()
    };
    let (fs, dynfs, log) = filled_sim_log(8, &config, 10);
    let seg_path = Path::new(SIM_DIR).join("00000000000000000000.log");
    let data = log.stats().expect("stats").size_bytes;
    fs.crash();
    drop(log);
    fs.reboot();
    let len = fs.read_file(&seg_path).expect("segment").len();
    assert!(len >= 64 << 10, "the zeros survived the crash: {len}");
    let seg = logsync_storage::segment::Segment::open(&dynfs, Path::new(SIM_DIR), 0, 4096)
        .expect("segment");
    assert!(seg.only_zeros_from(data), "zeros from the end of the data");
    assert!(!seg.only_zeros_from(0), "the batches are not zeros");
    drop(seg);
    let log = Log::open_with(Path::new(SIM_DIR), config, dynfs).expect("reopen");
    assert_eq!(log.log_end_offset(), Offset(10));
    drop(log);
    assert_eq!(
        fs.read_file(&seg_path).expect("segment").len() as u64,
        data,
        "recovery cut the zeros"
    );
}
