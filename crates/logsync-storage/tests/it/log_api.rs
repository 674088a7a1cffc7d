//! The log's API as a user drives it: append, read, records, time lookup,
//! truncation at both ends, rolls and reopen.

use bytes::Bytes;
use logsync_storage::batch::{self, BatchSpec, Compression};
use logsync_storage::{Error, Log, LogConfig, Offset, Record, TimestampMs};

use crate::{record, small_config, value_for};

fn fill(log: &Log, n: u64) {
    for i in 0..n {
        let info = log.append_records(&[record(i)]).expect("append");
        assert_eq!(info.base_offset, Offset(i));
    }
}

fn values(log: &Log, from: u64) -> Vec<Vec<u8>> {
    log.records(Offset(from), usize::MAX)
        .expect("records")
        .map(|r| r.expect("record").value.expect("value").to_vec())
        .collect()
}

#[test]
fn appended_records_read_back_in_order_across_rolls_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    fill(&log, 300);
    let stats = log.stats().expect("stats");
    assert!(stats.segments.len() > 5, "rolled: {}", stats.segments.len());
    let expected: Vec<Vec<u8>> = (0..300).map(value_for).collect();
    assert_eq!(values(&log, 0), expected);
    assert_eq!(values(&log, 123), expected[123..].to_vec());
    log.close().expect("close");
    let log = Log::open(dir.path(), small_config()).expect("reopen");
    assert_eq!(log.log_end_offset(), Offset(300));
    assert_eq!(values(&log, 0), expected);
    let info = log
        .append_records(&[record(300)])
        .expect("append after reopen");
    assert_eq!(info.base_offset, Offset(300));
}

#[test]
fn records_honour_the_max_count_and_read_respects_max_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    for i in 0..20 {
        log.append_records(&[record(i * 3), record(i * 3 + 1), record(i * 3 + 2)])
            .expect("append");
    }
    let got: Vec<u64> = log
        .records(Offset(10), 5)
        .expect("records")
        .map(|r| r.expect("record").offset.0)
        .collect();
    assert_eq!(got, vec![10, 11, 12, 13, 14]);
    // A read starting mid-batch returns the whole batch holding the offset.
    let read = log.read(Offset(10), 1).expect("read");
    let batches = batch::split_batches(&read.bytes).expect("batches");
    assert_eq!(
        batches.len(),
        1,
        "at least one batch even if larger than max_bytes"
    );
    assert_eq!(batches[0].header().base_offset, 9);
    assert_eq!(read.next_offset, Offset(12));
    let read = log.read(Offset(0), 100_000).expect("read all");
    assert_eq!(read.next_offset, Offset(60));
    let end = log.read(Offset(60), 100).expect("read at end");
    assert!(end.bytes.is_empty());
}

#[test]
fn reading_outside_the_log_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    fill(&log, 10);
    let err = log.read(Offset(11), 100).expect_err("past the end");
    assert!(
        matches!(
            err,
            Error::OffsetOutOfRange {
                requested: Offset(11),
                log_start: Offset(0),
                log_end: Offset(10)
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "offset 11 is out of range: the log holds [0, 10)"
    );
}

#[test]
fn offset_for_timestamp_matches_a_linear_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    // Timestamps go up with some going back: the rule is "first offset whose
    // timestamp is >= t", which a linear scan defines.
    let ts = |i: u64| 1_000 + (i as i64 * 7) % 500 + i as i64 * 3;
    let mut all = Vec::new();
    for i in 0..400u64 {
        let mut r = record(i);
        r.timestamp = TimestampMs(ts(i));
        all.push(ts(i));
        log.append_records(&[r]).expect("append");
    }
    let check = |log: &Log, step: usize, when: &str| {
        for target in (900..3000).step_by(step) {
            let linear = all
                .iter()
                .position(|&t| t >= target)
                .map(|i| Offset(i as u64));
            let found = log
                .offset_for_timestamp(TimestampMs(target))
                .expect("lookup");
            assert_eq!(found, linear, "t={target}{when}");
        }
    };
    check(&log, 13, "");
    log.close().expect("close");
    let log = Log::open(dir.path(), small_config()).expect("reopen");
    check(&log, 17, " after reopen");
}

