//! Crash test with a real process: `crash-appender` appends with an fsync per
//! batch and prints what was acknowledged; it is killed with SIGKILL at random
//! moments, 25 times over the same log. After every kill the log is reopened
//! (recovery runs) and every acknowledged record must be there, byte for byte.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use logsync_storage::{Log, LogConfig, Offset};
use logsync_testkit::crash_value;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn every_acknowledged_append_survives_sigkill() {
    let seed = logsync_testkit::seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("crash-0");
    let mut acked: Vec<(u64, u64, u64, u64)> = Vec::new(); // (base, cycle, n, count)
    let mut checked = 0;
    for cycle in 0..25u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-appender"))
            .arg(&log_dir)
            .arg(cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crash-appender");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for the first acknowledgement (bounded), then kill at a random moment.
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("seed {seed}: no ACK in cycle {cycle}"));
        let kill_at = Instant::now() + Duration::from_millis(rng.random_range(5..120));
        while Instant::now() < kill_at {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");
        let lines: Vec<String> = std::iter::once(first).chain(rx.try_iter()).collect();
        for line in lines {
            let f: Vec<u64> = line
                .strip_prefix("ACK ")
                .map(|r| r.split(' ').filter_map(|x| x.parse().ok()).collect())
                .unwrap_or_default();
            if let [base, c, n, count] = f[..] {
                acked.push((base, c, n, count));
            }
        }
        // Reopen (recovery) and check what this cycle acknowledged; the last
        // cycle checks everything acknowledged in all of them.
        let log = Log::open(&log_dir, LogConfig::default())
            .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: reopen: {e}"));
        let check_from = if cycle == 24 { 0 } else { checked };
        checked = acked.len();
        for &(base, c, n, count) in &acked[check_from..] {
            let got: Vec<_> = log
                .records(Offset(base), count as usize)
                .expect("records")
                .collect::<Result<_, _>>()
                .expect("read");
            assert_eq!(
                got.len() as u64,
                count,
                "seed {seed} cycle {cycle}: append at {base} lost"
            );
            for (i, r) in got.iter().enumerate() {
                assert_eq!(r.offset, Offset(base + i as u64));
                assert_eq!(
                    r.value.as_deref(),
                    Some(crash_value(c, n, i as u64).as_slice()),
                    "seed {seed}: offset {}",
                    r.offset
                );
            }
        }
        // Half of the time the next appender starts after a clean close,
        // half of the time after the kill left the log unclean.
        if rng.random_bool(0.5) {
            log.close().expect("close");
        } else {
            drop(log);
            std::fs::remove_file(log_dir.join(logsync_storage::log::CLEAN_SHUTDOWN_FILE))
                .expect("unclean");
        }
    }
    assert!(
        acked.len() > 25,
        "the appender made progress: {} acks",
        acked.len()
    );
}
