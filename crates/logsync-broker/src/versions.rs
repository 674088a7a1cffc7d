//! The API versions the broker supports and advertises in ApiVersions.
//!
//! The table comes from the request types the broker decodes (their
//! `VERSIONS`, see [`crate::codec`]), never from `ApiKey::valid_versions()`,
//! which in `kafka-protocol` 0.18.0 claims one version more than the types
//! decode for OffsetCommit, OffsetFetch and InitProducerId. Only implemented
//! APIs are listed: librdkafka >= 2.5 calls telemetry (API 71) when a broker
//! lists it.
//!
//! The minimum versions stay as low as the types go, because clients such as
//! librdkafka 2.0.2 (Debian's kcat) turn a feature on only when the broker's
//! range overlaps theirs: Produce 3 and Fetch 4 for record batches v2,
//! ListOffsets 1, the group APIs 0, OffsetCommit 1..=2, OffsetFetch 1,
//! InitProducerId 0; zstd needs Produce 7 and Fetch 10.

use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;

use crate::codec::BROKER_APIS;

/// The highest Produce version the broker supports: v13 names topics by id,
/// which needs stable topic UUIDs served by Metadata.
pub const PRODUCE_MAX_VERSION: i16 = 12;

/// The highest Fetch version the broker supports: v13 names topics by id,
/// which needs stable topic UUIDs served by Metadata.
pub const FETCH_MAX_VERSION: i16 = 12;

/// The versions of `api_key` the broker supports, or `None` for an API it
/// does not implement.
pub fn supported_versions(api_key: ApiKey) -> Option<VersionRange> {
    BROKER_APIS
        .iter()
        .find(|(key, _)| *key == api_key)
        .map(|(_, versions)| *versions)
}

/// Whether the broker supports `api_version` of `api_key`.
pub fn is_supported(api_key: ApiKey, api_version: i16) -> bool {
    supported_versions(api_key).is_some_and(|versions| contains(versions, api_version))
}

/// Every API the broker implements with its supported versions, in API key
/// order.
pub fn supported_apis() -> impl Iterator<Item = (ApiKey, VersionRange)> {
    BROKER_APIS.iter().copied()
}

/// The ApiVersions response body listing every supported API, error code 0.
///
/// A client that asked for an ApiVersions version the broker does not support
/// gets this with `UNSUPPORTED_VERSION` set, encoded as v0, which every client
/// can read.
pub fn api_versions_response() -> ApiVersionsResponse {
    let api_keys = supported_apis()
        .map(|(api_key, versions)| {
            ApiVersion::default()
                .with_api_key(api_key as i16)
                .with_min_version(versions.min)
                .with_max_version(versions.max)
        })
        .collect();
    ApiVersionsResponse::default().with_api_keys(api_keys)
}

