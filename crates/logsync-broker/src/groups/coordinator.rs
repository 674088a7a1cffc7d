//! The group coordinator: every group of this broker behind one lock, the
//! async waits of JoinGroup and SyncGroup, the timer, and the membership
//! checks of OffsetCommit.
//!
//! The lock is a plain mutex held only for a state transition (never across
//! an await); waiting requests hold a `oneshot` receiver instead, and each
//! wait is also bounded by a timeout derived from the group's own timeouts,
//! so no request can hang on a bug in the state machine.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::time::Instant;

use super::GroupConfig;
use super::group::{Group, GroupState, JoinOutcome, JoinRequest, Step, SyncOutcome};
use super::offsets::OffsetStore;

/// Slack added to a wait's bound: the timer ends a late rebalance within one
/// tick, well inside this.
const WAIT_SLACK: Duration = Duration::from_secs(5);

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// "consumer", or empty for a group known only by its committed offsets.
    pub protocol_type: String,
    /// Its state.
    pub state: GroupState,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the selected protocol (Stable groups only).
    pub metadata: Bytes,
    /// Assignment (Stable groups only).
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Its state.
    pub state: GroupState,
    /// Protocol type.
    pub protocol_type: String,
    /// The selected protocol (Stable groups only).
    pub protocol: String,
    /// Members, in join order.
    pub members: Vec<MemberDescription>,
}

/// Every group of this broker, and their committed offsets.
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: Mutex<HashMap<String, Group>>,
    offsets: OffsetStore,
    timer_started: AtomicBool,
}

impl GroupCoordinator {
    /// A coordinator with no groups and no offsets (see [`OffsetStore::load`]).
    #[must_use]
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator {
            config,
            groups: Mutex::new(HashMap::new()),
            offsets: OffsetStore::new(),
            timer_started: AtomicBool::new(false),
        }
    }

    /// The committed offsets.
    #[must_use]
    pub fn offsets(&self) -> &OffsetStore {
        &self.offsets
    }

    fn groups(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the timer task (once; later calls do nothing). It holds the
    /// coordinator weakly and ends when the coordinator is dropped. Outside
    /// a tokio runtime it does nothing and a later call tries again.
    pub fn start_timer(self: &Arc<Self>) {
        if self.timer_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.timer_started.store(false, Ordering::Release);
            return;
        };
        let weak = Arc::downgrade(self);
        let period = Duration::from_millis(self.config.tick_interval_ms.max(1));
        runtime.spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(coordinator) = weak.upgrade() else {
                    break;
                };
                coordinator.tick(Instant::now());
            }
        });
    }

    /// Expires sessions and pending member ids, ends rebalances past their
    /// deadline, and forgets groups left with nothing (their offsets stay).
    pub fn tick(&self, now: Instant) {
        let mut groups = self.groups();
        for group in groups.values_mut() {
            group.tick(now);
        }
        groups.retain(|_, g| !g.is_idle());
    }

    /// JoinGroup: answers when the rebalance completes (or at once with an
    /// error, or `MEMBER_ID_REQUIRED` and the assigned id).
    pub async fn join(&self, req: JoinRequest) -> JoinOutcome {
        let member_id = req.member_id.clone();
        if req.group_id.is_empty() {
            return JoinOutcome::error(ResponseError::InvalidGroupId, &member_id);
        }
        let (step, bound) = {
            let mut groups = self.groups();
            if !groups.contains_key(&req.group_id) && !req.member_id.is_empty() {
                return JoinOutcome::error(ResponseError::UnknownMemberId, &member_id);
            }
            let group = groups
                .entry(req.group_id.clone())
                .or_insert_with(|| Group::new(&req.group_id));
            let step = group.join(req, &self.config, Instant::now());
            (step, wait_bound(group))
        };
        match step {
            Step::Done(outcome) => outcome,
            Step::Wait(rx) => match tokio::time::timeout(bound, rx).await {
                Ok(Ok(outcome)) => outcome,
                // Replaced by a newer join of the same member, or a bug: the
                // client retries after finding the coordinator again.
                Ok(Err(_)) | Err(_) => {
                    JoinOutcome::error(ResponseError::CoordinatorNotAvailable, &member_id)
                }
            },
        }
    }

    /// SyncGroup: the leader hands in the assignments; every member gets its
    /// own once the leader has (followers wait).
    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
    ) -> SyncOutcome {
        let (step, bound) = {
            let mut groups = self.groups();
            let Some(group) = groups.get_mut(group_id) else {
                return SyncOutcome::error(ResponseError::UnknownMemberId);
            };
            let step = group.sync(
                member_id,
                generation_id,
                protocol.0,
                protocol.1,
                assignments,
                Instant::now(),
            );
            (step, wait_bound(group))
        };
        match step {
            Step::Done(outcome) => outcome,
            Step::Wait(rx) => match tokio::time::timeout(bound, rx).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) | Err(_) => SyncOutcome::error(ResponseError::RebalanceInProgress),
            },
        }
    }

    /// Heartbeat.
    ///
    /// # Errors
    /// The error code to answer with: `UNKNOWN_MEMBER_ID`,
    /// `ILLEGAL_GENERATION`, `REBALANCE_IN_PROGRESS` (rejoin).
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        let mut groups = self.groups();
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        group.heartbeat(member_id, generation_id, Instant::now())
    }

    /// LeaveGroup of each (member id, group instance id).
    #[must_use]
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Vec<Result<(), ResponseError>> {
        let mut groups = self.groups();
        let Some(group) = groups.get_mut(group_id) else {
            return members
                .iter()
                .map(|_| Err(ResponseError::UnknownMemberId))
                .collect();
        };
        let now = Instant::now();
        members
            .iter()
            .map(|(id, instance)| group.leave(id, instance.as_deref(), now))
            .collect()
    }

    /// Whether an OffsetCommit from `member_id` in `generation_id` may
    /// commit: a "standalone" commit (generation < 0, no member) only while
    /// the group has no members, as Kafka; otherwise the member must be in
    /// the current generation (its session is refreshed).
    ///
    /// # Errors
    /// The error code for every partition of the commit.
    pub fn check_commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let mut groups = self.groups();
        let Some(group) = groups.get_mut(group_id) else {
            // Not managed by this coordinator: only standalone commits.
            return if generation_id < 0 {
                Ok(())
            } else {
                Err(ResponseError::IllegalGeneration)
            };
        };
        if generation_id < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        group.check_member(member_id, generation_id)?;
        if group.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        group.touch(member_id, Instant::now());
        Ok(())
    }

    /// Every group: those with members or a rebalance, and those known only
    /// by committed offsets (Empty).
    #[must_use]
    pub fn list(&self) -> Vec<GroupListing> {
        let mut listed: Vec<GroupListing> = self
            .groups()
            .values()
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        for id in self.offsets.groups() {
            if !listed.iter().any(|g| g.group_id == id) {
                listed.push(GroupListing {
                    group_id: id,
                    protocol_type: String::new(),
                    state: GroupState::Empty,
                });
            }
        }
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listed
    }

    /// One group, or `None` if this broker knows nothing of it.
    #[must_use]
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.groups();
        let Some(g) = groups.get(group_id) else {
            return (!self.offsets.group(group_id).is_empty()).then(|| GroupDescription {
                state: GroupState::Empty,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.clone().filter(|_| stable);
        let members = g
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: protocol
                    .as_deref()
                    .and_then(|p| m.protocols.iter().find(|(n, _)| n == p))
                    .map(|(_, meta)| meta.clone())
                    .unwrap_or_default(),
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.unwrap_or_default(),
            members,
        })
    }
}

