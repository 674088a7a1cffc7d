//! The event API: out-of-order ingest (late events do not win but stay in
//! the log), `compact_view` ordering, and `replay(ts)` returning exactly
//! the records with timestamp >= ts, read from the time index.

use logsync_kv::{KvConfig, Mode, Store};
use logsync_storage::{CleanupPolicy, CompactionStrategy, LogConfig, LogManager, TimestampMs};
use rand::{Rng, SeedableRng};

use crate::{clock, config};

fn event_store(dir: &std::path::Path) -> Store {
    let manager = LogManager::new(dir);
    manager
        .create_topic(
            "events",
            1,
            LogConfig {
                cleanup_policy: CleanupPolicy::Compact,
                compaction_strategy: CompactionStrategy::Timestamp,
                segment_bytes: 4096,
                index_interval_bytes: 128,
                ..LogConfig::default()
            },
        )
        .expect("create topic");
    let store = Store::open(
        dir,
        KvConfig {
            topic: "events".into(),
            fsync: Some(logsync_storage::FsyncPolicy::Never),
            ..KvConfig::default()
        },
    )
    .expect("open");
    assert_eq!(store.mode(), Mode::EventTime);
    store
}

#[test]
fn a_late_event_does_not_win_but_stays_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let store = Store::open(
        dir.path(),
        KvConfig {
            fsync: Some(logsync_storage::FsyncPolicy::Never),
            ..config(&clock, Mode::EventTime)
        },
    )
    .expect("open");
    assert_eq!(store.mode(), Mode::EventTime);
    let a = store
        .ingest(b"sensor", b"t=100", TimestampMs(100))
        .expect("ingest");
    assert!(a.visible);
    let b = store
        .ingest(b"sensor", b"t=300", TimestampMs(300))
        .expect("ingest");
    assert!(b.visible);
    let late = store
        .ingest(b"sensor", b"t=200", TimestampMs(200))
        .expect("ingest");
    assert!(!late.visible);
    let tie = store
        .ingest(b"sensor", b"t=300 again", TimestampMs(300))
        .expect("ingest");
    assert!(tie.visible, "ties go to the later offset");
    assert_eq!(
        store.get(b"sensor").expect("get").as_deref(),
        Some(&b"t=300 again"[..])
    );
    let all: Vec<_> = store
        .replay(TimestampMs(0))
        .expect("replay")
        .map(|r| r.expect("record").value.expect("value").to_vec())
        .collect();
    assert_eq!(all.len(), 4, "the late event is in the log");
    assert!(all.contains(&b"t=200".to_vec()));
    // After a restart (checkpoint) and after a rebuild, the same winner.
    store.close().expect("close");
    drop(store);
    let store = Store::open(
        dir.path(),
        KvConfig {
            fsync: Some(logsync_storage::FsyncPolicy::Never),
            ..config(&clock, Mode::EventTime)
        },
    )
    .expect("reopen");
    assert_eq!(
        store.get(b"sensor").expect("get").as_deref(),
        Some(&b"t=300 again"[..])
    );
    store
        .ingest(b"sensor", b"t=250", TimestampMs(250))
        .expect("ingest");
    store.compact().expect("compact");
    assert_eq!(
        store.get(b"sensor").expect("get").as_deref(),
        Some(&b"t=300 again"[..])
    );
    let left: Vec<_> = store
        .replay(TimestampMs(0))
        .expect("replay")
        .map(|r| r.expect("record").timestamp.0)
        .collect();
    assert_eq!(
        left,
        vec![300],
        "compaction keeps the greatest timestamp only"
    );
}

#[test]
fn delete_beats_a_value_from_the_future_and_older_late_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let store = Store::open(
        dir.path(),
        KvConfig {
            fsync: Some(logsync_storage::FsyncPolicy::Never),
            ..config(&clock, Mode::EventTime)
        },
    )
    .expect("open");
    let future = crate::T0 + 60_000;
    store
        .ingest(b"k", b"v", TimestampMs(future))
        .expect("ingest");
    assert!(store.delete(b"k").expect("delete"));
    assert_eq!(store.get(b"k").expect("get"), None);
    let late = store
        .ingest(b"k", b"older", TimestampMs(future - 1))
        .expect("ingest");
    assert!(!late.visible);
    assert_eq!(store.get(b"k").expect("get"), None);
    assert!(store.compact_view().expect("view").is_empty());
}

