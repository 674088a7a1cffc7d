//! One Kafka request frame in, one response frame out.
//!
//! On the wire every message is a frame: `size: int32`, then `size` bytes. A
//! connection reads the size prefix with [`read_frame_size`] (which bounds it),
//! reads that many bytes and hands them to [`decode_request`]. That parses the
//! request header at the header version the API key and version call for, then
//! the body into a [`RequestBody`], and only for the APIs and versions that
//! [`crate::versions`] advertises. [`encode_response`] writes the answer back as
//! a whole frame, size prefix included.
//!
//! Every byte here comes off the network, so no input panics, and no count or
//! length in it makes the decoder allocate more than the frame holds: the
//! vendored `kafka-protocol` checks array counts against the bytes that remain
//! and clamps every pre-allocation to them (see `vendor/README.md`).

use std::error::Error as StdError;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{self, ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::buf::{ByteBufMut, NotEnoughBytesError};
use kafka_protocol::protocol::{Decodable, Encodable, Message, VersionRange};

use crate::frame::{Frame, ResponseBuf};
use crate::versions::{self, FETCH_MAX_VERSION, PRODUCE_MAX_VERSION};

/// Bytes of the size prefix in front of every frame.
pub const FRAME_SIZE_BYTES: usize = 4;

/// Bytes that every request header starts with, whatever its version:
/// `request_api_key: int16`, `request_api_version: int16`, `correlation_id: int32`.
pub const REQUEST_PREFIX_BYTES: usize = 8;

const _: () = assert!(REQUEST_PREFIX_BYTES == 2 + 2 + 4);

/// An error from `kafka-protocol`'s decoders or encoders, kept as the source.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The versions of one API that the broker decodes: those of its request
/// type's `VERSIONS`, up to `max` (`None`: no cap).
const fn capped(versions: VersionRange, max: Option<i16>) -> VersionRange {
    match max {
        Some(max) if max < versions.max => VersionRange {
            min: versions.min,
            max,
        },
        _ => versions,
    }
}

/// The APIs the broker implements, in API key order: one line each, from
/// which the request and response enums, the decoder's dispatch and the
/// supported-version table are all generated, so that they cannot disagree.
macro_rules! broker_apis {
    ($( $api:ident($request:ident => $response:ident) $(max $max:expr)?; )+) => {
        /// The body of a request to one of the APIs the broker implements.
        #[derive(Debug, Clone, PartialEq)]
        pub enum RequestBody {
            $(
                #[doc = concat!("A `", stringify!($api), "` request.")]
                $api(messages::$request),
            )+
        }

        impl RequestBody {
            /// The API key of this request.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $( Self::$api(_) => ApiKey::$api, )+
                }
            }

            /// Decodes the body of an `api_key` request at `version`, or
            /// returns `None` for an API the broker does not implement.
            fn decode(
                api_key: ApiKey,
                buf: &mut Bytes,
                version: i16,
            ) -> Option<Result<Self, ProtocolError>> {
                match api_key {
                    $(
                        ApiKey::$api => Some(
                            <messages::$request as Decodable>::decode(buf, version)
                                .map(Self::$api)
                                .map_err(ProtocolError::new),
                        ),
                    )+
                    _ => None,
                }
            }
        }

        /// The body of a response from one of the APIs the broker implements.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ResponseBody {
            $(
                #[doc = concat!("A `", stringify!($api), "` response.")]
                $api(messages::$response),
            )+
        }

        impl ResponseBody {
            /// The API key of the request this response answers.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $( Self::$api(_) => ApiKey::$api, )+
                }
            }

            fn encode<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> Result<(), BoxError> {
                match self {
                    $( Self::$api(body) => body.encode(buf, version).map_err(Into::into), )+
                }
            }
        }

        $(
            impl From<messages::$response> for ResponseBody {
                fn from(body: messages::$response) -> Self {
                    Self::$api(body)
                }
            }
        )+

        /// Every implemented API with the versions the broker decodes, in API
        /// key order: its request type's `VERSIONS`, capped where a line says
        /// `max`.
        pub(crate) const BROKER_APIS: &[(ApiKey, VersionRange)] = &[
            $(
                (
                    ApiKey::$api,
                    capped(
                        <messages::$request as Message>::VERSIONS,
                        broker_apis!(@max $($max)?),
                    ),
                ),
            )+
        ];
    };
    (@max) => { None };
    (@max $max:expr) => { Some($max) };
}

