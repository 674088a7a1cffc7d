//! Every advertised version of every API round-trips: a request encoded by
//! `kafka-protocol`'s client-side encoder decodes to the same value with ours,
//! a response we encode decodes back with its client-side decoder, and the
//! table advertises exactly the APIs listed here.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    self, ApiKey, FetchRequest, ProduceRequest, ResponseHeader, TopicName,
    fetch_request::{FetchPartition, FetchTopic},
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::protocol::{Decodable, HeaderVersion, StrBytes};
use logsync_broker::codec::{self, RequestBody, ResponseBody};
use logsync_broker::versions;

use crate::alloc::measure;
use crate::frames::{allocation_bound, request_frame};

/// Runs `$check!(ApiKey::$api, $request, $response)` for every API the broker
/// implements: this test's own list, compared with the advertised table.
macro_rules! for_each_api {
    ($check:ident) => {
        $check!(Produce, ProduceRequest, ProduceResponse);
        $check!(Fetch, FetchRequest, FetchResponse);
        $check!(ListOffsets, ListOffsetsRequest, ListOffsetsResponse);
        $check!(Metadata, MetadataRequest, MetadataResponse);
        $check!(OffsetCommit, OffsetCommitRequest, OffsetCommitResponse);
        $check!(OffsetFetch, OffsetFetchRequest, OffsetFetchResponse);
        $check!(
            FindCoordinator,
            FindCoordinatorRequest,
            FindCoordinatorResponse
        );
        $check!(JoinGroup, JoinGroupRequest, JoinGroupResponse);
        $check!(Heartbeat, HeartbeatRequest, HeartbeatResponse);
        $check!(LeaveGroup, LeaveGroupRequest, LeaveGroupResponse);
        $check!(SyncGroup, SyncGroupRequest, SyncGroupResponse);
        $check!(
            DescribeGroups,
            DescribeGroupsRequest,
            DescribeGroupsResponse
        );
        $check!(ListGroups, ListGroupsRequest, ListGroupsResponse);
        $check!(ApiVersions, ApiVersionsRequest, ApiVersionsResponse);
        $check!(CreateTopics, CreateTopicsRequest, CreateTopicsResponse);
        $check!(DeleteTopics, DeleteTopicsRequest, DeleteTopicsResponse);
        $check!(DeleteRecords, DeleteRecordsRequest, DeleteRecordsResponse);
        $check!(
            InitProducerId,
            InitProducerIdRequest,
            InitProducerIdResponse
        );
        $check!(
            DescribeConfigs,
            DescribeConfigsRequest,
            DescribeConfigsResponse
        );
        $check!(
            IncrementalAlterConfigs,
            IncrementalAlterConfigsRequest,
            IncrementalAlterConfigsResponse
        );
    };
}

fn advertised(api_key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let versions = versions::supported_versions(api_key).expect("advertised");
    versions.min..=versions.max
}

/// Every (API, version) the broker advertises, with a default request encoded
/// by `kafka-protocol`: the seeds of the mutation tests too.
pub fn default_request_frames() -> Vec<(ApiKey, i16, Bytes)> {
    let mut frames = Vec::new();
    macro_rules! push_frames {
        ($api:ident, $request:ident, $response:ident) => {
            for version in advertised(ApiKey::$api) {
                let frame = request_frame(
                    ApiKey::$api,
                    version,
                    version.into(),
                    &messages::$request::default(),
                );
                frames.push((ApiKey::$api, version, frame));
            }
        };
    }
    for_each_api!(push_frames);
    frames
}

#[test]
fn the_table_advertises_exactly_the_implemented_apis() {
    let mut listed = Vec::new();
    macro_rules! push_key {
        ($api:ident, $request:ident, $response:ident) => {
            listed.push(ApiKey::$api as i16);
        };
    }
    for_each_api!(push_key);
    listed.sort_unstable();
    let advertised: Vec<i16> = versions::supported_apis()
        .map(|(api_key, _)| api_key as i16)
        .collect();
    assert_eq!(advertised, listed);
}