/// How long a Join or Sync of `group` may wait: its longest rebalance or
/// session timeout, plus slack.
fn wait_bound(group: &Group) -> Duration {
    group
        .members
        .iter()
        .map(|m| m.rebalance_timeout.max(m.session_timeout))
        .max()
        .unwrap_or_default()
        + WAIT_SLACK
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::task::JoinHandle;

    const SESSION_MS: i32 = 10_000;
    const REBALANCE_MS: i32 = 30_000;

    fn coordinator() -> Arc<GroupCoordinator> {
        Arc::new(GroupCoordinator::new(GroupConfig {
            min_session_timeout_ms: 10,
            max_session_timeout_ms: 600_000,
            tick_interval_ms: 100,
        }))
    }

    fn request(member_id: &str, version: i16, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            client_id: "test".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| ((*p).to_owned(), Bytes::from(format!("{p}-meta"))))
                .collect(),
            version,
            ..JoinRequest::default()
        }
    }

    fn spawn_join(c: &Arc<GroupCoordinator>, req: JoinRequest) -> JoinHandle<JoinOutcome> {
        let c = Arc::clone(c);
        tokio::spawn(async move { c.join(req).await })
    }

    fn spawn_sync(
        c: &Arc<GroupCoordinator>,
        member: &str,
        generation: i32,
    ) -> JoinHandle<SyncOutcome> {
        let (c, member) = (Arc::clone(c), member.to_owned());
        tokio::spawn(async move {
            c.sync("g", &member, generation, (None, None), Vec::new())
                .await
        })
    }

    /// Lets spawned tasks run up to their waits (paused time: advances 1 ms).
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    /// KIP-394's two steps: MEMBER_ID_REQUIRED with an id, then the join with it.
    async fn member_id(c: &GroupCoordinator) -> String {
        let first = c.join(request("", 4, &["range"])).await;
        assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
        assert!(first.member_id.starts_with("test-"), "{}", first.member_id);
        first.member_id
    }

    async fn sync_leader(
        c: &GroupCoordinator,
        leader: &str,
        generation: i32,
        assignments: &[(&str, &str)],
    ) -> SyncOutcome {
        let assignments = assignments
            .iter()
            .map(|(m, a)| ((*m).to_owned(), Bytes::from((*a).to_owned())))
            .collect();
        c.sync(
            "g",
            leader,
            generation,
            (Some("consumer"), None),
            assignments,
        )
        .await
    }

    /// A and B in a Stable group; returns their ids and the generation.
    async fn stable_pair(c: &Arc<GroupCoordinator>) -> (String, String, i32) {
        let a = member_id(c).await;
        let joined = c.join(request(&a, 4, &["range"])).await;
        assert_eq!((joined.error_code, joined.generation_id), (0, 1));
        assert_eq!(joined.leader, a);
        assert_eq!(sync_leader(c, &a, 1, &[(&a, "A1")]).await.assignment, "A1");

        let b = member_id(c).await;
        let b_join = spawn_join(c, request(&b, 4, &["range"]));
        settle().await;
        assert_eq!(
            c.heartbeat("g", &a, 1),
            Err(ResponseError::RebalanceInProgress)
        );
        let a_join = spawn_join(c, request(&a, 4, &["range"]));
        let (a_out, b_out) = (a_join.await.expect("a"), b_join.await.expect("b"));
        assert_eq!((a_out.error_code, b_out.error_code), (0, 0));
        assert_eq!(a_out.generation_id, 2);
        assert_eq!(b_out.generation_id, 2);
        assert_eq!(
            (a_out.leader.as_str(), b_out.leader.as_str()),
            (a.as_str(), a.as_str())
        );
        assert_eq!(a_out.protocol_name.as_deref(), Some("range"));
        let listed: Vec<&str> = a_out.members.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(listed, [a.as_str(), b.as_str()]);
        assert_eq!(
            a_out.members.first().map(|m| m.metadata.clone()),
            Some(Bytes::from("range-meta"))
        );
        assert!(b_out.members.is_empty(), "only the leader gets the members");

        let b_sync = spawn_sync(c, &b, 2);
        settle().await;
        assert!(!b_sync.is_finished(), "the follower waits for the leader");
        assert_eq!(
            sync_leader(c, &a, 2, &[(&a, "A2"), (&b, "B2")])
                .await
                .assignment,
            "A2"
        );
        let b_sync = b_sync.await.expect("b sync");
        assert_eq!(
            (b_sync.error_code, b_sync.assignment),
            (0, Bytes::from("B2"))
        );
        assert_eq!(c.heartbeat("g", &a, 2), Ok(()));
        assert_eq!(c.heartbeat("g", &b, 2), Ok(()));
        (a, b, 2)
    }

    #[tokio::test(start_paused = true)]
    async fn two_members_join_sync_and_heartbeat() {
        let c = coordinator();
        let (a, _b, generation) = stable_pair(&c).await;
        let described = c.describe("g").expect("known group");
        assert_eq!(described.state, GroupState::Stable);
        assert_eq!(described.protocol, "range");
        assert_eq!(described.members.len(), 2);
        assert_eq!(
            c.list().first().map(|g| (g.group_id.as_str(), g.state)),
            Some(("g", GroupState::Stable))
        );
        assert_eq!(
            c.heartbeat("g", &a, generation + 1),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            c.heartbeat("g", "nobody", generation),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            c.heartbeat("other", &a, generation),
            Err(ResponseError::UnknownMemberId)
        );
        let stale = c
            .sync("g", &a, generation - 1, (None, None), Vec::new())
            .await;
        assert_eq!(stale.error_code, ResponseError::IllegalGeneration.code());
    }

    #[tokio::test(start_paused = true)]
    async fn a_leave_rebalances_and_the_other_rejoins_alone() {
        let c = coordinator();
        let (a, b, generation) = stable_pair(&c).await;
        assert_eq!(c.leave("g", &[(b.clone(), None)]), vec![Ok(())]);
        assert_eq!(
            c.leave("g", &[(b.clone(), None)]),
            vec![Err(ResponseError::UnknownMemberId)]
        );
        assert_eq!(
            c.heartbeat("g", &a, generation),
            Err(ResponseError::RebalanceInProgress)
        );
        let alone = c.join(request(&a, 4, &["range"])).await;
        assert_eq!(alone.generation_id, generation + 1);
        assert_eq!(alone.members.len(), 1);
        assert_eq!(
            c.heartbeat("g", &b, alone.generation_id),
            Err(ResponseError::UnknownMemberId)
        );
        // The last one leaves: the group is empty (and forgotten by the next tick).
        assert_eq!(c.leave("g", &[(a.clone(), None)]), vec![Ok(())]);
        assert_eq!(c.describe("g").map(|d| d.state), Some(GroupState::Empty));
        c.tick(Instant::now());
        assert_eq!(c.describe("g"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_member_expires_and_the_group_rebalances() {
        let c = coordinator();
        let (a, b, generation) = stable_pair(&c).await;
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(c.heartbeat("g", &a, generation), Ok(()));
        c.tick(Instant::now());
        assert!(
            c.describe("g").is_some_and(|d| d.members.len() == 2),
            "not expired yet"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        c.tick(Instant::now());
        assert_eq!(
            c.heartbeat("g", &b, generation),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            c.heartbeat("g", &a, generation),
            Err(ResponseError::RebalanceInProgress)
        );
        let alone = c.join(request(&a, 4, &["range"])).await;
        assert_eq!(
            (alone.generation_id, alone.members.len()),
            (generation + 1, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_rebalance_timeout_completes_with_the_members_that_rejoined() {
        let c = coordinator();
        let (a, b, generation) = stable_pair(&c).await;
        // C joins with v3 (no MEMBER_ID_REQUIRED); A rejoins; B keeps heartbeating but never rejoins.
        let c_join = spawn_join(&c, request("", 3, &["range"]));
        settle().await;
        let a_join = spawn_join(&c, request(&a, 4, &["range"]));
        for _ in 0..6 {
            tokio::time::advance(Duration::from_secs(5)).await;
            assert_eq!(
                c.heartbeat("g", &b, generation),
                Err(ResponseError::RebalanceInProgress)
            );
            c.tick(Instant::now());
        }
        assert!(
            !a_join.is_finished(),
            "still inside the 30 s rebalance timeout"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        c.tick(Instant::now());
        let (a_out, c_out) = (a_join.await.expect("a"), c_join.await.expect("c"));
        assert_eq!(
            (a_out.generation_id, c_out.generation_id),
            (generation + 1, generation + 1)
        );
        assert_eq!(a_out.members.len(), 2, "A and C, not B");
        assert_eq!(a_out.leader, a);
        assert_eq!(
            c.heartbeat("g", &b, generation),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_member_id_expires_when_never_used() {
        let c = coordinator();
        let a = member_id(&c).await;
        tokio::time::advance(Duration::from_millis(
            u64::from(SESSION_MS.unsigned_abs()) + 1,
        ))
        .await;
        c.tick(Instant::now());
        let late = c.join(request(&a, 4, &["range"])).await;
        assert_eq!(late.error_code, ResponseError::UnknownMemberId.code());
    }

    #[tokio::test(start_paused = true)]
    async fn the_protocol_is_one_every_member_supports() {
        let c = coordinator();
        let a = c.join(request("", 3, &["range", "roundrobin"])).await;
        assert_eq!(a.protocol_name.as_deref(), Some("range"));
        let mismatch = c.join(request("", 3, &["sticky"])).await;
        assert_eq!(
            mismatch.error_code,
            ResponseError::InconsistentGroupProtocol.code()
        );
        let b_join = spawn_join(&c, request("", 3, &["roundrobin"]));
        settle().await;
        let a2 = c
            .join(request(&a.member_id, 3, &["range", "roundrobin"]))
            .await;
        let b = b_join.await.expect("b");
        assert_eq!(a2.protocol_name.as_deref(), Some("roundrobin"));
        assert_eq!(b.protocol_name.as_deref(), Some("roundrobin"));
        let mut wrong_type = request("", 3, &["range"]);
        wrong_type.protocol_type = "connect".into();
        let wrong = c.join(wrong_type).await;
        assert_eq!(
            wrong.error_code,
            ResponseError::InconsistentGroupProtocol.code()
        );
        let mut bad_session = request("", 3, &["range"]);
        bad_session.session_timeout_ms = 1;
        assert_eq!(
            c.join(bad_session).await.error_code,
            ResponseError::InvalidSessionTimeout.code()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn commits_are_checked_against_membership() {
        let c = coordinator();
        // Standalone commits: no group, or an empty one.
        assert_eq!(c.check_commit("solo", "", -1), Ok(()));
        assert_eq!(
            c.check_commit("solo", "x", 3),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            c.check_commit("", "", -1),
            Err(ResponseError::InvalidGroupId)
        );
        let a = c.join(request("", 3, &["range"])).await;
        // Joined, not synced yet.
        assert_eq!(
            c.check_commit("g", &a.member_id, 1),
            Err(ResponseError::RebalanceInProgress)
        );
        assert_eq!(sync_leader(&c, &a.member_id, 1, &[]).await.error_code, 0);
        assert_eq!(c.check_commit("g", &a.member_id, 1), Ok(()));
        assert_eq!(
            c.check_commit("g", &a.member_id, 2),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            c.check_commit("g", "", -1),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            c.check_commit("g", "stranger", 1),
            Err(ResponseError::UnknownMemberId)
        );
    }
}