broker_apis! {
    Produce(ProduceRequest => ProduceResponse) max PRODUCE_MAX_VERSION;
    Fetch(FetchRequest => FetchResponse) max FETCH_MAX_VERSION;
    ListOffsets(ListOffsetsRequest => ListOffsetsResponse);
    Metadata(MetadataRequest => MetadataResponse);
    OffsetCommit(OffsetCommitRequest => OffsetCommitResponse);
    OffsetFetch(OffsetFetchRequest => OffsetFetchResponse);
    FindCoordinator(FindCoordinatorRequest => FindCoordinatorResponse);
    JoinGroup(JoinGroupRequest => JoinGroupResponse);
    Heartbeat(HeartbeatRequest => HeartbeatResponse);
    LeaveGroup(LeaveGroupRequest => LeaveGroupResponse);
    SyncGroup(SyncGroupRequest => SyncGroupResponse);
    DescribeGroups(DescribeGroupsRequest => DescribeGroupsResponse);
    ListGroups(ListGroupsRequest => ListGroupsResponse);
    ApiVersions(ApiVersionsRequest => ApiVersionsResponse);
    CreateTopics(CreateTopicsRequest => CreateTopicsResponse);
    DeleteTopics(DeleteTopicsRequest => DeleteTopicsResponse);
    DeleteRecords(DeleteRecordsRequest => DeleteRecordsResponse);
    InitProducerId(InitProducerIdRequest => InitProducerIdResponse);
    DescribeConfigs(DescribeConfigsRequest => DescribeConfigsResponse);
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest => IncrementalAlterConfigsResponse);
}

/// A decoded request: its header and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// The request header (API key and version, correlation id, client id).
    pub header: RequestHeader,
    /// The request body.
    pub body: RequestBody,
    /// Bytes after the body, ignored (Kafka ignores them too).
    pub trailing_bytes: usize,
}

impl DecodedRequest {
    /// The API key of the request.
    pub fn api_key(&self) -> ApiKey {
        self.body.api_key()
    }

    /// The version of the request, which the response must use too.
    pub fn api_version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The correlation id, which the response must carry back.
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }
}

/// Which part of a request frame failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePart {
    /// The request header.
    Header,
    /// The request body.
    Body,
}

impl fmt::Display for FramePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Body => "body",
        })
    }
}

/// Why a request frame could not be decoded.
///
/// Only [`DecodeError::UnsupportedVersion`] is answered (with
/// `UNSUPPORTED_VERSION`; for ApiVersions, with a v0 response that lists the
/// supported versions); after any other error the connection cannot be trusted
/// to be in step and is closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The size prefix is negative or larger than the allowed maximum.
    #[error("frame size {size} is out of range 0..={max_bytes}")]
    FrameSize {
        /// The size prefix as it came.
        size: i32,
        /// The largest frame allowed.
        max_bytes: u32,
    },
    /// The frame ends before the API key, version and correlation id.
    #[error(
        "frame of {len} bytes is shorter than the {REQUEST_PREFIX_BYTES} bytes every request header starts with"
    )]
    FrameTooShort {
        /// Bytes in the frame.
        len: usize,
    },
    /// The API key is not one the broker implements (or not a Kafka API at all).
    #[error("api key {api_key} is not implemented (correlation id {correlation_id})")]
    UnknownApiKey {
        /// The API key as it came.
        api_key: i16,
        /// The request's correlation id.
        correlation_id: i32,
    },
    /// The API is implemented, but not at this version.
    #[error(
        "{api_key:?} v{api_version} is not supported, only v{}..=v{} (correlation id {correlation_id})",
        supported.min,
        supported.max
    )]
    UnsupportedVersion {
        /// The request's API.
        api_key: ApiKey,
        /// The version asked for.
        api_version: i16,
        /// The request's correlation id.
        correlation_id: i32,
        /// The versions of this API the broker supports.
        supported: VersionRange,
    },
    /// The frame ends inside the header or the body.
    #[error(
        "{api_key:?} v{api_version} request {part} is truncated (correlation id {correlation_id})"
    )]
    Truncated {
        /// The request's API.
        api_key: ApiKey,
        /// The request's version.
        api_version: i16,
        /// The request's correlation id.
        correlation_id: i32,
        /// Where the bytes ran out.
        part: FramePart,
    },
    /// The header or the body is not a valid encoding: a negative or
    /// impossible count, a bad UTF-8 string, and so on.
    #[error(
        "malformed {api_key:?} v{api_version} request {part} (correlation id {correlation_id})"
    )]
    Malformed {
        /// The request's API.
        api_key: ApiKey,
        /// The request's version.
        api_version: i16,
        /// The request's correlation id.
        correlation_id: i32,
        /// The part that failed to decode.
        part: FramePart,
        /// What `kafka-protocol` reported.
        #[source]
        source: BoxError,
    },
}