pub(crate) fn contains(versions: VersionRange, version: i16) -> bool {
    versions.min <= version && version <= versions.max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(api_key: ApiKey) -> VersionRange {
        supported_versions(api_key).expect("implemented")
    }

    #[test]
    fn table_is_in_api_key_order_without_duplicates() {
        let keys: Vec<i16> = supported_apis().map(|(key, _)| key as i16).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
        assert_eq!(keys.len(), 20);
        assert!(supported_apis().all(|(_, versions)| !versions.is_empty()));
    }

    #[test]
    fn minimum_versions_are_low_enough_for_librdkafka_2_0_2() {
        assert!(range(ApiKey::Produce).min <= 3);
        assert!(range(ApiKey::Fetch).min <= 4);
        assert!(range(ApiKey::ListOffsets).min <= 1);
        assert!(range(ApiKey::OffsetFetch).min <= 1);
        // kafka-protocol 0.18 decodes OffsetCommit from v2 (Kafka 4 dropped v0 and v1);
        // librdkafka asks for an overlap with 1..=2, which v2 gives.
        assert!(range(ApiKey::OffsetCommit).min <= 2);
        for api_key in [
            ApiKey::FindCoordinator,
            ApiKey::JoinGroup,
            ApiKey::SyncGroup,
            ApiKey::Heartbeat,
            ApiKey::LeaveGroup,
            ApiKey::InitProducerId,
            ApiKey::ListGroups,
            ApiKey::DescribeGroups,
        ] {
            assert_eq!(range(api_key).min, 0, "{api_key:?}");
        }
    }

    #[test]
    fn produce_and_fetch_stop_before_topic_ids() {
        assert_eq!(range(ApiKey::Produce).max, PRODUCE_MAX_VERSION);
        assert_eq!(range(ApiKey::Fetch).max, FETCH_MAX_VERSION);
    }

    #[test]
    fn versions_are_not_those_of_valid_versions_where_it_overclaims() {
        // ApiKey::valid_versions() says 10, 10 and 6; the request types decode up to 9, 9 and 5.
        assert_eq!(range(ApiKey::OffsetCommit).max, 9);
        assert_eq!(range(ApiKey::OffsetFetch).max, 9);
        assert_eq!(range(ApiKey::InitProducerId).max, 5);
    }

    /// An API a client feature depends on, with the client's version range.
    type Dependency = (ApiKey, i16, i16);

    /// librdkafka 2.0.2 enables a feature when, for each API it depends on, the
    /// broker's range overlaps the client's range given here.
    #[test]
    fn every_feature_librdkafka_2_0_2_needs_is_enabled() {
        let features: &[(&str, &[Dependency])] = &[
            ("MsgVer2", &[(ApiKey::Produce, 3, 3), (ApiKey::Fetch, 4, 4)]),
            ("ApiVersion", &[(ApiKey::ApiVersions, 0, 0)]),
            ("BrokerGroupCoordinator", &[(ApiKey::FindCoordinator, 0, 0)]),
            (
                "BrokerBalancedConsumer",
                &[
                    (ApiKey::FindCoordinator, 0, 0),
                    (ApiKey::OffsetCommit, 1, 2),
                    (ApiKey::OffsetFetch, 1, 1),
                    (ApiKey::JoinGroup, 0, 0),
                    (ApiKey::SyncGroup, 0, 0),
                    (ApiKey::Heartbeat, 0, 0),
                    (ApiKey::LeaveGroup, 0, 0),
                ],
            ),
            ("LZ4", &[(ApiKey::FindCoordinator, 0, 0)]),
            ("OffsetTime", &[(ApiKey::ListOffsets, 1, 1)]),
            ("IdempotentProducer", &[(ApiKey::InitProducerId, 0, 0)]),
            ("ZSTD", &[(ApiKey::Produce, 7, 7), (ApiKey::Fetch, 10, 10)]),
        ];
        for (feature, needs) in features {
            for &(api_key, min, max) in *needs {
                let broker = range(api_key);
                assert!(
                    min <= broker.max && broker.min <= max,
                    "{feature}: {api_key:?} {min}..={max} vs broker {}..={}",
                    broker.min,
                    broker.max
                );
            }
        }
    }

    #[test]
    fn api_versions_response_lists_exactly_the_table() {
        let response = api_versions_response();
        assert_eq!(response.error_code, 0);
        let listed: Vec<(i16, i16, i16)> = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, api.min_version, api.max_version))
            .collect();
        let table: Vec<(i16, i16, i16)> = supported_apis()
            .map(|(key, versions)| (key as i16, versions.min, versions.max))
            .collect();
        assert_eq!(listed, table);
        assert!(
            !listed
                .iter()
                .any(|(key, _, _)| *key == ApiKey::GetTelemetrySubscriptions as i16)
        );
    }

    #[test]
    fn is_supported_follows_the_table() {
        assert!(is_supported(ApiKey::Produce, 3));
        assert!(is_supported(ApiKey::Produce, 12));
        assert!(!is_supported(ApiKey::Produce, 2));
        assert!(!is_supported(ApiKey::Produce, 13));
        assert!(!is_supported(ApiKey::SaslHandshake, 0));
    }
}
