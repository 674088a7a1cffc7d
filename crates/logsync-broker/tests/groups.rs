//! Consumer groups and committed offsets end to end: a broker served
//! in-process on 127.0.0.1:0, spoken to over TCP with `kafka-protocol`'s
//! client-side encoders. Two members join one group and share a generation,
//! the leader's assignment reaches the follower, one leaves and the other
//! rejoins alone; offsets are committed, fetched back, and still there after
//! the broker restarts on the same data directory.
//!
//! (A test binary of its own rather than a module of `tests/it`: that one
//! installs a counting global allocator for its allocation-bound tests, which
//! a running server would disturb.)

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    RequestHeader, ResponseHeader, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use logsync_broker::broker::BrokerConfig;
use logsync_broker::server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every wait of this test is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// A running in-process broker.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), server::ServeError>>,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let mut config = BrokerConfig::new(dir);
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let (addr_tx, addr_rx) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(
            config,
            move |addr, _metrics| {
                let _ = addr_tx.send(addr);
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        let addr = tokio::time::timeout(WAIT, addr_rx)
            .await
            .expect("server listens in time")
            .expect("server reports its address");
        Server { addr, stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server shuts down cleanly");
    }
}

/// One connection; requests in order.
struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connects in time")
            .expect("connects");
        Client {
            stream,
            correlation_id: 0,
        }
    }

    async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(s("groups-it")));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, api_key.request_header_version(version))
            .expect("header encodes");
        body.encode(&mut frame, version).expect("body encodes");
        let size = i32::try_from(frame.len() - 4).expect("small frame");
        frame[..4].copy_from_slice(&size.to_be_bytes());
        let exchange = async {
            self.stream.write_all(&frame).await.expect("writes");
            let mut prefix = [0u8; 4];
            self.stream
                .read_exact(&mut prefix)
                .await
                .expect("reads size");
            let len = usize::try_from(i32::from_be_bytes(prefix)).expect("positive size");
            let mut response = vec![0u8; len];
            self.stream
                .read_exact(&mut response)
                .await
                .expect("reads frame");
            Bytes::from(response)
        };
        let mut response = tokio::time::timeout(WAIT, exchange)
            .await
            .unwrap_or_else(|_| panic!("{api_key:?} v{version} answered in time"));
        let header =
            ResponseHeader::decode(&mut response, api_key.response_header_version(version))
                .expect("response header decodes");
        assert_eq!(header.correlation_id, self.correlation_id);
        let body = Resp::decode(&mut response, version).expect("response body decodes");
        assert_eq!(
            response.remaining(),
            0,
            "{api_key:?} v{version}: trailing bytes"
        );
        body
    }

    async fn join(&mut self, version: i16, member_id: &str) -> JoinGroupResponse {
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(15_000)
            .with_member_id(s(member_id))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"range-meta")),
            ]);
        self.call(ApiKey::JoinGroup, version, &req).await
    }

    async fn sync(
        &mut self,
        member_id: &str,
        generation_id: i32,
        assignments: &[(&str, &[u8])],
    ) -> SyncGroupResponse {
        let req = SyncGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(generation_id)
            .with_member_id(s(member_id))
            .with_assignments(
                assignments
                    .iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(Bytes::copy_from_slice(a))
                    })
                    .collect(),
            );
        self.call(ApiKey::SyncGroup, 3, &req).await
    }

    async fn heartbeat(&mut self, member_id: &str, generation_id: i32) -> i16 {
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(generation_id)
            .with_member_id(s(member_id));
        let resp: HeartbeatResponse = self.call(ApiKey::Heartbeat, 3, &req).await;
        resp.error_code
    }

    /// Committed offsets of `group` for topic `t`, by OffsetFetch v1.
    async fn fetch_offsets(&mut self, group: &str, partitions: &[i32]) -> Vec<(i32, i64, String)> {
        let req = OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(partitions.to_vec()),
            ]));
        let resp: OffsetFetchResponse = self.call(ApiKey::OffsetFetch, 1, &req).await;
        resp.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| {
                assert_eq!(p.error_code, 0);
                (
                    p.partition_index,
                    p.committed_offset,
                    p.metadata.as_deref().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

fn commit_request(
    group: &str,
    generation: i32,
    member: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|&(p, o)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                                .with_committed_metadata(Some(s("m")))
                        })
                        .collect(),
                ),
        ])
}

