//! Hostile request frames (the files of `fuzz-corpus/hostile-*`): each is
//! rejected with the error a server acts on, after allocating a few kilobytes
//! at most. Before the vendored patch the first one made the process abort
//! asking for 206 GB.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use logsync_broker::codec::{self, DecodeError, FramePart};

use crate::alloc::{Allocated, measure};

/// What decoding a hostile frame may allocate: its error, a captured backtrace.
const HOSTILE_ALLOCATION_BYTES: usize = 64 * 1024;

fn decode_hostile(frame: &'static [u8]) -> (DecodeError, Allocated) {
    let (result, allocated) = measure(|| codec::decode_request(Bytes::from_static(frame)));
    let error = result.expect_err("a hostile frame is rejected");
    assert!(
        allocated.total_bytes <= HOSTILE_ALLOCATION_BYTES,
        "{error}: allocated {allocated:?}"
    );
    (error, allocated)
}

fn assert_malformed_body(frame: &'static [u8], api: ApiKey, version: i16, correlation: i32) {
    let (error, _) = decode_hostile(frame);
    assert!(
        matches!(
            error,
            DecodeError::Malformed { api_key, api_version, correlation_id, part: FramePart::Body, .. }
                if api_key == api && api_version == version && correlation_id == correlation
        ),
        "{error:?}"
    );
}

fn assert_truncated(frame: &'static [u8], api: ApiKey, frame_part: FramePart) {
    let (error, _) = decode_hostile(frame);
    assert!(
        matches!(error, DecodeError::Truncated { api_key, part, .. } if api_key == api && part == frame_part),
        "{error:?}"
    );
}

#[test]
fn produce_v9_of_23_bytes_with_a_topic_count_of_2_pow_31_is_rejected_without_allocating() {
    let frame = include_bytes!("../../fuzz-corpus/hostile-produce-v9-topic-count.bin");
    assert_eq!(frame.len(), 23);
    assert_malformed_body(frame, ApiKey::Produce, 9, 10);
}

#[test]
fn produce_v3_with_an_int32_topic_count_of_2_pow_31_minus_1_is_rejected() {
    let frame = include_bytes!("../../fuzz-corpus/hostile-produce-v3-topic-count.bin");
    assert_malformed_body(frame, ApiKey::Produce, 3, 11);
}

#[test]
fn produce_v9_with_a_huge_partition_count_is_rejected() {
    let frame = include_bytes!("../../fuzz-corpus/hostile-produce-v9-partition-count.bin");
    assert_malformed_body(frame, ApiKey::Produce, 9, 12);
}

#[test]
fn negative_and_null_counts_of_a_required_array_are_rejected() {
    let negative = include_bytes!("../../fuzz-corpus/hostile-produce-v3-negative-topic-count.bin");
    assert_malformed_body(negative, ApiKey::Produce, 3, 13);
    let null = include_bytes!("../../fuzz-corpus/hostile-produce-v3-null-topic-array.bin");
    assert_malformed_body(null, ApiKey::Produce, 3, 14);
}

#[test]
fn records_longer_than_the_frame_are_truncated() {
    let v3 = include_bytes!("../../fuzz-corpus/hostile-produce-v3-records-length.bin");
    assert_truncated(v3, ApiKey::Produce, FramePart::Body);
    let v9 = include_bytes!("../../fuzz-corpus/hostile-produce-v9-records-length.bin");
    assert_truncated(v9, ApiKey::Produce, FramePart::Body);
}

#[test]
fn fetch_and_metadata_with_huge_topic_counts_are_rejected() {
    let fetch_v4 = include_bytes!("../../fuzz-corpus/hostile-fetch-v4-topic-count.bin");
    assert_malformed_body(fetch_v4, ApiKey::Fetch, 4, 17);
    let fetch_v12 = include_bytes!("../../fuzz-corpus/hostile-fetch-v12-topic-count.bin");
    assert_malformed_body(fetch_v12, ApiKey::Fetch, 12, 18);
    let metadata = include_bytes!("../../fuzz-corpus/hostile-metadata-v12-topic-count.bin");
    assert_malformed_body(metadata, ApiKey::Metadata, 12, 19);
}

#[test]
fn a_string_longer_than_the_frame_is_truncated() {
    let name = include_bytes!("../../fuzz-corpus/hostile-create-topics-v5-name-length.bin");
    assert_truncated(name, ApiKey::CreateTopics, FramePart::Body);
    let client_id = include_bytes!("../../fuzz-corpus/hostile-header-client-id-length.bin");
    assert_truncated(client_id, ApiKey::ApiVersions, FramePart::Header);
}

#[test]
fn a_header_with_a_huge_tagged_field_count_is_truncated() {
    let frame = include_bytes!("../../fuzz-corpus/hostile-header-tagged-field-count.bin");
    assert_truncated(frame, ApiKey::ApiVersions, FramePart::Header);
}

#[test]
fn a_frame_cut_short_is_truncated() {
    let frame = include_bytes!("../../fuzz-corpus/hostile-produce-v9-truncated.bin");
    assert_truncated(frame, ApiKey::Produce, FramePart::Body);
    let (error, _) = decode_hostile(include_bytes!("../../fuzz-corpus/hostile-too-short.bin"));
    assert!(
        matches!(error, DecodeError::FrameTooShort { len: 5 }),
        "{error:?}"
    );
}

#[test]
fn unknown_and_unimplemented_api_keys_are_rejected() {
    let (error, _) = decode_hostile(include_bytes!(
        "../../fuzz-corpus/hostile-unknown-api-key.bin"
    ));
    assert!(
        matches!(
            error,
            DecodeError::UnknownApiKey {
                api_key: 999,
                correlation_id: 23
            }
        ),
        "{error:?}"
    );
    let (error, _) = decode_hostile(include_bytes!(
        "../../fuzz-corpus/hostile-telemetry-api-key.bin"
    ));
    assert!(
        matches!(
            error,
            DecodeError::UnknownApiKey {
                api_key: 71,
                correlation_id: 24
            }
        ),
        "{error:?}"
    );
}

#[test]
fn versions_beyond_the_table_are_unsupported_with_the_correlation_id() {
    let (error, _) = decode_hostile(include_bytes!("../../fuzz-corpus/hostile-produce-v13.bin"));
    assert!(
        matches!(
            error,
            DecodeError::UnsupportedVersion {
                api_key: ApiKey::Produce,
                api_version: 13,
                correlation_id: 25,
                ..
            }
        ),
        "{error:?}"
    );
    let (error, _) = decode_hostile(include_bytes!(
        "../../fuzz-corpus/hostile-api-versions-v5.bin"
    ));
    assert!(
        matches!(
            error,
            DecodeError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                api_version: 5,
                correlation_id: 26,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn bytes_after_a_valid_body_are_ignored_as_kafka_does() {
    let request = codec::decode_request(Bytes::from_static(include_bytes!(
        "../../fuzz-corpus/valid-trailing-bytes.bin"
    )))
    .expect("decodes");
    assert_eq!(request.api_key(), ApiKey::ApiVersions);
    assert_eq!(request.correlation_id(), 27);
    assert_eq!(request.trailing_bytes, 3);
}