#[test]
fn truncate_prefix_moves_the_start_deletes_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    fill(&log, 300);
    let before = log.stats().expect("stats").segments.len();
    assert_eq!(
        log.truncate_prefix(Offset(150)).expect("truncate"),
        Offset(150)
    );
    assert_eq!(log.log_start_offset(), Offset(150));
    let after = log.stats().expect("stats");
    assert!(
        after.segments.len() < before,
        "{} < {before}",
        after.segments.len()
    );
    assert!(after.segments[0].base_offset <= 150);
    assert!(matches!(
        log.read(Offset(10), 100),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(values(&log, 150).len(), 150);
    let deleted = std::fs::read_dir(dir.path()).expect("ls").filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".deleted"))
    });
    assert_eq!(deleted.count(), 0, "no reader holds them, so they are gone");
    log.close().expect("close");
    let log = Log::open(dir.path(), small_config()).expect("reopen");
    assert_eq!(log.log_start_offset(), Offset(150));
    // Everything: a fresh empty active segment at the end.
    assert_eq!(
        log.truncate_prefix(Offset(1_000)).expect("truncate all"),
        Offset(300)
    );
    assert_eq!(log.log_start_offset(), Offset(300));
    assert_eq!(log.stats().expect("stats").segments.len(), 1);
    assert_eq!(
        log.append_records(&[record(1)])
            .expect("append")
            .base_offset,
        Offset(300)
    );
}

#[test]
fn truncate_suffix_cuts_at_a_batch_boundary_and_appends_continue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    for i in 0..100 {
        log.append_records(&[record(i * 2), record(i * 2 + 1)])
            .expect("append");
    }
    // Offset 101 is inside the batch [100, 101]: the cut is at 100.
    assert_eq!(
        log.truncate_suffix(Offset(101)).expect("truncate"),
        Offset(100)
    );
    assert_eq!(log.log_end_offset(), Offset(100));
    assert_eq!(values(&log, 0).len(), 100);
    let info = log.append_records(&[record(7)]).expect("append");
    assert_eq!(info.base_offset, Offset(100));
    assert_eq!(values(&log, 100), vec![value_for(7)]);
    // Deep cut into an older segment.
    assert_eq!(
        log.truncate_suffix(Offset(10)).expect("truncate"),
        Offset(10)
    );
    assert_eq!(log.stats().expect("stats").segments.len(), 1);
    log.append_records(&[record(8)]).expect("append");
    log.close().expect("close");
    let log = Log::open(dir.path(), small_config()).expect("reopen");
    assert_eq!(log.log_end_offset(), Offset(11));
    let mut expected: Vec<Vec<u8>> = (0..10).map(value_for).collect();
    expected.push(value_for(8));
    assert_eq!(values(&log, 0), expected);
}

#[test]
fn foreign_batches_are_validated_and_get_our_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    log.append_records(&[record(0)]).expect("append");
    let mut two = Vec::new();
    for compression in [Compression::Lz4, Compression::Gzip] {
        let spec = BatchSpec {
            base_offset: 999,
            compression,
            producer_id: 5,
            ..BatchSpec::default()
        };
        batch::encode_batch(&mut two, &spec, &[record(1), record(2)]).expect("encode");
    }
    let info = log.append(&two).expect("append two batches");
    assert_eq!(
        (info.base_offset, info.last_offset, info.batches),
        (Offset(1), Offset(4), 2)
    );
    let read = log.read(Offset(1), 1 << 20).expect("read");
    let stored = batch::split_batches(&read.bytes).expect("split");
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0].header().producer_id,
        5,
        "producer fields preserved"
    );
    assert_eq!(
        stored[1].header().attributes.compression().expect("codec"),
        Compression::Gzip,
        "stored as it came"
    );

    let mut bad = two.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(log.append(&bad), Err(Error::InvalidBatch(_))));
    assert!(matches!(
        log.append(&two[..30]),
        Err(Error::InvalidBatch(_))
    ));
    assert_eq!(
        log.log_end_offset(),
        Offset(5),
        "nothing written by a rejected append"
    );
}

#[test]
fn oversized_batches_are_refused_with_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        max_message_bytes: 1000,
        ..small_config()
    };
    let log = Log::open(dir.path(), config).expect("open");
    let big = Record {
        value: Some(Bytes::from(vec![0u8; 2000])),
        ..Record::default()
    };
    let err = log.append_records(&[big]).expect_err("too large");
    assert!(
        matches!(err, Error::RecordTooLarge { max: 1000, .. }),
        "{err}"
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _log = Log::open(dir.path(), small_config()).expect("open");
    let err = Log::open(dir.path(), small_config()).expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
}