fn commit_errors(resp: &OffsetCommitResponse) -> Vec<(i32, i16)> {
    resp.topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.error_code))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_rebalance_commit_and_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let mut a = Client::connect(server.addr).await;
    let mut b = Client::connect(server.addr).await;

    // The group APIs are advertised.
    let versions: ApiVersionsResponse = a
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    for api in [
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::ListGroups,
        ApiKey::DescribeGroups,
    ] {
        assert!(
            versions.api_keys.iter().any(|k| k.api_key == api as i16),
            "{api:?} advertised"
        );
    }

    let created: CreateTopicsResponse = a
        .call(
            ApiKey::CreateTopics,
            4,
            &CreateTopicsRequest::default()
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_num_partitions(2)
                        .with_replication_factor(1),
                ])
                .with_timeout_ms(5_000),
        )
        .await;
    assert_eq!(created.topics.first().map(|t| t.error_code), Some(0));

    // FindCoordinator: this broker for groups, in both forms; none for transactions.
    let found: FindCoordinatorResponse = a
        .call(
            ApiKey::FindCoordinator,
            0,
            &FindCoordinatorRequest::default().with_key(s("g")),
        )
        .await;
    assert_eq!(found.error_code, 0);
    assert_eq!(
        (found.node_id.0, found.port),
        (0, i32::from(server.addr.port()))
    );
    assert_eq!(found.host.as_str(), "127.0.0.1");
    let found: FindCoordinatorResponse = a
        .call(
            ApiKey::FindCoordinator,
            4,
            &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g"), s("h")]),
        )
        .await;
    assert_eq!(found.coordinators.len(), 2);
    assert!(
        found
            .coordinators
            .iter()
            .all(|c| c.error_code == 0 && c.port == i32::from(server.addr.port()))
    );
    let txn: FindCoordinatorResponse = a
        .call(
            ApiKey::FindCoordinator,
            4,
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s("txn")]),
        )
        .await;
    assert_eq!(
        txn.coordinators.first().map(|c| c.error_code),
        Some(ResponseError::CoordinatorNotAvailable.code())
    );

    // KIP-394: a first join gets MEMBER_ID_REQUIRED and an id.
    let a_id = a.join(5, "").await;
    let b_id = b.join(9, "").await;
    for first in [&a_id, &b_id] {
        assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
        assert!(!first.member_id.is_empty());
    }
    let (a_id, b_id) = (a_id.member_id.to_string(), b_id.member_id.to_string());

    // Both join with their ids: one rebalance, one generation for both.
    let (a_join, b_join) = tokio::join!(a.join(5, &a_id), b.join(9, &b_id));
    assert_eq!((a_join.error_code, b_join.error_code), (0, 0));
    assert_eq!(a_join.generation_id, b_join.generation_id);
    assert_eq!(a_join.leader, b_join.leader);
    assert_eq!(a_join.protocol_name.as_deref(), Some("range"));
    assert_eq!(b_join.protocol_type.as_deref(), Some("consumer"));
    let generation = a_join.generation_id;
    let (leader, follower, leader_join) = if a_join.leader.as_str() == a_id {
        (&mut a, &mut b, &a_join)
    } else {
        (&mut b, &mut a, &b_join)
    };
    let (leader_id, follower_id) = if leader_join.member_id.as_str() == a_id {
        (a_id.clone(), b_id.clone())
    } else {
        (b_id.clone(), a_id.clone())
    };
    assert_eq!(leader_join.members.len(), 2, "the leader sees both members");
    assert!(
        leader_join
            .members
            .iter()
            .all(|m| m.metadata == "range-meta")
    );

    // The leader's assignment reaches the follower, which waits for it.
    let assignments: [(&str, &[u8]); 2] =
        [(&leader_id, b"for-leader"), (&follower_id, b"for-follower")];
    let (follower_sync, leader_sync) =
        tokio::join!(follower.sync(&follower_id, generation, &[]), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            leader.sync(&leader_id, generation, &assignments).await
        });
    assert_eq!((leader_sync.error_code, follower_sync.error_code), (0, 0));
    assert_eq!(leader_sync.assignment, "for-leader");
    assert_eq!(follower_sync.assignment, "for-follower");
    assert_eq!(leader.heartbeat(&leader_id, generation).await, 0);
    assert_eq!(follower.heartbeat(&follower_id, generation).await, 0);
    assert_eq!(
        follower.heartbeat(&follower_id, generation + 7).await,
        ResponseError::IllegalGeneration.code()
    );

    // The follower leaves (v3 batch form); the leader is told to rejoin and does, alone.
    let left: LeaveGroupResponse = follower
        .call(
            ApiKey::LeaveGroup,
            3,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(s(&follower_id)),
                ]),
        )
        .await;
    assert_eq!(left.error_code, 0);
    assert_eq!(left.members.first().map(|m| m.error_code), Some(0));
    assert_eq!(
        leader.heartbeat(&leader_id, generation).await,
        ResponseError::RebalanceInProgress.code()
    );
    let alone = leader.join(5, &leader_id).await;
    assert_eq!(alone.error_code, 0);
    assert_eq!(alone.generation_id, generation + 1);
    assert_eq!(alone.members.len(), 1);
    let generation = alone.generation_id;
    let synced = leader
        .sync(&leader_id, generation, &[(&leader_id, b"all")])
        .await;
    assert_eq!(
        (synced.error_code, &synced.assignment[..]),
        (0, &b"all"[..])
    );
    assert_eq!(leader.heartbeat(&leader_id, generation).await, 0);

    // Commits: the member's, a stale generation's, and a standalone one (generation -1).
    let committed: OffsetCommitResponse = leader
        .call(
            ApiKey::OffsetCommit,
            8,
            &commit_request("g", generation, &leader_id, &[(0, 5), (1, 7)]),
        )
        .await;
    assert_eq!(commit_errors(&committed), [(0, 0), (1, 0)]);
    let stale: OffsetCommitResponse = leader
        .call(
            ApiKey::OffsetCommit,
            2,
            &commit_request("g", generation - 1, &leader_id, &[(0, 99)]),
        )
        .await;
    assert_eq!(
        commit_errors(&stale),
        [(0, ResponseError::IllegalGeneration.code())]
    );
    let solo: OffsetCommitResponse = follower
        .call(
            ApiKey::OffsetCommit,
            2,
            &commit_request("solo", -1, "", &[(1, 42), (9, 1)]),
        )
        .await;
    assert_eq!(
        commit_errors(&solo),
        [(1, 0), (9, ResponseError::UnknownTopicOrPartition.code())]
    );

    assert_eq!(
        follower.fetch_offsets("g", &[0, 1]).await,
        [(0, 5, "m".to_owned()), (1, 7, "m".to_owned())]
    );
    assert_eq!(
        follower.fetch_offsets("nobody", &[0]).await,
        [(0, -1, String::new())]
    );

    // v8: the batch form; a null topic list is every topic of the group.
    let batch: OffsetFetchResponse = follower
        .call(
            ApiKey::OffsetFetch,
            8,
            &OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("g")))
                    .with_topics(None),
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("solo")))
                    .with_topics(None),
            ]),
        )
        .await;
    let flat: Vec<(String, i32, i64)> = batch
        .groups
        .iter()
        .flat_map(|g| {
            g.topics.iter().flat_map(move |t| {
                t.partitions.iter().map(move |p| {
                    (
                        g.group_id.to_string(),
                        p.partition_index,
                        p.committed_offset,
                    )
                })
            })
        })
        .collect();
    assert_eq!(
        flat,
        [
            ("g".to_owned(), 0, 5),
            ("g".to_owned(), 1, 7),
            ("solo".to_owned(), 1, 42)
        ]
    );

    let listed: ListGroupsResponse = follower
        .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    let states: Vec<(String, String)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.to_string(), g.group_state.to_string()))
        .collect();
    assert_eq!(
        states,
        [
            ("g".to_owned(), "Stable".to_owned()),
            ("solo".to_owned(), "Empty".to_owned())
        ]
    );
    let described: DescribeGroupsResponse = follower
        .call(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
        )
        .await;
    let g = described.groups.first().expect("one group");
    assert_eq!(
        (g.group_state.as_str(), g.protocol_data.as_str()),
        ("Stable", "range")
    );
    assert_eq!(g.members.len(), 1);
    assert_eq!(
        g.members.first().map(|m| m.member_assignment.clone()),
        Some(Bytes::from_static(b"all"))
    );

    drop((a, b));
    server.stop().await;

    // Restarted on the same directory: the commits were replayed from __consumer_offsets.
    let server = Server::start(dir.path()).await;
    let mut c = Client::connect(server.addr).await;
    assert_eq!(
        c.fetch_offsets("g", &[0, 1]).await,
        [(0, 5, "m".to_owned()), (1, 7, "m".to_owned())]
    );
    assert_eq!(
        c.fetch_offsets("solo", &[0, 1]).await,
        [(0, -1, String::new()), (1, 42, "m".to_owned())]
    );
    // The group has no members now: a standalone commit is allowed.
    let after: OffsetCommitResponse = c
        .call(
            ApiKey::OffsetCommit,
            2,
            &commit_request("g", -1, "", &[(0, 6)]),
        )
        .await;
    assert_eq!(commit_errors(&after), [(0, 0)]);
    assert_eq!(c.fetch_offsets("g", &[0]).await, [(0, 6, "m".to_owned())]);
    drop(c);
    server.stop().await;
}
