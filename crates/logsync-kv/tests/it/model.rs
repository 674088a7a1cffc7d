//! Model-based test: random set / set-with-TTL / delete / clock advances /
//! compactions / clean restarts / crashes (also in the middle of a
//! compaction), on the simulated file system, checked after every step
//! against a `BTreeMap` model: every `get`, `scan`, `len` and `ttl` agrees.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use logsync_kv::{ManualClock, Mode, Store, Ttl};
use logsync_storage::fs::FileSystem;
use logsync_testkit::{Faults, SimFs};
use proptest::prelude::*;

use crate::{clock, config, open_sim};

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8),
    SetTtl(u8, u8, u16),
    Del(u8),
    Advance(u16),
    Compact,
    Restart,
    Crash,
    CrashDuringCompact(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..10, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        3 => (0u8..10, any::<u8>(), 1u16..3000).prop_map(|(k, v, t)| Op::SetTtl(k, v, t)),
        3 => (0u8..10).prop_map(Op::Del),
        2 => (0u16..2500).prop_map(Op::Advance),
        1 => Just(Op::Compact),
        1 => Just(Op::Restart),
        1 => Just(Op::Crash),
        1 => (0u8..60).prop_map(Op::CrashDuringCompact),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

fn value(k: u8, v: u8) -> Vec<u8> {
    let mut out = format!("value-{k}-{v}-").into_bytes();
    out.resize(10 + usize::from(v) % 40, b'x');
    out
}

/// key -> (value, expiry ms)
type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<i64>)>;

fn visible(model: &Model, now: i64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    model
        .iter()
        .filter(|(_, (_, exp))| exp.is_none_or(|at| at > now))
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

fn check(store: &Store, model: &Model, clock: &ManualClock, step: usize) {
    use logsync_kv::Clock;
    let now = clock.now().0;
    let want = visible(model, now);
    for k in 0..10 {
        let got = store.get(&key(k)).expect("get");
        assert_eq!(
            got.as_deref(),
            want.get(&key(k)).map(Vec::as_slice),
            "step {step}: get key-{k}"
        );
        let ttl = store.ttl(&key(k)).expect("ttl");
        let want_ttl = match model.get(&key(k)) {
            Some((_, None)) => Ttl::Persistent,
            Some((_, Some(at))) if *at > now => {
                Ttl::ExpiresIn(Duration::from_millis((at - now) as u64))
            }
            _ => Ttl::Missing,
        };
        assert_eq!(ttl, want_ttl, "step {step}: ttl key-{k}");
    }
    let scanned: Vec<(Vec<u8>, Vec<u8>)> = store
        .scan(b"key-", usize::MAX)
        .expect("scan")
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    let want_scan: Vec<(Vec<u8>, Vec<u8>)> = want.into_iter().collect();
    assert_eq!(scanned, want_scan, "step {step}: scan");
    assert_eq!(store.len(), want_scan.len() as u64, "step {step}: len");
}

fn run(ops: &[Op]) {
    let fs = Arc::new(SimFs::new(1));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let dir = Path::new("/sim/data");
    let clock = clock();
    let cfg = config(&clock, Mode::Arrival);
    let mut store = open_sim(&dynfs, dir, &cfg);
    let mut model = Model::new();
    use logsync_kv::Clock;
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Set(k, v) => {
                store.set(&key(k), &value(k, v)).expect("set");
                model.insert(key(k), (value(k, v), None));
            }
            Op::SetTtl(k, v, ttl) => {
                store
                    .set_with_ttl(&key(k), &value(k, v), Duration::from_millis(u64::from(ttl)))
                    .expect("set with ttl");
                let at = clock.now().0 + i64::from(ttl);
                model.insert(key(k), (value(k, v), Some(at)));
            }
            Op::Del(k) => {
                let now = clock.now().0;
                let was = visible(&model, now).contains_key(&key(k));
                assert_eq!(
                    store.delete(&key(k)).expect("delete"),
                    was,
                    "step {step}: delete"
                );
                model.remove(&key(k));
            }
            Op::Advance(ms) => clock.advance(i64::from(ms)),
            Op::Compact => {
                store.compact().expect("compact");
            }
            Op::Restart => {
                store.close().expect("close");
                drop(store);
                store = open_sim(&dynfs, dir, &cfg);
                assert!(
                    store.open_report().from_checkpoint,
                    "step {step}: clean restart uses the checkpoint"
                );
                assert_eq!(store.open_report().replayed_records, 0, "step {step}");
            }
            Op::Crash => {
                fs.crash();
                drop(store);
                fs.reboot();
                store = open_sim(&dynfs, dir, &cfg);
            }
            Op::CrashDuringCompact(n) => {
                fs.set_faults(Faults {
                    crash_after_ops: Some(u64::from(n)),
                    ..Faults::default()
                });
                let _ = store.compact();
                fs.crash();
                drop(store);
                fs.reboot();
                store = open_sim(&dynfs, dir, &cfg);
            }
        }
        // Expired keys leave the model only when nothing can tell them
        // apart from absent ones: keep them (invisible) as the store does.
        check(&store, &model, &clock, step);
    }
    store.close().expect("close");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn the_store_agrees_with_a_btreemap(ops in proptest::collection::vec(op(), 1..80)) {
        run(&ops);
    }
}

#[test]
fn a_fixed_sequence_with_every_kind_of_step_agrees() {
    let ops = [
        Op::Set(1, 1),
        Op::SetTtl(2, 2, 1000),
        Op::Set(3, 3),
        Op::Restart,
        Op::Advance(999),
        Op::Del(3),
        Op::Advance(1),
        Op::Compact,
        Op::Set(2, 9),
        Op::Crash,
        Op::SetTtl(4, 4, 50),
        Op::CrashDuringCompact(5),
        Op::Advance(100),
        Op::CrashDuringCompact(30),
        Op::Restart,
        Op::Compact,
        Op::Set(1, 7),
        Op::Crash,
    ];
    run(&ops);
}
