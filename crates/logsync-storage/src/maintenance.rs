//! Background upkeep of open logs on one thread: `flush.ms` flushes,
//! retention, and the cleaner when a log needs it (dirty ratio, max
//! compaction lag or a tombstone horizon). Long-running commands and the
//! broker register their logs here; nothing on the append or read path waits
//! for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::log::{Log, now_ms};

/// How often the thread wakes: flushes are checked every tick, retention and
/// cleaning every `check_every`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Tick for `flush.ms` checks.
    pub tick: Duration,
    /// Interval between retention and cleaner checks (Kafka's
    /// `log.retention.check.interval.ms`).
    pub check_every: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            tick: Duration::from_millis(100),
            check_every: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    logs: Vec<Arc<Log>>,
    stop: bool,
}

/// What the maintenance thread has done since it started (for metrics).
#[derive(Debug, Default)]
pub struct Activity {
    /// Retention runs that deleted at least one segment.
    pub retention_runs: AtomicU64,
    /// Segments deleted by retention.
    pub segments_deleted: AtomicU64,
    /// Bytes deleted by retention.
    pub retention_bytes_deleted: AtomicU64,
    /// Cleaner runs.
    pub cleans: AtomicU64,
    /// Bytes reclaimed by the cleaner.
    pub cleaner_bytes_reclaimed: AtomicU64,
    /// Retention, cleaner or flush failures.
    pub failures: AtomicU64,
}

/// The maintenance thread; stopped (and joined) on drop.
#[derive(Debug)]
pub struct Maintenance {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    activity: Arc<Activity>,
    thread: Option<JoinHandle<()>>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Maintenance {
    /// Starts the thread.
    ///
    /// # Errors
    /// The OS refused a thread.
    pub fn start(schedule: Schedule) -> std::io::Result<Self> {
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let activity = Arc::new(Activity::default());
        let worker = Arc::clone(&shared);
        let counting = Arc::clone(&activity);
        let thread = std::thread::Builder::new()
            .name("logsync-maintenance".into())
            .spawn(move || run(&worker, schedule, &counting))?;
        Ok(Maintenance {
            shared,
            activity,
            thread: Some(thread),
        })
    }

    /// What the thread has done so far.
    #[must_use]
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Looks after `log` from now on (until it is closed).
    pub fn add(&self, log: Arc<Log>) {
        lock(&self.shared.0).logs.push(log);
    }
}

/// One round of retention and cleaning for one log; errors are logged,
/// never fatal (the next round tries again).
pub fn upkeep(log: &Log) {
    upkeep_counted(log, &Activity::default());
}

fn upkeep_counted(log: &Log, activity: &Activity) {
    let now = now_ms();
    let add = |c: &AtomicU64, n: u64| {
        c.fetch_add(n, Ordering::Relaxed);
    };
    match log.apply_retention_at(now) {
        Ok(r) if r.segments_deleted > 0 => {
            add(&activity.retention_runs, 1);
            add(&activity.segments_deleted, r.segments_deleted as u64);
            add(&activity.retention_bytes_deleted, r.bytes_deleted);
            tracing::info!(dir = %log.dir().display(), segments = r.segments_deleted, bytes = r.bytes_deleted, "retention");
        }
        Ok(_) | Err(crate::Error::Closed) => {}
        Err(e) => {
            add(&activity.failures, 1);
            tracing::warn!(dir = %log.dir().display(), error = %e, "retention failed");
        }
    }
    match log.needs_cleaning_at(now) {
        Ok(true) => match log.clean_at(now, false) {
            Ok(report) => {
                add(&activity.cleans, 1);
                add(&activity.cleaner_bytes_reclaimed, report.bytes_reclaimed());
            }
            Err(e) => {
                add(&activity.failures, 1);
                tracing::warn!(dir = %log.dir().display(), error = %e, "cleaning failed");
            }
        },
        Ok(false) | Err(crate::Error::Closed) => {}
        Err(e) => {
            add(&activity.failures, 1);
            tracing::warn!(dir = %log.dir().display(), error = %e, "cleaner check failed");
        }
    }
}

fn run(shared: &(Mutex<Shared>, Condvar), schedule: Schedule, activity: &Activity) {
    let mut last_check = Instant::now();
    loop {
        let logs = {
            let guard = lock(&shared.0);
            let (mut guard, _) = shared
                .1
                .wait_timeout_while(guard, schedule.tick, |s| !s.stop)
                .unwrap_or_else(PoisonError::into_inner);
            if guard.stop {
                return;
            }
            guard.logs.retain(|l| !l.is_closed());
            guard.logs.clone()
        };
        for log in &logs {
            if let Err(e) = log.flush_if_due() {
                activity.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(dir = %log.dir().display(), error = %e, "background flush failed");
            }
        }
        if last_check.elapsed() >= schedule.check_every {
            last_check = Instant::now();
            for log in &logs {
                upkeep_counted(log, activity);
            }
        }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        lock(&self.shared.0).stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
