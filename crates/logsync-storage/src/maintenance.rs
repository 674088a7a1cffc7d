//! Background upkeep of open logs on one thread: `flush.ms` flushes,
//! retention, and the cleaner when a log needs it (dirty ratio, max
//! compaction lag or a tombstone horizon). Long-running commands and the
//! broker register their logs here; nothing on the append or read path waits
//! for it.

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

/// The maintenance thread; stopped (and joined) on drop.
#[derive(Debug)]
pub struct Maintenance {
    shared: Arc<(Mutex<Shared>, Condvar)>,
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
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("logsync-maintenance".into())
            .spawn(move || run(&worker, schedule))?;
        Ok(Maintenance {
            shared,
            thread: Some(thread),
        })
    }

    /// Looks after `log` from now on (until it is closed).
    pub fn add(&self, log: Arc<Log>) {
        lock(&self.shared.0).logs.push(log);
    }
}

/// One round of retention and cleaning for one log; errors are logged,
/// never fatal (the next round tries again).
pub fn upkeep(log: &Log) {
    let now = now_ms();
    match log.apply_retention_at(now) {
        Ok(r) if r.segments_deleted > 0 => {
            tracing::info!(dir = %log.dir().display(), segments = r.segments_deleted, bytes = r.bytes_deleted, "retention");
        }
        Ok(_) | Err(crate::Error::Closed) => {}
        Err(e) => tracing::warn!(dir = %log.dir().display(), error = %e, "retention failed"),
    }
    match log.needs_cleaning_at(now) {
        Ok(true) => {
            if let Err(e) = log.clean_at(now, false) {
                tracing::warn!(dir = %log.dir().display(), error = %e, "cleaning failed");
            }
        }
        Ok(false) | Err(crate::Error::Closed) => {}
        Err(e) => tracing::warn!(dir = %log.dir().display(), error = %e, "cleaner check failed"),
    }
}

fn run(shared: &(Mutex<Shared>, Condvar), schedule: Schedule) {
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
                tracing::warn!(dir = %log.dir().display(), error = %e, "background flush failed");
            }
        }
        if last_check.elapsed() >= schedule.check_every {
            last_check = Instant::now();
            for log in &logs {
                upkeep(log);
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
