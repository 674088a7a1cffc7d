//! The group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups.
//!
//! These only translate between wire messages and [`crate::groups`], taking
//! care of which fields each version carries (`kafka-protocol` refuses to
//! encode a field a version does not have).

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kafka_protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::heartbeat_response::HeartbeatResponse;
use kafka_protocol::messages::join_group_request::JoinGroupRequest;
use kafka_protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use kafka_protocol::messages::leave_group_request::LeaveGroupRequest;
use kafka_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use kafka_protocol::messages::offset_commit_request::OffsetCommitRequest;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequest;
use kafka_protocol::messages::sync_group_response::SyncGroupResponse;
use kafka_protocol::messages::{BrokerId, GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;
use logsync_storage::log::now_ms;

use crate::broker::Broker;
use crate::groups::offsets::{CommitError, MAX_METADATA_BYTES, OffsetKey};
use crate::groups::{CommittedOffset, JoinRequest};

/// FindCoordinator `key_type` of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator `key_type` of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn opt_text(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}

/// This broker for group keys; COORDINATOR_NOT_AVAILABLE for transactions
/// (not implemented); INVALID_REQUEST for other key types.
pub fn find_coordinator(
    broker: &Broker,
    req: &FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let error = match req.key_type {
        KEY_TYPE_GROUP => None,
        KEY_TYPE_TRANSACTION => Some(ResponseError::CoordinatorNotAvailable),
        _ => Some(ResponseError::InvalidRequest),
    };
    let me = BrokerId(broker.config.node_id);
    let host = text(&broker.advertised.ip().to_string());
    let port = i32::from(broker.advertised.port());
    let message = error.map(|e| text(&e.to_string()));
    let code = error.map_or(0, |e| e.code());
    let (node, host, port) = if error.is_some() {
        (BrokerId(-1), StrBytes::default(), -1)
    } else {
        (me, host, port)
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(node)
                    .with_host(host.clone())
                    .with_port(port)
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_error_message(message)
        .with_node_id(node)
        .with_host(host)
        .with_port(port)
}

/// JoinGroup (waits until the rebalance completes).
pub async fn join_group(
    broker: &Arc<Broker>,
    req: JoinGroupRequest,
    version: i16,
) -> JoinGroupResponse {
    broker.groups.start_timer();
    let request = JoinRequest {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        // The handler is not given the request header; member ids get a
        // fixed prefix instead of the client id.
        client_id: String::new(),
        client_host: String::new(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            -1
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        version,
    };
    let outcome = broker.groups.join(request).await;
    let members = outcome
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_group_instance_id(opt_text(m.group_instance_id).filter(|_| version >= 5))
                .with_metadata(m.metadata)
        })
        .collect();
    // Before v7 the protocol name may not be null.
    let protocol_name = match outcome.protocol_name {
        Some(name) => Some(StrBytes::from_string(name)),
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    };
    JoinGroupResponse::default()
        .with_error_code(outcome.error_code)
        .with_generation_id(outcome.generation_id)
        .with_protocol_type(opt_text(outcome.protocol_type).filter(|_| version >= 7))
        .with_protocol_name(protocol_name)
        .with_leader(StrBytes::from_string(outcome.leader))
        .with_member_id(StrBytes::from_string(outcome.member_id))
        .with_members(members)
}

/// SyncGroup (followers wait for the leader's assignment).
pub async fn sync_group(
    broker: &Arc<Broker>,
    req: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    broker.groups.start_timer();
    let assignments: Vec<(String, Bytes)> = req
        .assignments
        .into_iter()
        .map(|a| (a.member_id.to_string(), a.assignment))
        .collect();
    let protocol_type = req.protocol_type.as_deref().map(str::to_owned);
    let protocol_name = req.protocol_name.as_deref().map(str::to_owned);
    let outcome = broker
        .groups
        .sync(
            &req.group_id.0,
            &req.member_id,
            req.generation_id,
            (protocol_type.as_deref(), protocol_name.as_deref()),
            assignments,
        )
        .await;
    let response = SyncGroupResponse::default()
        .with_error_code(outcome.error_code)
        .with_assignment(outcome.assignment);
    if version >= 5 {
        response
            .with_protocol_type(opt_text(outcome.protocol_type))
            .with_protocol_name(opt_text(outcome.protocol_name))
    } else {
        response
    }
}

/// Heartbeat.
pub fn heartbeat(broker: &Arc<Broker>, req: &HeartbeatRequest) -> HeartbeatResponse {
    broker.groups.start_timer();
    let result = broker
        .groups
        .heartbeat(&req.group_id.0, &req.member_id, req.generation_id);
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| e.code()))
}

