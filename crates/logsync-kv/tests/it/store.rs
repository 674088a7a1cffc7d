//! The store API on the real file system: set/get/delete/scan, TTLs,
//! limits, compaction, concurrency, and the log seen as a stream.

use std::sync::Arc;
use std::time::Duration;

use logsync_kv::{Error, KvConfig, Mode, Store, Ttl, WriteBatch};
use logsync_storage::{FsyncPolicy, LogManager, Offset};

use crate::{clock, config};

/// Real-disk tests that do not test durability skip the fsyncs.
fn fast() -> KvConfig {
    KvConfig {
        fsync: Some(FsyncPolicy::Never),
        ..KvConfig::default()
    }
}

#[test]
fn set_get_delete_and_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    assert_eq!(store.get(b"45").expect("get"), None);
    store.set(b"45", b"hello").expect("set");
    assert_eq!(
        store.get(b"45").expect("get").as_deref(),
        Some(&b"hello"[..])
    );
    for i in 0..50 {
        store.set(b"45", format!("v{i}").as_bytes()).expect("set");
    }
    assert_eq!(store.get(b"45").expect("get").as_deref(), Some(&b"v49"[..]));
    assert!(store.delete(b"45").expect("delete"));
    assert!(!store.delete(b"45").expect("delete again"));
    assert_eq!(store.get(b"45").expect("get"), None);
    assert_eq!(store.len(), 0);
    store.close().expect("close");
    let store = Store::open(dir.path(), fast()).expect("reopen");
    assert_eq!(store.get(b"45").expect("get"), None);
}

#[test]
fn scan_is_in_key_order_with_prefix_and_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    for k in ["user:3", "user:1", "item:9", "user:2", "user:10"] {
        store
            .set(k.as_bytes(), format!("={k}").as_bytes())
            .expect("set");
    }
    store.delete(b"user:2").expect("delete");
    let got: Vec<(String, String)> = store
        .scan(b"user:", usize::MAX)
        .expect("scan")
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k.to_vec()).expect("utf8"),
                String::from_utf8(v.to_vec()).expect("utf8"),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ["user:1", "user:10", "user:3"]
        .iter()
        .map(|k| ((*k).to_owned(), format!("={k}")))
        .collect();
    assert_eq!(got, want);
    assert_eq!(store.scan(b"", 2).expect("scan").len(), 2);
    assert_eq!(store.scan(b"", usize::MAX).expect("scan").len(), 4);
}

#[test]
fn empty_keys_and_oversized_values_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    assert!(matches!(store.set(b"", b"x"), Err(Error::EmptyKey)));
    assert!(matches!(store.get(b""), Err(Error::EmptyKey)));
    let max = store.log().config().max_message_bytes as usize;
    let err = store.set(b"big", &vec![7u8; max]).expect_err("too large");
    assert!(
        matches!(err, Error::RecordTooLarge { max: m, .. } if m == max as u64),
        "{err}"
    );
    store
        .set(b"fits", &vec![7u8; max - 200])
        .expect("a value just under the limit");
    assert_eq!(
        store.get(b"fits").expect("get").map(|v| v.len()),
        Some(max - 200)
    );
}

#[test]
fn ttl_hides_a_key_at_once_and_compaction_drops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let store = Store::open(
        dir.path(),
        KvConfig {
            fsync: Some(FsyncPolicy::Never),
            ..config(&clock, Mode::Arrival)
        },
    )
    .expect("open");
    store
        .set_with_ttl(b"session", b"abc", Duration::from_secs(10))
        .expect("set");
    store.set(b"keep", b"forever").expect("set");
    assert_eq!(
        store.ttl(b"session").expect("ttl"),
        Ttl::ExpiresIn(Duration::from_secs(10))
    );
    assert_eq!(store.ttl(b"keep").expect("ttl"), Ttl::Persistent);
    assert_eq!(store.ttl(b"nope").expect("ttl"), Ttl::Missing);
    clock.advance(9_999);
    assert_eq!(
        store.get(b"session").expect("get").as_deref(),
        Some(&b"abc"[..])
    );
    clock.advance(1);
    assert_eq!(store.get(b"session").expect("get"), None);
    assert_eq!(store.ttl(b"session").expect("ttl"), Ttl::Missing);
    assert_eq!(store.len(), 1);
    assert_eq!(store.scan(b"", 10).expect("scan").len(), 1);
    // Setting it again without a TTL makes it persistent.
    store.set(b"again", b"1").expect("set");
    let report = store.compact().expect("compact");
    assert_eq!(report.expired_keys, 1);
    // The expired record is gone from the log: only its tombstone is left.
    let records: Vec<_> = store
        .log()
        .records(store.log().log_start_offset(), usize::MAX)
        .expect("records")
        .map(|r| r.expect("record"))
        .filter(|r| r.key.as_deref() == Some(&b"session"[..]))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].value, None);
    assert_eq!(
        store.get(b"keep").expect("get").as_deref(),
        Some(&b"forever"[..])
    );
    store.close().expect("close");
    let store = Store::open(
        dir.path(),
        KvConfig {
            fsync: Some(FsyncPolicy::Never),
            ..config(&clock, Mode::Arrival)
        },
    )
    .expect("reopen");
    assert_eq!(store.get(b"session").expect("get"), None);
    assert_eq!(store.len(), 2);
}