#[test]
fn every_advertised_version_of_every_request_round_trips() {
    let mut checked = 0;
    macro_rules! check_request {
        ($api:ident, $request:ident, $response:ident) => {
            for version in advertised(ApiKey::$api) {
                let expected = messages::$request::default();
                let frame =
                    request_frame(ApiKey::$api, version, 1000 + i32::from(version), &expected);
                let decoded = codec::decode_request(frame)
                    .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", ApiKey::$api));
                assert_eq!(decoded.api_key(), ApiKey::$api);
                assert_eq!(decoded.api_version(), version);
                assert_eq!(decoded.correlation_id(), 1000 + i32::from(version));
                assert_eq!(
                    decoded.header.client_id.as_ref().map(|id| id.as_str()),
                    Some("logsync-it")
                );
                assert_eq!(
                    decoded.body,
                    RequestBody::$api(expected),
                    "{:?} v{version}",
                    ApiKey::$api
                );
                checked += 1;
            }
        };
    }
    for_each_api!(check_request);
    let advertised_versions: usize = versions::supported_apis()
        .map(|(_, versions)| usize::try_from(versions.max - versions.min + 1).expect("non-empty"))
        .sum();
    assert_eq!(checked, advertised_versions);
}

#[test]
fn every_advertised_version_of_every_response_decodes_back() {
    macro_rules! check_response {
        ($api:ident, $request:ident, $response:ident) => {
            for version in advertised(ApiKey::$api) {
                let expected = messages::$response::default();
                let mut out = BytesMut::new();
                let written = codec::encode_response(
                    &mut out,
                    -7,
                    version,
                    &ResponseBody::from(expected.clone()),
                )
                .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", ApiKey::$api));
                assert_eq!(written, out.len());
                let mut frame = out.freeze();
                let size = usize::try_from(frame.get_i32()).expect("positive size");
                assert_eq!(size, frame.len());
                let header = ResponseHeader::decode(
                    &mut frame,
                    <messages::$response as HeaderVersion>::header_version(version),
                )
                .expect("response header");
                assert_eq!(header.correlation_id, -7);
                let body = messages::$response::decode(&mut frame, version).expect("response body");
                assert_eq!(body, expected, "{:?} v{version}", ApiKey::$api);
                assert!(
                    frame.is_empty(),
                    "{:?} v{version}: bytes left",
                    ApiKey::$api
                );
            }
        };
    }
    for_each_api!(check_response);
}

#[test]
fn produce_with_records_round_trips_at_every_version_and_keeps_them_as_they_came() {
    let records = Bytes::from_static(b"a record batch, opaque to the request decoder");
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("events")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(3)
                        .with_records(Some(records.clone())),
                ]),
        ]);
    for version in advertised(ApiKey::Produce) {
        let frame = request_frame(ApiKey::Produce, version, 1, &request);
        let frame_len = frame.len();
        let (decoded, allocated) = measure(|| codec::decode_request(frame));
        let decoded = decoded.unwrap_or_else(|error| panic!("v{version}: {error}"));
        assert!(
            allocated.largest_bytes <= allocation_bound(frame_len),
            "{allocated:?}"
        );
        let RequestBody::Produce(body) = decoded.body else {
            panic!("v{version}: not a produce request");
        };
        assert_eq!(body, request, "v{version}");
        let partition = &body.topic_data[0].partition_data[0];
        assert_eq!(partition.records.as_ref(), Some(&records));
    }
}

#[test]
fn fetch_with_a_partition_round_trips_at_every_version() {
    let request = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("events")))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(2)
                        .with_fetch_offset(42)
                        .with_partition_max_bytes(1 << 16),
                ]),
        ]);
    for version in advertised(ApiKey::Fetch) {
        let frame = request_frame(ApiKey::Fetch, version, 1, &request);
        let decoded =
            codec::decode_request(frame).unwrap_or_else(|error| panic!("v{version}: {error}"));
        assert_eq!(
            decoded.body,
            RequestBody::Fetch(request.clone()),
            "v{version}"
        );
    }
}
