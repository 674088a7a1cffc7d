//! Simulated crashes and faults through the testkit's `SimFs`: a crash at
//! each of more than a thousand points never loses an acknowledged append,
//! never invents data; failed fsyncs poison; ENOSPC leaves nothing half-written.

use std::path::Path;
use std::sync::Arc;

use logsync_storage::fs::FileSystem;
use logsync_storage::{Error, Log, LogConfig, Offset, Record};
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
