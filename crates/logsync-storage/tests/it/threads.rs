//! Concurrency: readers iterate while the writer appends, rolls segments and
//! truncates the prefix; each reader sees a gap-free run of the offsets it
//! asked for, with the right bytes, and never a missing file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use logsync_storage::{Error, FsyncPolicy, Log, LogConfig, Offset};

use crate::{record, small_config, value_for};

#[test]
fn readers_see_gap_free_prefixes_while_the_writer_rolls_and_truncates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(Log::open(dir.path(), small_config()).expect("open"));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(3);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let log = Arc::clone(&log);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut checked = 0u64;
                while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
                    let from = log.log_start_offset();
                    let mut expect = from.0;
                    let Ok(iter) = log.records(from, 500) else {
                        continue;
                    };
                    for r in iter {
                        match r {
                            Ok(r) => {
                                assert_eq!(r.offset, Offset(expect), "gap-free from {}", from);
                                assert_eq!(
                                    r.value.as_deref(),
                                    Some(value_for(r.offset.0).as_slice())
                                );
                                expect += 1;
                                checked += 1;
                            }
                            // The start moved past us: allowed, start again.
                            Err(Error::OffsetOutOfRange { .. }) => break,
                            Err(e) => panic!("reader: {e}"),
                        }
                    }
                }
                checked
            })
        })
        .collect();
    let mut next = 0u64;
    while Instant::now() < deadline {
        let batch: Vec<_> = (next..next + 5).map(record).collect();
        log.append_records(&batch).expect("append");
        next += 5;
        if next.is_multiple_of(400) {
            log.truncate_prefix(Offset(next - 200)).expect("truncate");
        }
        if next > 200_000 {
            break;
        }
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        let checked = r.join().expect("reader panicked");
        assert!(checked > 0, "each reader read something");
    }
    assert!(
        log.stats().expect("stats").segments.len() < 50,
        "old segments deleted"
    );
}

#[test]
fn concurrent_appenders_share_fsyncs_and_all_get_distinct_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        fsync: FsyncPolicy::EveryBatch,
        ..small_config()
    };
    let log = Arc::new(Log::open(dir.path(), config).expect("open"));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..100)
                    .map(|i| {
                        log.append_records(&[record(t * 1000 + i)])
                            .expect("append")
                            .base_offset
                            .0
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..400).collect::<Vec<_>>());
    assert_eq!(
        log.records(Offset(0), usize::MAX).expect("records").count(),
        400
    );
}

#[test]
fn appenders_racing_truncate_suffix_all_return_and_cut_appends_are_never_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        fsync: FsyncPolicy::EveryBatch,
        ..small_config()
    };
    let log = Arc::new(Log::open(dir.path(), config).expect("open"));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    // Appender `t` writes step t * 10_000 + i; each reports every result.
    let appenders: Vec<_> = (0..4u64)
        .map(|t| {
            let log = Arc::clone(&log);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let results: Vec<(u64, Result<u64, Error>)> = (0..150)
                    .map(|i| {
                        let step = t * 10_000 + i;
                        let r = log.append_records(&[record(step)]);
                        (step, r.map(|info| info.base_offset.0))
                    })
                    .collect();
                let _ = tx.send(results);
            })
        })
        .collect();
    let truncator = {
        let log = Arc::clone(&log);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut cuts = 0u32;
            while !stop.load(Ordering::Acquire) {
                let end = log.log_end_offset().0;
                let to = end.saturating_sub(1 + u64::from(cuts % 4));
                if to >= log.log_start_offset().0 {
                    log.truncate_suffix(Offset(to)).expect("truncate");
                    cuts += 1;
                }
                std::thread::yield_now();
            }
            cuts
        })
    };
    let mut results = Vec::new();
    for _ in 0..4 {
        results.extend(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("every appender returns in bounded time"),
        );
    }
    stop.store(true, Ordering::Release);
    let cuts = truncator.join().expect("truncator");
    for a in appenders {
        a.join().expect("appender");
    }
    assert!(cuts > 0, "the truncator ran");
    let present: std::collections::HashMap<Vec<u8>, u64> = log
        .records(Offset(0), usize::MAX)
        .expect("records")
        .map(|r| {
            let r = r.expect("record");
            (r.value.expect("value").to_vec(), r.offset.0)
        })
        .collect();
    let mut truncated = 0;
    for (step, r) in results {
        match r {
            // An acknowledged append is either still at its offset or was cut
            // later (its offset is then at or past the log end, or reused).
            Ok(offset) => {
                if let Some(&at) = present.get(&value_for(step)) {
                    assert_eq!(at, offset, "step {step} moved");
                }
            }
            Err(Error::Truncated { .. }) => {
                truncated += 1;
                assert!(
                    !present.contains_key(&value_for(step)),
                    "step {step} was reported cut but is in the log"
                );
            }
            Err(e) => panic!("step {step}: unexpected error {e}"),
        }
    }
    eprintln!("{cuts} cuts, {truncated} appends reported cut");
    // Appends after the race are acknowledged and read back.
    let info = log.append_records(&[record(99_999)]).expect("append");
    let r = log
        .records(info.base_offset, 1)
        .expect("records")
        .next()
        .expect("one")
        .expect("record");
    assert_eq!(r.value.as_deref(), Some(value_for(99_999).as_slice()));
}