impl DecodeError {
    /// The correlation id of the failed request, when the frame was long
    /// enough to carry one.
    pub fn correlation_id(&self) -> Option<i32> {
        match self {
            Self::FrameSize { .. } | Self::FrameTooShort { .. } => None,
            Self::UnknownApiKey { correlation_id, .. }
            | Self::UnsupportedVersion { correlation_id, .. }
            | Self::Truncated { correlation_id, .. }
            | Self::Malformed { correlation_id, .. } => Some(*correlation_id),
        }
    }
}

/// Why a response could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The broker does not advertise this version of the API.
    #[error("{api_key:?} v{api_version} is not a supported version")]
    UnsupportedVersion {
        /// The response's API.
        api_key: ApiKey,
        /// The version asked for.
        api_version: i16,
    },
    /// `kafka-protocol` refused the body, typically because a field is set
    /// that this version cannot carry.
    #[error("cannot encode {api_key:?} v{api_version} response")]
    Body {
        /// The response's API.
        api_key: ApiKey,
        /// The version asked for.
        api_version: i16,
        /// What `kafka-protocol` reported.
        #[source]
        source: BoxError,
    },
    /// The response does not fit in a frame (at most `i32::MAX` bytes).
    #[error("response of {size} bytes does not fit in a frame")]
    FrameTooLarge {
        /// Bytes of header and body.
        size: usize,
    },
}

/// An error from `kafka-protocol`, with whether it ran out of bytes.
struct ProtocolError {
    truncated: bool,
    source: BoxError,
}

