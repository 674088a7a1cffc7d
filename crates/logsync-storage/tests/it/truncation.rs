//! `truncate_suffix` under failure and concurrency: a failure part-way
//! poisons the log and a reopen finds a prefix of the old log; a damaged
//! header is reported rather than cut at; appends waiting for their fsync
//! learn that a concurrent cut removed them.

use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use logsync_storage::fs::{FileSystem, FsFile, OpenMode, StdFs};
use logsync_storage::{Error, FsyncPolicy, Log, LogConfig, Offset, Record};
use logsync_testkit::{Faults, SimFs};

use crate::{record, sim_config as config, sim_record as rec, small_config, value_for};

/// Reopens and checks the log is `value_for(o)` at every offset from its
/// start to its end, and that the end is at least `min_end`.
fn assert_prefix(fs: &Arc<SimFs>, dir: &Path, min_end: u64, what: &str) {
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let log = Log::open_with(dir, config(), dynfs)
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let (start, end) = (log.log_start_offset().0, log.log_end_offset().0);
    assert!(end >= min_end && end <= 60, "{what}: end {end}");
    let got: Vec<Record> = log
        .records(Offset(start), usize::MAX)
        .expect("records")
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{what}: read failed: {e}"));
    assert_eq!(got.len() as u64, end - start, "{what}: gap-free");
    for r in got {
        assert_eq!(
            r.value.as_deref(),
            Some(value_for(r.offset.0).as_slice()),
            "{what}: offset {}",
            r.offset
        );
    }
}

#[test]
fn a_failure_during_truncate_suffix_poisons_the_log_and_a_reopen_finds_a_prefix() {
    let seed = logsync_testkit::seed();
    let dir = Path::new("/sim/cut-0");
    let mut failures = 0;
    for point in 0..40u64 {
        let what = format!("seed {seed} crash after {point} ops");
        let fs = Arc::new(SimFs::new(seed.wrapping_add(point)));
        let dynfs: Arc<dyn FileSystem> = fs.clone();
        let log = Log::open_with(dir, config(), Arc::clone(&dynfs)).expect("open");
        for i in 0..60 {
            log.append_records(&[rec(i)]).expect("append");
        }
        assert!(log.stats().expect("stats").segments.len() > 3, "{what}");
        fs.set_faults(Faults {
            crash_after_ops: Some(point),
            ..Faults::default()
        });
        match log.truncate_suffix(Offset(20)) {
            Ok(end) => assert_eq!(end, Offset(20), "{what}"),
            Err(e) => {
                failures += 1;
                let next = log.append_records(&[rec(99)]);
                assert!(
                    matches!(next, Err(Error::Poisoned { .. })),
                    "{what}: truncate failed with {e}, then append gave {next:?}"
                );
            }
        }
        drop(log);
        fs.reboot();
        // Every append was acknowledged durable, and the cut is at 20.
        assert_prefix(&fs, dir, 20, &what);
    }
    assert!(failures > 5, "the crash points hit truncate_suffix");
}

#[test]
fn a_failed_fsync_during_truncate_suffix_poisons_the_log() {
    let fs = Arc::new(SimFs::new(7));
    let dynfs: Arc<dyn FileSystem> = fs.clone();
    let dir = Path::new("/sim/cut-1");
    let log = Log::open_with(dir, config(), Arc::clone(&dynfs)).expect("open");
    for i in 0..60 {
        log.append_records(&[rec(i)]).expect("append");
    }
    fs.set_faults(Faults {
        failing_syncs: 1,
        ..Faults::default()
    });
    let err = log.truncate_suffix(Offset(30)).expect_err("fsync fails");
    assert!(!matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(matches!(
        log.append_records(&[rec(99)]),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(
        log.truncate_suffix(Offset(10)),
        Err(Error::Poisoned { .. })
    ));
    drop(log);
    assert_prefix(&fs, dir, 30, "reopen after a failed fsync");
}

#[test]
fn truncate_suffix_refuses_to_cut_at_a_damaged_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..small_config()
    };
    let log = Log::open(dir.path(), config).expect("open");
    for i in 0..60 {
        log.append_records(&[record(i)]).expect("append");
    }
    // Give batch 40 a wrong baseOffset (outside the CRC): its header now
    // claims offsets 43..=43.
    let seg = dir.path().join(format!("{:020}.log", 0));
    let bytes = std::fs::read(&seg).expect("read");
    let batches = logsync_storage::batch::split_batches(&bytes.clone().into()).expect("valid");
    let pos: u64 = batches[..40].iter().map(|b| b.header().total_size()).sum();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open");
    std::os::unix::fs::FileExt::write_at(&f, &43i64.to_be_bytes(), pos).expect("damage");
    drop(f);
    for target in [40u64, 41, 42] {
        let err = log
            .truncate_suffix(Offset(target))
            .expect_err("damaged header on the way to the cut");
        assert!(
            matches!(err, Error::Corrupt { .. }),
            "cut at {target}: {err}"
        );
        assert_eq!(log.log_end_offset(), Offset(60), "nothing cut");
    }
    // Not poisoned: nothing was touched. A cut before the damage works.
    assert_eq!(
        log.truncate_suffix(Offset(30)).expect("truncate"),
        Offset(30)
    );
    assert_eq!(
        log.append_records(&[record(30)])
            .expect("append")
            .base_offset,
        Offset(30)
    );
}

