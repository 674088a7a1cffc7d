//! The index checkpoint: a restart reads only the log after it; a damaged or
//! stale checkpoint is detected and the keydir rebuilt, with the same answers.

use std::path::Path;
use std::sync::Arc;

use logsync_kv::{HINT_FILE, KvConfig, Store, WriteBatch};
use logsync_storage::LogManager;
use logsync_storage::fs::FileSystem;
use logsync_testkit::SimFs;

use crate::open_sim;

/// Real-disk tests here check the checkpoint, not fsyncs.
fn fast() -> KvConfig {
    KvConfig {
        fsync: Some(logsync_storage::FsyncPolicy::Never),
        checkpoint_min_records: 0,
        ..KvConfig::default()
    }
}

fn fill(store: &Store, from: u32, to: u32, tag: &str) {
    for chunk in (from..to).collect::<Vec<_>>().chunks(50) {
        let mut b = WriteBatch::new();
        for i in chunk {
            b.set(format!("key{i}"), format!("{tag}-{i}"));
        }
        store.write_batch(&b).expect("write");
    }
}

fn answers(store: &Store, n: u32) -> Vec<Option<Vec<u8>>> {
    (0..n)
        .map(|i| {
            store
                .get(format!("key{i}").as_bytes())
                .expect("get")
                .map(|v| v.to_vec())
        })
        .collect()
}

#[test]
fn restart_after_a_crash_replays_only_the_log_after_the_checkpoint() {
    let fs = Arc::new(SimFs::new(5));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let dir = Path::new("/sim/data");
    let cfg = KvConfig {
        checkpoint_min_records: 0,
        ..KvConfig::default()
    };
    let store = open_sim(&dynfs, dir, &cfg);
    assert!(!store.open_report().from_checkpoint);
    fill(&store, 0, 1000, "a");
    store.close().expect("close");
    drop(store);

    let store = open_sim(&dynfs, dir, &cfg);
    assert!(store.open_report().from_checkpoint);
    assert_eq!(store.open_report().replayed_records, 0);
    // 137 more records, some overwriting, then a crash: no checkpoint.
    for i in 0..137u32 {
        store
            .set(
                format!("key{}", i * 7 % 1200).as_bytes(),
                format!("b-{i}").as_bytes(),
            )
            .expect("set");
    }
    let want = answers(&store, 1200);
    fs.crash();
    drop(store);
    fs.reboot();

    let store = open_sim(&dynfs, dir, &cfg);
    assert!(
        store.open_report().from_checkpoint,
        "{:?}",
        store.open_report()
    );
    assert_eq!(store.open_report().replayed_records, 137);
    assert_eq!(answers(&store, 1200), want);
}

fn damaged_checkpoint_is_rebuilt(damage: impl Fn(&mut Vec<u8>)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    fill(&store, 0, 500, "a");
    fill(&store, 0, 100, "b");
    store.delete(b"key3").expect("delete");
    let want = answers(&store, 500);
    store.close().expect("close");
    drop(store);
    let hint = dir.path().join("kv-0").join(HINT_FILE);
    let mut bytes = std::fs::read(&hint).expect("checkpoint written on close");
    damage(&mut bytes);
    std::fs::write(&hint, &bytes).expect("write damaged");
    let store = Store::open(dir.path(), fast()).expect("reopen");
    let report = store.open_report().clone();
    assert!(!report.from_checkpoint, "{report:?}");
    assert!(
        report
            .fallback
            .as_deref()
            .is_some_and(|f| f.contains("damaged")),
        "{report:?}"
    );
    assert_eq!(report.replayed_records, 601);
    assert_eq!(answers(&store, 500), want);
    // The next close writes a good checkpoint again.
    store.close().expect("close");
    drop(store);
    let store = Store::open(dir.path(), fast()).expect("reopen");
    assert!(store.open_report().from_checkpoint);
    assert_eq!(answers(&store, 500), want);
}

#[test]
fn a_truncated_checkpoint_is_detected_and_rebuilt() {
    damaged_checkpoint_is_rebuilt(|b| {
        let n = b.len() / 2;
        b.truncate(n);
    });
}

#[test]
fn a_bit_flip_in_the_checkpoint_is_detected_and_rebuilt() {
    damaged_checkpoint_is_rebuilt(|b| {
        let at = b.len() / 3;
        b[at] ^= 0x08;
    });
}

#[test]
fn a_checkpoint_older_than_a_compaction_of_the_log_is_not_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    for round in 0..5 {
        fill(&store, 0, 300, &format!("r{round}"));
    }
    let want = answers(&store, 300);
    store.close().expect("close");
    drop(store);
    // `logsync compact kv` while the store is closed: positions change.
    let log = LogManager::new(dir.path())
        .open_partition("kv", 0)
        .expect("open partition");
    log.roll_active().expect("roll");
    let report = log.clean().expect("clean");
    assert!(report.bytes_reclaimed() > 0);
    log.close().expect("close log");
    drop(log);
    let store = Store::open(dir.path(), fast()).expect("reopen");
    let report = store.open_report().clone();
    assert!(!report.from_checkpoint, "{report:?}");
    assert!(
        report
            .fallback
            .as_deref()
            .is_some_and(|f| f.contains("does not match")),
        "{report:?}"
    );
    assert_eq!(answers(&store, 300), want);
}

#[test]
fn a_missing_checkpoint_means_a_full_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), fast()).expect("open");
    fill(&store, 0, 200, "a");
    let want = answers(&store, 200);
    store.close().expect("close");
    drop(store);
    std::fs::remove_file(dir.path().join("kv-0").join(HINT_FILE)).expect("remove");
    let store = Store::open(dir.path(), fast()).expect("reopen");
    assert!(!store.open_report().from_checkpoint);
    assert_eq!(store.open_report().replayed_records, 200);
    assert_eq!(answers(&store, 200), want);
}

#[test]
fn close_rewrites_the_checkpoint_only_past_a_number_of_new_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = KvConfig {
        checkpoint_min_records: 10,
        ..fast()
    };
    let store = Store::open(dir.path(), cfg.clone()).expect("open");
    fill(&store, 0, 100, "a");
    store
        .close()
        .expect("close: no checkpoint yet, so one is written");
    drop(store);
    let store = Store::open(dir.path(), cfg.clone()).expect("reopen");
    assert_eq!(store.open_report().replayed_records, 0);
    for i in 0..5 {
        store.set(format!("key{i}").as_bytes(), b"x").expect("set");
    }
    store.close().expect("close");
    drop(store);
    let store = Store::open(dir.path(), cfg.clone()).expect("reopen");
    assert!(store.open_report().from_checkpoint);
    assert_eq!(
        store.open_report().replayed_records,
        5,
        "5 < 10: not rewritten"
    );
    for i in 0..5 {
        store.set(format!("key{i}").as_bytes(), b"y").expect("set");
    }
    store.close().expect("close");
    drop(store);
    let store = Store::open(dir.path(), cfg).expect("reopen");
    assert_eq!(
        store.open_report().replayed_records,
        0,
        "5 + 5 >= 10: rewritten"
    );
    assert_eq!(store.get(b"key4").expect("get").as_deref(), Some(&b"y"[..]));
}
