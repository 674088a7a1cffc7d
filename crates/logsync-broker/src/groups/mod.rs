//! Consumer groups with Kafka's classic group protocol, and their committed
//! offsets.
//!
//! - [`group`]: one group's state machine (Empty, PreparingRebalance,
//!   CompletingRebalance, Stable, Dead), its members, generations, leader and
//!   protocol choice. The assignors (range, roundrobin, cooperative-sticky)
//!   run in the clients: the broker passes their metadata and assignments as
//!   opaque bytes.
//! - [`coordinator`]: every group of this broker behind one lock, the waits of
//!   JoinGroup and SyncGroup (async, bounded), and the timer task that expires
//!   sessions and ends rebalances whose deadline passed.
//! - [`offsets`]: committed offsets, in memory and as records of the
//!   compacted internal topic `__consumer_offsets`, replayed on start.

pub mod coordinator;
pub mod group;
pub mod offsets;

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

pub use coordinator::GroupCoordinator;
pub use group::{GroupState, JoinOutcome, JoinRequest, JoinedMember, SyncOutcome};
pub use offsets::{CommittedOffset, OFFSETS_TOPIC, OffsetStore};

/// Settings of the group coordinator (Kafka's broker keys in the docs).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms` (default 6000).
    pub min_session_timeout_ms: u64,
    /// `group.max.session.timeout.ms` (default 1800000).
    pub max_session_timeout_ms: u64,
    /// How often the timer expires sessions and ends late rebalances (default 100).
    pub tick_interval_ms: u64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            tick_interval_ms: 100,
        }
    }
}

/// A fresh member id, `client_id-` and 128 random-looking bits in UUID form,
/// as Kafka makes them. Unique within the process (a counter goes into the
/// hash) and unpredictable across restarts (the hasher's random keys).
pub(crate) fn new_member_id(client_id: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = RandomState::new();
    let half = |salt: u64| {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_u64(salt);
        h.finish()
    };
    let (hi, lo) = (half(1), half(2));
    let prefix = if client_id.is_empty() {
        "member"
    } else {
        client_id
    };
    format!(
        "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_prefixed_and_unique() {
        let a = new_member_id("rdkafka");
        let b = new_member_id("rdkafka");
        assert!(a.starts_with("rdkafka-"), "{a}");
        assert_eq!(a.len(), "rdkafka-".len() + 36, "{a}");
        assert_ne!(a, b);
        assert!(new_member_id("").starts_with("member-"));
    }
}