#[test]
fn compact_view_is_the_latest_of_each_key_ordered_by_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = event_store(dir.path());
    let events = [
        ("a", 50, "a50"),
        ("b", 10, "b10"),
        ("c", 30, "c30"),
        ("a", 20, "a20"),
        ("b", 40, "b40"),
        ("c", 5, "c5"),
        ("d", 40, "d40"),
    ];
    for (k, ts, v) in events {
        store
            .ingest(k.as_bytes(), v.as_bytes(), TimestampMs(ts))
            .expect("ingest");
    }
    let view: Vec<(String, i64, String)> = store
        .compact_view()
        .expect("view")
        .into_iter()
        .map(|r| {
            (
                String::from_utf8(r.key.expect("key").to_vec()).expect("utf8"),
                r.timestamp.0,
                String::from_utf8(r.value.expect("value").to_vec()).expect("utf8"),
            )
        })
        .collect();
    let want = vec![
        ("c".to_owned(), 30, "c30".to_owned()),
        ("b".to_owned(), 40, "b40".to_owned()),
        ("d".to_owned(), 40, "d40".to_owned()),
        ("a".to_owned(), 50, "a50".to_owned()),
    ];
    assert_eq!(view, want);
}

#[test]
fn replay_returns_exactly_the_records_at_or_after_a_time_even_out_of_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = event_store(dir.path());
    let seed = logsync_testkit::seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut written: Vec<(u64, i64)> = Vec::new();
    let mut base = 1_000i64;
    for i in 0..1500 {
        // Mostly increasing time with late events up to 400 ms behind.
        base += rng.random_range(0..5);
        let ts = if rng.random_bool(0.2) {
            base - rng.random_range(0..400)
        } else {
            base
        };
        let key = format!("k{}", rng.random_range(0..40));
        let out = store
            .ingest(key.as_bytes(), format!("{i}").as_bytes(), TimestampMs(ts))
            .expect("ingest");
        written.push((out.offset.0, ts));
    }
    assert!(store.log().segments().len() > 5, "several segments");
    let max = base;
    for start in [0, 1_000, 1_500, 2_000, 3_000, max - 10, max, max + 1]
        .into_iter()
        .chain((0..30).map(|_| rng.random_range(1_000..=max)))
    {
        let want: Vec<(u64, i64)> = written
            .iter()
            .copied()
            .filter(|&(_, ts)| ts >= start)
            .collect();
        let got: Vec<(u64, i64)> = store
            .replay(TimestampMs(start))
            .expect("replay")
            .map(|r| {
                let r = r.expect("record");
                (r.offset.0, r.timestamp.0)
            })
            .collect();
        assert_eq!(got, want, "seed {seed}, start {start}");
        // Reading starts at the first such record, not at the log start.
        let first = store.replay_start(TimestampMs(start)).expect("start");
        assert_eq!(
            first.map(|o| o.0),
            want.first().map(|w| w.0),
            "seed {seed}, start {start}"
        );
    }
}

#[test]
fn an_expired_key_of_an_event_time_store_is_dropped_by_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let cfg = KvConfig {
        fsync: Some(logsync_storage::FsyncPolicy::Never),
        ..config(&clock, Mode::EventTime)
    };
    let store = Store::open(dir.path(), cfg.clone()).expect("open");
    store
        .set_with_ttl(b"lease", b"holder-1", std::time::Duration::from_secs(10))
        .expect("set");
    store
        .ingest(b"other", b"x", TimestampMs(5))
        .expect("ingest");
    clock.advance(10_000);
    assert_eq!(store.get(b"lease").expect("get"), None);
    let report = store.compact().expect("compact");
    assert_eq!(report.expired_keys, 1);
    let keys: Vec<Vec<u8>> = store
        .compact_view()
        .expect("view")
        .into_iter()
        .map(|r| r.key.expect("key").to_vec())
        .collect();
    assert_eq!(keys, vec![b"other".to_vec()]);
    let values: Vec<Option<Vec<u8>>> = store
        .replay(TimestampMs(0))
        .expect("replay")
        .map(|r| r.expect("record"))
        .filter(|r| r.key.as_deref() == Some(&b"lease"[..]))
        .map(|r| r.value.map(|v| v.to_vec()))
        .collect();
    assert_eq!(
        values,
        vec![None],
        "only the tombstone of the expired key is left"
    );
    store.close().expect("close");
    drop(store);
    let store = Store::open(dir.path(), cfg).expect("reopen");
    assert_eq!(store.get(b"lease").expect("get"), None);
}
