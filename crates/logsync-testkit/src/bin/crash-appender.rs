//! Appends to a log with an fsync per batch and prints each acknowledged
//! append as `ACK <base offset> <cycle> <n> <records>` — the other half of
//! the kill -9 test (`tests/kill9.rs`), which SIGKILLs it at random moments.

use std::io::Write;

use logsync_storage::{FsyncPolicy, Log, LogConfig, Record, TimestampMs};
use logsync_testkit::crash_value;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(cycle)) = (args.next(), args.next().and_then(|c| c.parse::<u64>().ok()))
    else {
        eprintln!("usage: crash-appender DIR CYCLE");
        return std::process::ExitCode::from(2);
    };
    let config = LogConfig {
        segment_bytes: 64 * 1024,
        fsync: FsyncPolicy::EveryBatch,
        ..LogConfig::default()
    };
    let log = match Log::open(&dir, config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    // Bounded: the test kills us long before this.
    for n in 0..200_000u64 {
        let count = 1 + n % 3;
        let records: Vec<Record> = (0..count)
            .map(|i| Record::new(None, &crash_value(cycle, n, i), TimestampMs(n as i64)))
            .collect();
        match log.append_records(&records) {
            Ok(info) => {
                if writeln!(out, "ACK {} {cycle} {n} {count}", info.base_offset)
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    break;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
