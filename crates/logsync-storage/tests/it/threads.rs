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