#[test]
fn segment_files_use_kafka_names_and_trimmed_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    fill(&log, 100);
    let bases: Vec<u64> = log
        .stats()
        .expect("stats")
        .segments
        .iter()
        .map(|s| s.base_offset)
        .collect();
    log.close().expect("close");
    for base in bases {
        for ext in ["log", "index", "timeindex"] {
            let p = dir.path().join(format!("{base:020}.{ext}"));
            let meta = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let entry = if ext == "index" {
                8
            } else if ext == "timeindex" {
                12
            } else {
                1
            };
            assert_eq!(meta.len() % entry, 0, "{}", p.display());
            assert!(
                meta.len() < 1024 || ext == "log",
                "trimmed: {} is {}",
                p.display(),
                meta.len()
            );
        }
    }
}

#[test]
fn segment_ms_rolls_by_record_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_ms: 1000,
        ..small_config()
    };
    let log = Log::open(dir.path(), config).expect("open");
    for i in 0..5 {
        log.append_records(&[Record::new(None, b"v", TimestampMs(i * 600))])
            .expect("append");
    }
    assert!(log.stats().expect("stats").segments.len() >= 2);
}

#[test]
fn chained_reads_with_any_budget_return_every_offset_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    let mut n = 0u64;
    for i in 0..120u64 {
        let k = 1 + i % 6;
        let batch: Vec<Record> = (n..n + k).map(record).collect();
        log.append_records(&batch).expect("append");
        n += k;
    }
    assert!(log.stats().expect("stats").segments.len() > 3);
    for max in [1usize, 100, 700, 1500, 4000, 9000, 1 << 20] {
        let mut next = 0u64;
        let mut seen = Vec::new();
        while next < n {
            let read = log.read(Offset(next), max).expect("read");
            assert!(
                read.next_offset.0 > next,
                "progress at {next} with max {max}"
            );
            for b in batch::split_batches(&read.bytes).expect("batches") {
                for r in b.records(1 << 20).expect("records") {
                    let r = r.expect("record");
                    if r.offset.0 >= next {
                        seen.push(r.offset.0);
                    }
                }
            }
            next = read.next_offset.0;
        }
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "max_bytes {max}");
    }
}

#[test]
fn append_info_gives_the_segment_and_file_position_of_the_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_config()).expect("open");
    for i in 0..200 {
        let info = log.append_records(&[record(i)]).expect("append");
        let segments = log.segments();
        let seg = segments
            .iter()
            .find(|s| s.base_offset() == info.segment_base_offset.0)
            .expect("segment of the append is in the list");
        let mut header = [0u8; batch::BATCH_HEADER_BYTES];
        logsync_storage::fs::read_exact_at(
            seg.log_file().as_ref(),
            &mut header,
            u64::from(info.position.0),
        )
        .expect("read at the reported position");
        let h = batch::BatchHeader::parse(&header).expect("a batch header there");
        assert_eq!(h.base_offset as u64, info.base_offset.0, "append {i}");
    }
    assert!(log.segments().len() > 2, "the appends rolled segments");
}

#[test]
fn blocks_reserved_ahead_on_a_real_file_system_are_given_back_at_roll_and_close() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 256 << 10,
        preallocate_bytes: 128 << 10,
        fsync: logsync_storage::FsyncPolicy::Never,
        ..LogConfig::default()
    };
    let log = Log::open(dir.path(), config.clone()).expect("open");
    fill(&log, 2_000);
    let stats = log.stats().expect("stats");
    assert!(stats.segments.len() > 1, "rolled: {}", stats.segments.len());
    // (blocks, length) of each .log file.
    let files = || -> Vec<(u64, u64)> {
        let mut logs: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        logs.iter()
            .map(|p| {
                let m = std::fs::metadata(p).expect("stat");
                (m.blocks() * 512, m.len())
            })
            .collect()
    };
    // Where the file system can reserve (ext4, XFS, tmpfs) the active
    // segment holds blocks past its end; the sealed ones never do.
    let open = files();
    let (active, sealed) = open.split_last().expect("segments");
    for &(blocks, len) in sealed {
        assert!(
            blocks <= len.next_multiple_of(4096) + 4096,
            "sealed: {blocks} blocks for {len} bytes"
        );
    }
    println!(
        "active segment: {} bytes of blocks for {} bytes of data",
        active.0, active.1
    );
    log.close().expect("close");
    drop(log);
    for (blocks, len) in files() {
        assert!(
            blocks <= len.next_multiple_of(4096) + 4096,
            "closed: {blocks} blocks for {len} bytes"
        );
    }
    let log = Log::open(dir.path(), config).expect("reopen");
    assert_eq!(values(&log, 0).len(), 2_000);
    assert_eq!(values(&log, 1_999), vec![value_for(1_999)]);
}