impl ProtocolError {
    fn new<E>(error: E) -> Self
    where
        E: AsRef<dyn StdError + Send + Sync + 'static> + Into<BoxError>,
    {
        let mut next: Option<&(dyn StdError + 'static)> = Some(error.as_ref());
        let mut truncated = false;
        while let Some(cause) = next {
            if cause.is::<NotEnoughBytesError>() || cause.is::<bytes::TryGetError>() {
                truncated = true;
                break;
            }
            next = cause.source();
        }
        Self {
            truncated,
            source: error.into(),
        }
    }
}

/// The fields that every request header starts with.
#[derive(Debug, Clone, Copy)]
struct RequestPrefix {
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
}

impl RequestPrefix {
    fn peek(frame: &[u8]) -> Result<Self, DecodeError> {
        let Some(&[k0, k1, v0, v1, c0, c1, c2, c3]) = frame.first_chunk::<REQUEST_PREFIX_BYTES>()
        else {
            return Err(DecodeError::FrameTooShort { len: frame.len() });
        };
        Ok(Self {
            api_key: i16::from_be_bytes([k0, k1]),
            api_version: i16::from_be_bytes([v0, v1]),
            correlation_id: i32::from_be_bytes([c0, c1, c2, c3]),
        })
    }
}

/// Reads a frame's size prefix and checks it against `max_bytes`.
///
/// # Errors
///
/// [`DecodeError::FrameSize`] when the size is negative or above `max_bytes`.
pub fn read_frame_size(
    prefix: [u8; FRAME_SIZE_BYTES],
    max_bytes: u32,
) -> Result<usize, DecodeError> {
    let size = i32::from_be_bytes(prefix);
    match u32::try_from(size) {
        Ok(len) if len <= max_bytes => {
            usize::try_from(len).map_err(|_| DecodeError::FrameSize { size, max_bytes })
        }
        _ => Err(DecodeError::FrameSize { size, max_bytes }),
    }
}

/// Decodes one request frame (the bytes after the size prefix).
///
/// The body keeps pointing into `frame` where it can (record batches of a
/// Produce request are slices of it, never copies).
///
/// # Errors
///
/// A [`DecodeError`] for a frame that is too short, an API the broker does
/// not implement, a version it does not support, a header or body that is
/// truncated or malformed, or bytes left over after the body.
pub fn decode_request(mut frame: Bytes) -> Result<DecodedRequest, DecodeError> {
    let prefix = RequestPrefix::peek(&frame)?;
    let RequestPrefix {
        api_key: raw_api_key,
        api_version,
        correlation_id,
    } = prefix;
    let unknown = DecodeError::UnknownApiKey {
        api_key: raw_api_key,
        correlation_id,
    };
    let Ok(api_key) = ApiKey::try_from(raw_api_key) else {
        return Err(unknown);
    };
    let Some(supported) = versions::supported_versions(api_key) else {
        return Err(unknown);
    };
    if !versions::contains(supported, api_version) {
        return Err(DecodeError::UnsupportedVersion {
            api_key,
            api_version,
            correlation_id,
            supported,
        });
    }
    let failed = |part: FramePart, error: ProtocolError| {
        if error.truncated {
            DecodeError::Truncated {
                api_key,
                api_version,
                correlation_id,
                part,
            }
        } else {
            DecodeError::Malformed {
                api_key,
                api_version,
                correlation_id,
                part,
                source: error.source,
            }
        }
    };

    let header_version = api_key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|error| failed(FramePart::Header, ProtocolError::new(error)))?;
    let body = match RequestBody::decode(api_key, &mut frame, api_version) {
        Some(Ok(body)) => body,
        Some(Err(error)) => return Err(failed(FramePart::Body, error)),
        None => return Err(unknown),
    };
    // Bytes after the body are ignored, as Kafka does: librdkafka 2.16
    // sends three of them after a Metadata v13 body, and its admin client
    // cannot work without Metadata.
    let trailing_bytes = frame.len();
    Ok(DecodedRequest {
        header,
        body,
        trailing_bytes,
    })
}

