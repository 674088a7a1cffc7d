//! Test helpers for logsync (dev-only).
//!
//! - [`SimFs`]: an in-memory [`FileSystem`] that knows what was synced. It can
//!   crash at any chosen operation (everything after fails, as if the process
//!   died there), then "reboot" into the state a real disk would hold: file
//!   contents as of their last `fdatasync` plus a random part of any unsynced
//!   appended tail, and directory entries as of the last directory fsync.
//!   It can also inject ENOSPC, short writes and failing fsyncs.
//! - [`seed`]: a per-test seed, printed so a failure can be replayed.

#![deny(missing_docs)]

mod sim;

pub use sim::{Faults, SimFs};

/// The seed for a randomized test: `LOGSYNC_SEED` if set, else fresh; printed
/// so that a failure can be replayed with the same seed.
#[must_use]
pub fn seed() -> u64 {
    let seed = std::env::var("LOGSYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!("LOGSYNC_SEED={seed}");
    seed
}

/// The value the crash appender writes for record `i` of append `n` in
/// `cycle` (the kill -9 test regenerates it to check bytes).
#[must_use]
pub fn crash_value(cycle: u64, n: u64, i: u64) -> Vec<u8> {
    let mut v = format!("cycle{cycle}-n{n}-i{i}-").into_bytes();
    v.resize(
        20 + ((n * 13 + i * 7) % 300) as usize,
        b'a' + ((n + i) % 26) as u8,
    );
    v
}