#[test]
fn compaction_reclaims_overwritten_records_and_answers_stay_right() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    for round in 0..10 {
        let mut batch = WriteBatch::new();
        for k in 0..200 {
            batch.set(format!("key{k}"), format!("value-{k}-{round}"));
        }
        store.write_batch(&batch).expect("write batch");
    }
    let before = store.stats().expect("stats");
    assert_eq!(before.keys, 200);
    assert!(before.dirty_ratio > 0.8, "{before:?}");
    let report = store.compact().expect("compact");
    assert!(report.bytes_reclaimed() > 0, "{report:?}");
    assert!(report.bytes_after < report.bytes_before / 5, "{report:?}");
    for k in 0..200 {
        let v = store.get(format!("key{k}").as_bytes()).expect("get");
        assert_eq!(v.as_deref(), Some(format!("value-{k}-9").as_bytes()));
    }
    store.set(b"key7", b"after").expect("set after compaction");
    assert_eq!(
        store.get(b"key7").expect("get").as_deref(),
        Some(&b"after"[..])
    );
    let after = store.stats().expect("stats");
    assert!(after.dirty_ratio < before.dirty_ratio, "{after:?}");
    assert!(after.index_memory_bytes > 0);
}

#[test]
fn the_store_is_a_topic_that_consumers_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    store.set(b"a", b"1").expect("set");
    store.delete(b"a").expect("delete");
    store.close().expect("close");
    let manager = LogManager::new(dir.path());
    let info = manager.topic("kv").expect("topic kv exists");
    assert!(info.config.cleanup_policy.compacts());
    let log = manager.open_partition("kv", 0).expect("open partition");
    let records: Vec<_> = log
        .records(Offset(0), 10)
        .expect("records")
        .map(|r| r.expect("record"))
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].value.as_deref(), Some(&b"1"[..]));
    assert_eq!(records[1].value, None);
}

#[test]
fn a_second_open_of_the_same_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = Store::open(dir.path(), fast()).expect("open");
    let err = Store::open(dir.path(), fast()).expect_err("locked");
    assert!(
        matches!(err, Error::Storage(logsync_storage::Error::Locked { .. })),
        "{err}"
    );
}

#[test]
fn readers_run_alongside_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path(), fast()).expect("open"));
    for k in 0..100 {
        store.set(format!("k{k}").as_bytes(), b"0").expect("set");
    }
    std::thread::scope(|s| {
        for t in 0..2 {
            let store = Arc::clone(&store);
            s.spawn(move || {
                for i in 1..=200 {
                    let k = format!("k{}", (i * 7 + t) % 100);
                    store
                        .set(k.as_bytes(), i.to_string().as_bytes())
                        .expect("set");
                }
            });
        }
        for _ in 0..2 {
            let store = Arc::clone(&store);
            s.spawn(move || {
                for i in 0..2000 {
                    let v = store.get(format!("k{}", i % 100).as_bytes()).expect("get");
                    let v = v.expect("every key stays present");
                    let n: u32 = std::str::from_utf8(&v)
                        .expect("utf8")
                        .parse()
                        .expect("number");
                    assert!(n <= 200);
                }
            });
        }
        let store = Arc::clone(&store);
        s.spawn(move || {
            store
                .compact()
                .expect("compact while others read and write");
        });
    });
    assert_eq!(store.len(), 100);
}

#[test]
fn ingest_needs_an_event_time_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    let err = store
        .ingest(b"k", b"v", logsync_storage::TimestampMs(5))
        .expect_err("arrival store");
    assert!(matches!(err, Error::NotEventTime { .. }), "{err}");
}