/// LeaveGroup: one member before v3, a batch from v3 on.
pub fn leave_group(
    broker: &Arc<Broker>,
    req: &LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    broker.groups.start_timer();
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_deref().map(str::to_owned),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let results = broker.groups.leave(&req.group_id.0, &members);
    let code = |r: &Result<(), ResponseError>| r.err().map_or(0, |e| e.code());
    if version < 3 {
        return LeaveGroupResponse::default().with_error_code(results.first().map_or(0, code));
    }
    let members = members
        .into_iter()
        .zip(&results)
        .map(|((id, instance), r)| {
            MemberResponse::default()
                .with_member_id(StrBytes::from_string(id))
                .with_group_instance_id(opt_text(instance))
                .with_error_code(code(r))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

/// OffsetCommit: checks the member and generation, then appends the
/// commits to `__consumer_offsets` and answers per partition.
pub async fn offset_commit(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let group = req.group_id.0.to_string();
    let check =
        broker
            .groups
            .check_commit(&group, &req.member_id, req.generation_id_or_member_epoch);
    let timestamp = now_ms().0;
    // (topic index, partition index, error code), answered in request order.
    let mut answers: Vec<(usize, i32, i16)> = Vec::new();
    let mut commits = Vec::new();
    let mut committed_at = Vec::new();
    for (t, topic) in req.topics.iter().enumerate() {
        let info = broker.topic(&topic.name.0);
        for p in &topic.partitions {
            let metadata = p.committed_metadata.as_deref().unwrap_or_default();
            let error = match (&check, &info) {
                (Err(e), _) => Some(*e),
                (Ok(()), None) => Some(ResponseError::UnknownTopicOrPartition),
                (Ok(()), Some(info))
                    if u32::try_from(p.partition_index).map_or(true, |i| i >= info.partitions) =>
                {
                    Some(ResponseError::UnknownTopicOrPartition)
                }
                _ if metadata.len() > MAX_METADATA_BYTES => {
                    Some(ResponseError::OffsetMetadataTooLarge)
                }
                _ => None,
            };
            if error.is_none() {
                committed_at.push(answers.len());
                commits.push((
                    OffsetKey {
                        group: group.clone(),
                        topic: topic.name.0.to_string(),
                        partition: p.partition_index,
                    },
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: metadata.to_owned(),
                        commit_timestamp_ms: timestamp,
                    },
                ));
            }
            answers.push((t, p.partition_index, error.map_or(0, |e| e.code())));
        }
    }
    if let Err(e) = broker
        .groups
        .offsets()
        .commit(broker, &group, commits)
        .await
    {
        tracing::warn!(group = %group, error = %e, "offset commit failed");
        let code = match e {
            CommitError::Record(_) => ResponseError::InvalidCommitOffsetSize,
            CommitError::Storage(logsync_storage::Error::RecordTooLarge { .. }) => {
                ResponseError::InvalidCommitOffsetSize
            }
            // Retriable: the client looks for the coordinator again and retries.
            _ => ResponseError::CoordinatorNotAvailable,
        }
        .code();
        for at in committed_at {
            if let Some(answer) = answers.get_mut(at) {
                answer.2 = code;
            }
        }
    }
    let topics = req
        .topics
        .iter()
        .enumerate()
        .map(|(t, topic)| {
            let partitions = answers
                .iter()
                .filter(|(at, _, _)| *at == t)
                .map(|&(_, index, code)| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// One partition's committed offset (-1 and empty metadata when none).
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
}

/// The committed offsets of `group` for `topics` (every topic of the group
/// when `None`), grouped by topic.
fn fetch_group(
    broker: &Broker,
    group: &str,
    topics: Option<Vec<(TopicName, Vec<i32>)>>,
) -> Vec<(TopicName, Vec<Fetched>)> {
    let store = broker.groups.offsets();
    let fetched = |c: Option<CommittedOffset>, partition: i32| match c {
        Some(c) => Fetched {
            partition,
            offset: c.offset,
            leader_epoch: c.leader_epoch,
            metadata: c.metadata,
        },
        None => Fetched {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        },
    };
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let parts = partitions
                    .into_iter()
                    .map(|p| fetched(store.get(group, &name.0, p), p))
                    .collect();
                (name, parts)
            })
            .collect(),
        None => {
            let mut out: Vec<(TopicName, Vec<Fetched>)> = Vec::new();
            for ((topic, partition), c) in store.group(group) {
                let f = fetched(Some(c), partition);
                match out.last_mut() {
                    Some((name, parts)) if *name.0 == *topic => parts.push(f),
                    _ => out.push((TopicName(StrBytes::from_string(topic)), vec![f])),
                }
            }
            out
        }
    }
}

/// OffsetFetch: one group (`group_id`) before v8, a batch (`groups`) from v8 on.
pub fn offset_fetch(
    broker: &Broker,
    req: &OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                        .collect()
                });
                let topics = fetch_group(broker, &g.group_id.0, topics)
                    .into_iter()
                    .map(|(name, parts)| {
                        let partitions = parts
                            .into_iter()
                            .map(|f| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(f.partition)
                                    .with_committed_offset(f.offset)
                                    .with_committed_leader_epoch(f.leader_epoch)
                                    .with_metadata(Some(StrBytes::from_string(f.metadata)))
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(name)
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let topics = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
            .collect()
    });
    let topics = fetch_group(broker, &req.group_id.0, topics)
        .into_iter()
        .map(|(name, parts)| {
            let partitions = parts
                .into_iter()
                .map(|f| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(f.partition)
                        .with_committed_offset(f.offset)
                        .with_committed_leader_epoch(f.leader_epoch)
                        .with_metadata(Some(StrBytes::from_string(f.metadata)))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// ListGroups, filtered by state (v4+) and type (v5+, "classic" only here).
pub fn list_groups(broker: &Broker, req: &ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
        .filter(|_| types.is_empty() || types.iter().any(|t| t == "classic"))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type));
            match version {
                v if v >= 5 => listed
                    .with_group_state(text(g.state.name()))
                    .with_group_type(text("classic")),
                4 => listed.with_group_state(text(g.state.name())),
                _ => listed,
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

/// DescribeGroups: an unknown group is "Dead" (v0–5) or GROUP_ID_NOT_FOUND (v6+).
pub fn describe_groups(
    broker: &Broker,
    req: &DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .iter()
        .map(|id| {
            let described = DescribedGroup::default().with_group_id(id.clone());
            let Some(d) = broker.groups.describe(&id.0) else {
                let dead = described.with_group_state(text("Dead"));
                return if version >= 6 {
                    let e = ResponseError::GroupIdNotFound;
                    dead.with_error_code(e.code())
                        .with_error_message(Some(text(&e.to_string())))
                } else {
                    dead
                };
            };
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_group_instance_id(
                            opt_text(m.group_instance_id).filter(|_| version >= 4),
                        )
                        .with_client_id(StrBytes::from_string(m.client_id))
                        .with_client_host(StrBytes::from_string(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            described
                .with_group_state(text(d.state.name()))
                .with_protocol_type(StrBytes::from_string(d.protocol_type))
                .with_protocol_data(StrBytes::from_string(d.protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use bytes::BytesMut;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;

    use super::*;
    use crate::broker::BrokerConfig;
    use crate::codec::{self, ResponseBody};
    use crate::versions;

    fn versions_of(api: ApiKey) -> std::ops::RangeInclusive<i16> {
        let range = versions::supported_versions(api).expect("advertised");
        range.min..=range.max
    }

    fn encodes(body: impl Into<ResponseBody>, version: i16) {
        let body = body.into();
        let api = body.api_key();
        let mut out = BytesMut::new();
        codec::encode_response(&mut out, 1, version, &body)
            .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}: {body:?}"));
    }

    /// Every handler's answer, with its fields filled as in real use, encodes
    /// at every advertised version (`kafka-protocol` refuses fields a version
    /// lacks, which would close the client's connection).
    #[tokio::test]
    async fn every_group_response_encodes_at_every_advertised_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let advertised = SocketAddr::from(([127, 0, 0, 1], 9092));
        let broker =
            Arc::new(Broker::open(BrokerConfig::new(dir.path()), advertised).expect("opens"));
        broker
            .create_topic("t", 1, broker.config.topic_defaults.clone())
            .expect("topic");
        for v in versions_of(ApiKey::FindCoordinator) {
            for key_type in [KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION] {
                let req = FindCoordinatorRequest::default()
                    .with_key(if v < 4 {
                        text("g")
                    } else {
                        StrBytes::default()
                    })
                    .with_key_type(if v >= 1 { key_type } else { KEY_TYPE_GROUP })
                    .with_coordinator_keys(if v >= 4 { vec![text("g")] } else { Vec::new() });
                encodes(find_coordinator(&broker, &req, v), v);
            }
        }
        for v in versions_of(ApiKey::JoinGroup) {
            let group = GroupId(text(&format!("g{v}")));
            let join = |member: &str| {
                JoinGroupRequest::default()
                    .with_group_id(group.clone())
                    .with_session_timeout_ms(10_000)
                    .with_rebalance_timeout_ms(if v >= 1 { 10_000 } else { -1 })
                    .with_member_id(text(member))
                    .with_protocol_type(text("consumer"))
                    .with_protocols(vec![
                        JoinGroupRequestProtocol::default()
                            .with_name(text("range"))
                            .with_metadata(Bytes::from_static(b"meta")),
                    ])
            };
            let mut joined = join_group(&broker, join(""), v).await;
            encodes(joined.clone(), v);
            if joined.error_code == ResponseError::MemberIdRequired.code() {
                joined = join_group(&broker, join(&joined.member_id), v).await;
                encodes(joined.clone(), v);
            }
            assert_eq!(joined.error_code, 0, "JoinGroup v{v}");
            assert_eq!(
                joined.members.len(),
                1,
                "JoinGroup v{v}: the leader sees itself"
            );
            // Sync, heartbeat, commit, fetch, describe, leave in the same version
            // order (each API's own newest version where it has fewer).
            let member = joined.member_id.clone();
            let clamp = |api| {
                let r = versions_of(api);
                v.clamp(*r.start(), *r.end())
            };
            let sv = clamp(ApiKey::SyncGroup);
            let synced = sync_group(
                &broker,
                SyncGroupRequest::default()
                    .with_group_id(group.clone())
                    .with_generation_id(joined.generation_id)
                    .with_member_id(member.clone())
                    .with_protocol_type(if sv >= 5 {
                        Some(text("consumer"))
                    } else {
                        None
                    })
                    .with_protocol_name(if sv >= 5 { Some(text("range")) } else { None })
                    .with_assignments(vec![
                        SyncGroupRequestAssignment::default()
                            .with_member_id(member.clone())
                            .with_assignment(Bytes::from_static(b"a")),
                    ]),
                sv,
            )
            .await;
            assert_eq!((synced.error_code, &synced.assignment[..]), (0, &b"a"[..]));
            encodes(synced, sv);
            let hv = clamp(ApiKey::Heartbeat);
            let beat = heartbeat(
                &broker,
                &HeartbeatRequest::default()
                    .with_group_id(group.clone())
                    .with_generation_id(joined.generation_id)
                    .with_member_id(member.clone()),
            );
            assert_eq!(beat.error_code, 0);
            encodes(beat, hv);
            let cv = clamp(ApiKey::OffsetCommit);
            let committed = offset_commit(
                &broker,
                OffsetCommitRequest::default()
                    .with_group_id(group.clone())
                    .with_generation_id_or_member_epoch(joined.generation_id)
                    .with_member_id(member.clone())
                    .with_topics(vec![
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(text("t")))
                            .with_partitions(vec![
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(0)
                                    .with_committed_offset(i64::from(v))
                                    .with_committed_metadata(Some(text("m"))),
                            ]),
                    ]),
                cv,
            )
            .await;
            assert!(
                committed
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .all(|p| p.error_code == 0)
            );
            encodes(committed, cv);
            let fv = clamp(ApiKey::OffsetFetch);
            let fetch_req = if fv >= 8 {
                OffsetFetchRequest::default().with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(group.clone())
                        .with_topics(Some(vec![
                            OffsetFetchRequestTopics::default()
                                .with_name(TopicName(text("t")))
                                .with_partition_indexes(vec![0, 1]),
                        ])),
                ])
            } else {
                OffsetFetchRequest::default()
                    .with_group_id(group.clone())
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(text("t")))
                            .with_partition_indexes(vec![0, 1]),
                    ]))
            };
            let fetched = offset_fetch(&broker, &fetch_req, fv);
            let offsets: Vec<i64> = if fv >= 8 {
                fetched
                    .groups
                    .iter()
                    .flat_map(|g| &g.topics)
                    .flat_map(|t| &t.partitions)
                    .map(|p| p.committed_offset)
                    .collect()
            } else {
                fetched
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .map(|p| p.committed_offset)
                    .collect()
            };
            assert_eq!(offsets, [i64::from(v), -1], "OffsetFetch v{fv}");
            encodes(fetched, fv);
            let dv = clamp(ApiKey::DescribeGroups);
            let described = describe_groups(
                &broker,
                &DescribeGroupsRequest::default()
                    .with_groups(vec![group.clone(), GroupId(text("none"))]),
                dv,
            );
            assert_eq!(described.groups.first().map(|g| g.members.len()), Some(1));
            encodes(described, dv);
            let lv = clamp(ApiKey::ListGroups);
            encodes(list_groups(&broker, &ListGroupsRequest::default(), lv), lv);
            let leave_v = clamp(ApiKey::LeaveGroup);
            let left = leave_group(
                &broker,
                &LeaveGroupRequest::default()
                    .with_group_id(group.clone())
                    .with_member_id(if leave_v < 3 {
                        member.clone()
                    } else {
                        StrBytes::default()
                    })
                    .with_members(if leave_v >= 3 {
                        vec![MemberIdentity::default().with_member_id(member.clone())]
                    } else {
                        Vec::new()
                    }),
                leave_v,
            );
            let leave_errors: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
            assert!(left.error_code == 0 && leave_errors.iter().all(|&e| e == 0));
            encodes(left, leave_v);
        }
    }
}