/// Blocks the first `fdatasync` of a `.log` file after [`Gate::arm`] until
/// [`Gate::release`], so a test can cut the log under a waiting appender.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<(bool, bool, bool)>, // armed, held, released
    changed: Condvar,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, (bool, bool, bool)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn arm(&self) {
        *self.lock() = (true, false, false);
    }
    fn pass(&self) {
        let mut st = self.lock();
        if st.0 {
            st.0 = false;
            st.1 = true;
            self.changed.notify_all();
            let (st, _) = self
                .changed
                .wait_timeout_while(st, Duration::from_secs(30), |s| !s.2)
                .unwrap_or_else(PoisonError::into_inner);
            drop(st);
        }
    }
    fn wait_held(&self) {
        let (st, _) = self
            .changed
            .wait_timeout_while(self.lock(), Duration::from_secs(10), |s| !s.1)
            .unwrap_or_else(PoisonError::into_inner);
        assert!(st.1, "a group-commit fsync reached the gate");
    }
    fn release(&self) {
        self.lock().2 = true;
        self.changed.notify_all();
    }
}

#[derive(Debug)]
struct GateFs(Arc<Gate>);

#[derive(Debug)]
struct GatedFile(Arc<dyn FsFile>, Option<Arc<Gate>>);

impl FsFile for GatedFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.0.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        self.0.write_at(buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        self.0.allocate(pos, len)
    }
    fn sync_data(&self) -> io::Result<()> {
        if let Some(g) = &self.1 {
            g.pass();
        }
        self.0.sync_data()
    }
}

impl FileSystem for GateFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let is_log = path.extension().is_some_and(|e| e == "log");
        let inner = StdFs.open(path, mode)?;
        Ok(Arc::new(GatedFile(
            inner,
            is_log.then(|| Arc::clone(&self.0)),
        )))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_dir(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_dir(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<std::path::PathBuf>> {
        StdFs.read_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        StdFs.exists(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn std::fmt::Debug + Send + Sync>> {
        StdFs.lock(path)
    }
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_append_cut_while_waiting_for_its_fsync_gets_truncated_not_ok() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Arc::new(Gate::default());
    let fs: Arc<dyn FileSystem> = Arc::new(GateFs(Arc::clone(&gate)));
    let config = LogConfig {
        fsync: FsyncPolicy::EveryBatch,
        ..small_config()
    };
    let log = Arc::new(Log::open_with(dir.path(), config, fs).expect("open"));
    for i in 0..10 {
        log.append_records(&[rec(i)]).expect("append");
    }
    let (tx, rx) = mpsc::channel();
    let spawn = |name: &'static str, value: u64| {
        let log = Arc::clone(&log);
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send((name, log.append_records(&[rec(value)])));
        })
    };
    gate.arm();
    // A (offset 10) syncs for the group and blocks in fdatasync.
    let a = spawn("a", 100);
    gate.wait_held();
    // C (offset 11) waits for A's sync.
    let c = spawn("c", 101);
    wait_for("c's write", || log.log_end_offset() == Offset(12));
    // The cut removes C but leaves A.
    assert_eq!(
        log.truncate_suffix(Offset(11)).expect("truncate"),
        Offset(11)
    );
    // B reuses offset 11.
    let b = spawn("b", 102);
    wait_for("b's write", || log.log_end_offset() == Offset(12));
    gate.release();
    let mut results = std::collections::HashMap::new();
    for _ in 0..3 {
        let (name, r) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("every appender returns");
        results.insert(name, r);
    }
    for t in [a, b, c] {
        t.join().expect("appender");
    }
    assert_eq!(
        results["a"].as_ref().expect("a kept").base_offset,
        Offset(10)
    );
    assert_eq!(
        results["b"].as_ref().expect("b kept").base_offset,
        Offset(11)
    );
    assert!(
        matches!(results["c"], Err(Error::Truncated { offset: Offset(11) })),
        "c was cut: {:?}",
        results["c"]
    );
    let values: Vec<Vec<u8>> = log
        .records(Offset(10), 10)
        .expect("records")
        .map(|r| r.expect("record").value.expect("value").to_vec())
        .collect();
    assert_eq!(values, vec![value_for(100), value_for(102)]);
}
