//! One consumer group of the classic group protocol: its state machine,
//! members, generation and the waiters of JoinGroup and SyncGroup.
//!
//! Everything here is synchronous and runs under the coordinator's lock; a
//! request that must wait (a join until the rebalance completes, a sync until
//! the leader's assignment arrives) leaves a `oneshot` sender in its member
//! and awaits the receiver after the lock is released. Every transition that
//! ends a wait sends on those senders, so nothing here ever blocks.
//!
//! The transitions follow Kafka's `GroupCoordinator`:
//!
//! ```text
//!            join                    all joined / deadline         leader syncs
//!  Empty ----------> PreparingRebalance ------------> CompletingRebalance ------> Stable
//!    ^                 ^   |  no member left              |  join/leave/expiry        |
//!    +-----------------+---+                              +----------> Preparing <-----+
//! ```

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{GroupConfig, new_member_id};

/// Where a group is in its rebalance cycle (Kafka's names, as ListGroups and
/// DescribeGroups report them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (it may still have committed offsets).
    Empty,
    /// Waiting for every known member to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Removed; kept only while requests still hold it.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

/// A JoinGroup as the coordinator needs it (wire fields decoded).
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    /// The group.
    pub group_id: String,
    /// Empty on a first join.
    pub member_id: String,
    /// Static membership id (v5+), if any.
    pub group_instance_id: Option<String>,
    /// The client's id, the prefix of a generated member id.
    pub client_id: String,
    /// The client's address, for DescribeGroups.
    pub client_host: String,
    /// `session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `max.poll.interval.ms` (v1+; v0 uses the session timeout).
    pub rebalance_timeout_ms: i32,
    /// "consumer" for consumers.
    pub protocol_type: String,
    /// Supported assignors in preference order, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// The JoinGroup version: v4+ gets `MEMBER_ID_REQUIRED` on a first join.
    pub version: i16,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Its metadata for the selected protocol.
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// 0 or a Kafka error code.
    pub error_code: i16,
    /// The new generation.
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected protocol (assignor).
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// This member's id (the assigned one, for `MEMBER_ID_REQUIRED`).
    pub member_id: String,
    /// Every member with its metadata, for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    /// An error answer.
    #[must_use]
    pub fn error(error: ResponseError, member_id: &str) -> Self {
        JoinOutcome {
            error_code: error.code(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// 0 or a Kafka error code.
    pub error_code: i16,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected protocol.
    pub protocol_name: Option<String>,
    /// This member's assignment, as the leader encoded it.
    pub assignment: Bytes,
}

impl SyncOutcome {
    /// An error answer.
    #[must_use]
    pub fn error(error: ResponseError) -> Self {
        SyncOutcome {
            error_code: error.code(),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A request's result: now, or after a wait.
#[derive(Debug)]
pub enum Step<T> {
    /// The answer is ready.
    Done(T),
    /// The answer comes on this channel.
    Wait(oneshot::Receiver<T>),
}

/// One member of a group.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) assignment: Bytes,
    /// Last Join, Sync, Heartbeat or OffsetCommit: the session runs from here.
    pub(crate) last_seen: Instant,
    join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    fn metadata_for(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|p| self.protocols.iter().find(|(name, _)| name == p))
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn answer_join(&mut self, outcome: JoinOutcome) {
        if let Some(tx) = self.join_waiter.take() {
            // The client may have gone: nobody to tell.
            let _ = tx.send(outcome);
        }
    }

    fn answer_sync(&mut self, outcome: SyncOutcome) {
        if let Some(tx) = self.sync_waiter.take() {
            let _ = tx.send(outcome);
        }
    }

    fn session_expired(&self, now: Instant) -> bool {
        // A member waiting in a join is kept: the rebalance deadline bounds it.
        self.join_waiter.is_none() && now >= self.last_seen + self.session_timeout
    }
}

/// A member id handed out with `MEMBER_ID_REQUIRED`, not yet joined.
#[derive(Debug)]
struct Pending {
    id: String,
    expires: Instant,
}

/// One group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation_id: i32,
    pub(crate) leader_id: Option<String>,
    /// In join order: the first is the leader when one must be chosen.
    pub(crate) members: Vec<Member>,
    pending: Vec<Pending>,
    rebalance_deadline: Option<Instant>,
}

impl Group {
    pub(crate) fn new(id: &str) -> Self {
        Group {
            id: id.to_owned(),
            state: GroupState::Empty,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: Vec::new(),
            pending: Vec::new(),
            rebalance_deadline: None,
        }
    }

    pub(crate) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// Whether the group has nothing left to keep in memory.
    pub(crate) fn is_idle(&self) -> bool {
        self.state == GroupState::Empty && self.members.is_empty() && self.pending.is_empty()
    }

    /// JoinGroup.
    pub(crate) fn join(
        &mut self,
        req: JoinRequest,
        config: &GroupConfig,
        now: Instant,
    ) -> Step<JoinOutcome> {
        let fail = |e: ResponseError| Step::Done(JoinOutcome::error(e, &req.member_id));
        if self.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        let session_ok = u64::try_from(req.session_timeout_ms).is_ok_and(|ms| {
            (config.min_session_timeout_ms..=config.max_session_timeout_ms).contains(&ms)
        });
        if !session_ok {
            return fail(ResponseError::InvalidSessionTimeout);
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        if !self.members.iter().all(|m| m.id == req.member_id) {
            let same_type = self.protocol_type.as_deref() == Some(req.protocol_type.as_str());
            let common = req.protocols.iter().any(|(name, _)| {
                self.members
                    .iter()
                    .filter(|m| m.id != req.member_id)
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            });
            if !(same_type && common) {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
        }
        let session_timeout =
            Duration::from_millis(u64::from(req.session_timeout_ms.unsigned_abs()));
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        let rebalance_timeout = if req.rebalance_timeout_ms > 0 {
            Duration::from_millis(u64::from(req.rebalance_timeout_ms.unsigned_abs()))
        } else {
            session_timeout
        };

        if req.member_id.is_empty() {
            let id = new_member_id(&req.client_id);
            if req.group_instance_id.is_none() && req.version >= 4 {
                // KIP-394: the client must come back with this id, so that a
                // join whose response was lost does not leave a ghost member.
                self.pending.push(Pending {
                    id: id.clone(),
                    expires: now + session_timeout,
                });
                return Step::Done(JoinOutcome::error(ResponseError::MemberIdRequired, &id));
            }
            if let Some(instance) = &req.group_instance_id {
                // A static member that restarted replaces its old incarnation.
                if let Some(old) = self
                    .members
                    .iter()
                    .find(|m| m.group_instance_id.as_ref() == Some(instance))
                    .map(|m| m.id.clone())
                {
                    self.remove_member(&old, ResponseError::FencedInstanceId, now);
                }
            }
            return self.add_member(id, req, session_timeout, rebalance_timeout, now);
        }
        if let Some(at) = self.pending.iter().position(|p| p.id == req.member_id) {
            self.pending.swap_remove(at);
            let id = req.member_id.clone();
            return self.add_member(id, req, session_timeout, rebalance_timeout, now);
        }
        let state = self.state;
        let is_leader = self.leader_id.as_deref() == Some(req.member_id.as_str());
        let Some(member) = self.member_mut(&req.member_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        member.session_timeout = session_timeout;
        member.rebalance_timeout = rebalance_timeout;
        member.last_seen = now;
        member.client_id = req.client_id;
        member.client_host = req.client_host;
        let same_protocols = member.protocols == req.protocols;
        match state {
            GroupState::CompletingRebalance | GroupState::Stable
                if same_protocols && !(is_leader && state == GroupState::Stable) =>
            {
                // A repeated join (its response was lost): the current generation.
                Step::Done(self.join_outcome_for(&req.member_id))
            }
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable => {
                member.protocols = req.protocols;
                let (tx, rx) = oneshot::channel();
                member.join_waiter = Some(tx);
                if state != GroupState::PreparingRebalance {
                    self.prepare_rebalance(now);
                }
                self.maybe_complete_join(now);
                Step::Wait(rx)
            }
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
        }
    }

    fn add_member(
        &mut self,
        id: String,
        req: JoinRequest,
        session_timeout: Duration,
        rebalance_timeout: Duration,
        now: Instant,
    ) -> Step<JoinOutcome> {
        if self.state == GroupState::Empty {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        let (tx, rx) = oneshot::channel();
        self.members.push(Member {
            id,
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout,
            rebalance_timeout,
            protocols: req.protocols,
            assignment: Bytes::new(),
            last_seen: now,
            join_waiter: Some(tx),
            sync_waiter: None,
        });
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(now);
        Step::Wait(rx)
    }

    /// The JoinGroup answer of the current generation for `member_id`.
    fn join_outcome_for(&self, member_id: &str) -> JoinOutcome {
        let leader = self.leader_id.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .iter()
                .map(|m| JoinedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata_for(self.protocol_name.as_deref()),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error_code: 0,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_owned(),
            members,
        }
    }

    /// Starts a rebalance: every member must rejoin before the deadline.
    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            for m in &mut self.members {
                m.assignment = Bytes::new();
                m.answer_sync(SyncOutcome::error(ResponseError::RebalanceInProgress));
            }
        }
        let timeout = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.state = GroupState::PreparingRebalance;
        self.rebalance_deadline = Some(now + timeout);
        tracing::debug!(group = %self.id, generation = self.generation_id, "rebalance started");
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.iter().all(|m| m.join_waiter.is_some())
    }

    /// Completes the join phase if every member has rejoined.
    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance && self.all_joined() {
            self.complete_join(now);
        }
    }

    /// Ends the join phase with the members that rejoined: a new generation.
    fn complete_join(&mut self, now: Instant) {
        self.pending.clear();
        self.members.retain(|m| m.join_waiter.is_some());
        self.rebalance_deadline = None;
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader_id = None;
            tracing::debug!(group = %self.id, generation = self.generation_id, "group is empty");
            return;
        }
        self.protocol_name = self.select_protocol();
        let leader_stays = self
            .leader_id
            .as_deref()
            .is_some_and(|l| self.members.iter().any(|m| m.id == l));
        if !leader_stays {
            self.leader_id = self.members.first().map(|m| m.id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        let outcomes: Vec<JoinOutcome> = self
            .members
            .iter()
            .map(|m| self.join_outcome_for(&m.id))
            .collect();
        for (m, outcome) in self.members.iter_mut().zip(outcomes) {
            m.last_seen = now;
            m.answer_join(outcome);
        }
        tracing::debug!(
            group = %self.id,
            generation = self.generation_id,
            members = self.members.len(),
            protocol = ?self.protocol_name,
            "rebalance joined"
        );
    }

    /// Kafka's choice: among the protocols every member supports, each
    /// member votes for the first of its own list; most votes wins, a tie
    /// goes to the one the first member prefers.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == n))
            })
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for m in &self.members {
            let choice = m
                .protocols
                .iter()
                .find_map(|(p, _)| candidates.iter().position(|c| c == p));
            if let Some(slot) = choice.and_then(|i| votes.get_mut(i)) {
                *slot += 1;
            }
        }
        let best = votes.iter().copied().max()?;
        let at = votes.iter().position(|&v| v == best)?;
        candidates.get(at).map(|s| (*s).to_owned())
    }

    /// SyncGroup.
    pub(crate) fn sync(
        &mut self,
        member_id: &str,
        generation_id: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Step<SyncOutcome> {
        let fail = |e| Step::Done(SyncOutcome::error(e));
        if self.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        if self.member(member_id).is_none() {
            return fail(ResponseError::UnknownMemberId);
        }
        if generation_id != self.generation_id {
            return fail(ResponseError::IllegalGeneration);
        }
        let mismatch = |asked: Option<&str>, ours: &Option<String>| {
            asked.is_some_and(|a| ours.as_deref() != Some(a))
        };
        if mismatch(protocol_type, &self.protocol_type)
            || mismatch(protocol_name, &self.protocol_name)
        {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        let is_leader = self.leader_id.as_deref() == Some(member_id);
        let (ptype, pname) = (self.protocol_type.clone(), self.protocol_name.clone());
        let state = self.state;
        let Some(member) = self.member_mut(member_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        member.last_seen = now;
        match state {
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
            GroupState::Stable => Step::Done(SyncOutcome {
                error_code: 0,
                protocol_type: ptype,
                protocol_name: pname,
                assignment: member.assignment.clone(),
            }),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                member.sync_waiter = Some(tx);
                if is_leader {
                    for m in &mut self.members {
                        m.assignment = assignments
                            .iter()
                            .find(|(id, _)| *id == m.id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                    for m in &mut self.members {
                        let outcome = SyncOutcome {
                            error_code: 0,
                            protocol_type: ptype.clone(),
                            protocol_name: pname.clone(),
                            assignment: m.assignment.clone(),
                        };
                        m.answer_sync(outcome);
                    }
                    tracing::debug!(group = %self.id, generation = self.generation_id, "group is stable");
                }
                Step::Wait(rx)
            }
        }
    }

    /// Checks that `member_id` is in `generation_id` (Heartbeat, OffsetCommit).
    pub(crate) fn check_member(
        &self,
        member_id: &str,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        match self.state {
            GroupState::Dead => Err(ResponseError::CoordinatorNotAvailable),
            _ if self.member(member_id).is_none() => Err(ResponseError::UnknownMemberId),
            _ if generation_id != self.generation_id => Err(ResponseError::IllegalGeneration),
            _ => Ok(()),
        }
    }

    /// Refreshes a member's session.
    pub(crate) fn touch(&mut self, member_id: &str, now: Instant) {
        if let Some(m) = self.member_mut(member_id) {
            m.last_seen = now;
        }
    }

    /// Heartbeat: `Ok` or the error code to answer with.
    pub(crate) fn heartbeat(
        &mut self,
        member_id: &str,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        self.check_member(member_id, generation_id)?;
        self.touch(member_id, now);
        match self.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// LeaveGroup of one member (by id, or by static instance id when the id is empty).
    pub(crate) fn leave(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if let Some(at) = self.pending.iter().position(|p| p.id == member_id) {
            self.pending.swap_remove(at);
            self.maybe_complete_join(now);
            return Ok(());
        }
        let id = if member_id.is_empty() {
            group_instance_id.and_then(|i| {
                self.members
                    .iter()
                    .find(|m| m.group_instance_id.as_deref() == Some(i))
                    .map(|m| m.id.clone())
            })
        } else {
            self.member(member_id).map(|m| m.id.clone())
        };
        let Some(id) = id else {
            return Err(ResponseError::UnknownMemberId);
        };
        tracing::debug!(group = %self.id, member = %id, "member left");
        self.remove_member(&id, ResponseError::UnknownMemberId, now);
        Ok(())
    }

    /// Removes a member (left, expired or fenced) and rebalances the rest.
    fn remove_member(&mut self, id: &str, waiters_get: ResponseError, now: Instant) {
        let Some(at) = self.members.iter().position(|m| m.id == id) else {
            return;
        };
        let mut gone = self.members.remove(at);
        gone.answer_join(JoinOutcome::error(waiters_get, id));
        gone.answer_sync(SyncOutcome::error(waiters_get));
        if self.leader_id.as_deref() == Some(id) {
            self.leader_id = None;
        }
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(now);
    }

    /// The timer's work: expire sessions and pending ids, end a rebalance
    /// whose deadline passed.
    pub(crate) fn tick(&mut self, now: Instant) {
        let before = self.pending.len();
        self.pending.retain(|p| p.expires > now);
        if self.pending.len() != before {
            self.maybe_complete_join(now);
        }
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.session_expired(now))
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "session expired; member removed");
            self.remove_member(&id, ResponseError::UnknownMemberId, now);
        }
        if self.state == GroupState::PreparingRebalance
            && self.rebalance_deadline.is_some_and(|d| now >= d)
        {
            tracing::info!(group = %self.id, "rebalance timeout; completing with the members that rejoined");
            self.complete_join(now);
        }
    }
}