/// Appends one response frame to `out`: the size prefix, the response header
/// at the header version for the body's API and `api_version`, and the body.
/// Returns the bytes appended.
///
/// On error nothing is appended, so `out` may hold other responses queued for
/// the same connection.
///
/// # Errors
///
/// [`EncodeError::UnsupportedVersion`] for a version the broker does not
/// advertise, [`EncodeError::Body`] when `kafka-protocol` refuses the body,
/// [`EncodeError::FrameTooLarge`] past `i32::MAX` bytes.
pub fn encode_response(
    out: &mut BytesMut,
    correlation_id: i32,
    api_version: i16,
    body: &ResponseBody,
) -> Result<usize, EncodeError> {
    let api_key = body.api_key();
    if !versions::is_supported(api_key, api_version) {
        return Err(EncodeError::UnsupportedVersion {
            api_key,
            api_version,
        });
    }
    let start = out.len();
    let written = write_response(out, correlation_id, api_version, body);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

fn write_response(
    out: &mut BytesMut,
    correlation_id: i32,
    api_version: i16,
    body: &ResponseBody,
) -> Result<usize, EncodeError> {
    let start = out.len();
    // The size is known only once header and body are written; it goes here then.
    out.put_i32(0);
    write_header_and_body(out, correlation_id, api_version, body)?;

    let frame_len = out.len() - start;
    let size = frame_len - FRAME_SIZE_BYTES;
    let size_prefix = i32::try_from(size).map_err(|_| EncodeError::FrameTooLarge { size })?;
    for (slot, byte) in out.iter_mut().skip(start).zip(size_prefix.to_be_bytes()) {
        *slot = byte;
    }
    Ok(frame_len)
}

/// Encodes one response frame as [`encode_response`] does, but as chunks:
/// record batches in the body (`bytes` fields of 1 KiB or more) are
/// referenced, not copied, and go out with one vectored write.
///
/// # Errors
/// As [`encode_response`].
pub fn encode_response_frame(
    correlation_id: i32,
    api_version: i16,
    body: &ResponseBody,
) -> Result<Frame, EncodeError> {
    let api_key = body.api_key();
    if !versions::is_supported(api_key, api_version) {
        return Err(EncodeError::UnsupportedVersion {
            api_key,
            api_version,
        });
    }
    let mut out = ResponseBuf::new();
    write_header_and_body(&mut out, correlation_id, api_version, body)?;
    let size = out.offset();
    out.finish().ok_or(EncodeError::FrameTooLarge { size })
}

fn write_header_and_body<B: ByteBufMut>(
    out: &mut B,
    correlation_id: i32,
    api_version: i16,
    body: &ResponseBody,
) -> Result<(), EncodeError> {
    let api_key = body.api_key();
    let body_error = |source: BoxError| EncodeError::Body {
        api_key,
        api_version,
        source,
    };
    let header_version = api_key.response_header_version(api_version);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(out, header_version)
        .map_err(|error| body_error(error.into()))?;
    body.encode(out, api_version).map_err(body_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::{
        ApiVersionsResponse, HeartbeatResponse, MetadataResponse, ProduceResponse,
    };
    use kafka_protocol::protocol::StrBytes;

    fn frame(api_key: i16, api_version: i16, correlation_id: i32, rest: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i16(api_key);
        buf.put_i16(api_version);
        buf.put_i32(correlation_id);
        buf.put_slice(rest);
        buf.freeze()
    }

    /// ApiVersions v0: header v1 (client id "t"), empty body.
    fn api_versions_v0(correlation_id: i32) -> Bytes {
        frame(18, 0, correlation_id, &[0, 1, b't'])
    }

    #[test]
    fn decodes_an_api_versions_v0_request() {
        let request = decode_request(api_versions_v0(42)).expect("valid frame");
        assert_eq!(request.api_key(), ApiKey::ApiVersions);
        assert_eq!(request.api_version(), 0);
        assert_eq!(request.correlation_id(), 42);
        assert_eq!(
            request.header.client_id,
            Some(StrBytes::from_static_str("t"))
        );
        assert!(matches!(request.body, RequestBody::ApiVersions(_)));
    }

    #[test]
    fn frame_shorter_than_the_prefix_is_too_short() {
        for len in 0..REQUEST_PREFIX_BYTES {
            let bytes = api_versions_v0(1).slice(..len);
            let error = decode_request(bytes).expect_err("too short");
            assert!(matches!(error, DecodeError::FrameTooShort { len: l } if l == len));
            assert_eq!(error.correlation_id(), None);
        }
    }

    #[test]
    fn unknown_and_unimplemented_api_keys_are_unknown() {
        // 999 is no Kafka API; 71 (GetTelemetrySubscriptions) is one the broker does not implement.
        for api_key in [999, -1, 71, 17] {
            let error = decode_request(frame(api_key, 0, 7, &[0xff, 0xff])).expect_err("unknown");
            assert!(
                matches!(error, DecodeError::UnknownApiKey { api_key: k, correlation_id: 7 } if k == api_key),
                "{error:?}"
            );
        }
    }

    #[test]
    fn unsupported_version_carries_what_the_answer_needs() {
        let error =
            decode_request(frame(0, 13, 9, &[])).expect_err("produce v13 is not advertised");
        assert!(matches!(
            error,
            DecodeError::UnsupportedVersion {
                api_key: ApiKey::Produce,
                api_version: 13,
                correlation_id: 9,
                supported: VersionRange { min: 3, max: 12 },
            }
        ));
        assert_eq!(error.correlation_id(), Some(9));
    }

    #[test]
    fn header_cut_short_is_truncated() {
        // Client id claims 5 bytes, 1 follows.
        let error = decode_request(frame(18, 0, 3, &[0, 5, b'x'])).expect_err("truncated");
        assert!(matches!(
            error,
            DecodeError::Truncated {
                part: FramePart::Header,
                correlation_id: 3,
                ..
            }
        ));
    }

    #[test]
    fn bytes_after_the_body_are_counted_and_ignored() {
        let mut bytes = BytesMut::from(&api_versions_v0(5)[..]);
        bytes.put_slice(b"xyz");
        let request = decode_request(bytes.freeze()).expect("trailing bytes are ignored");
        assert!(matches!(request.body, RequestBody::ApiVersions(_)));
        assert_eq!(request.trailing_bytes, 3);
    }

    #[test]
    fn frame_size_is_bounded() {
        assert_eq!(read_frame_size(100i32.to_be_bytes(), 100).ok(), Some(100));
        assert_eq!(read_frame_size(0i32.to_be_bytes(), 100).ok(), Some(0));
        for size in [101, i32::MAX, -1, i32::MIN] {
            let error = read_frame_size(size.to_be_bytes(), 100).expect_err("out of range");
            assert!(
                matches!(error, DecodeError::FrameSize { size: s, max_bytes: 100 } if s == size)
            );
        }
    }

    #[test]
    fn response_frame_is_size_prefixed_with_the_api_versions_header_v0() {
        let mut out = BytesMut::from(&b"queued"[..]);
        let body = ResponseBody::from(ApiVersionsResponse::default());
        let written = encode_response(&mut out, 77, 3, &body).expect("encodes");
        assert_eq!(out.len(), 6 + written);
        let mut frame = out.split_off(6).freeze();
        assert_eq!(frame.get_i32() as usize, written - FRAME_SIZE_BYTES);
        // ApiVersions answers with header v0 at every version: no tagged fields.
        assert_eq!(frame.get_i32(), 77);
        assert_eq!(frame.get_i16(), 0, "error code");
    }

    #[test]
    fn response_to_a_flexible_version_has_header_v1() {
        let mut out = BytesMut::new();
        let body = ResponseBody::from(HeartbeatResponse::default());
        encode_response(&mut out, 5, 4, &body).expect("encodes");
        let mut frame = out.freeze();
        let size = frame.get_i32();
        assert_eq!(size as usize, frame.len());
        assert_eq!(frame.get_i32(), 5);
        assert_eq!(frame.get_u8(), 0, "header tagged fields");
    }

    #[test]
    fn response_at_an_unadvertised_version_appends_nothing() {
        let mut out = BytesMut::from(&b"queued"[..]);
        let body = ResponseBody::from(ProduceResponse::default());
        let error = encode_response(&mut out, 1, 13, &body).expect_err("v13 not advertised");
        assert!(matches!(
            error,
            EncodeError::UnsupportedVersion {
                api_key: ApiKey::Produce,
                api_version: 13
            }
        ));
        assert_eq!(&out[..], b"queued");
    }

    #[test]
    fn response_the_version_cannot_carry_appends_nothing() {
        let mut out = BytesMut::from(&b"queued"[..]);
        // Metadata carries cluster authorized operations in v8..=v10 only; kafka-protocol
        // refuses a value other than "not requested" at any other version.
        let body =
            ResponseBody::from(MetadataResponse::default().with_cluster_authorized_operations(0));
        let error = encode_response(&mut out, 1, 12, &body).expect_err("field not in v12");
        assert!(matches!(
            error,
            EncodeError::Body {
                api_key: ApiKey::Metadata,
                ..
            }
        ));
        assert_eq!(&out[..], b"queued");
    }
}
