//! Building request frames with `kafka-protocol`'s own (client-side) encoders,
//! and the bound on what decoding a frame may allocate.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// A request frame (without size prefix) as a client would send it.
pub fn request_frame<R: Encodable>(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &R,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("logsync-it")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api_key.request_header_version(api_version))
        .expect("header encodes");
    body.encode(&mut buf, api_version).expect("body encodes");
    buf.freeze()
}

/// The most that decoding a frame of `frame_len` bytes may allocate in one go.
///
/// Every element of an array takes at least one byte of the frame, and the
/// pre-allocation for an array never exceeds the bytes that remain; a vector
/// that really holds that many elements grows by doubling, so its largest
/// buffer is at most twice its elements' in-memory size. 512 bytes per frame
/// byte bounds that for every message type, and 64 KiB covers the constant
/// part (error messages, a captured backtrace). Before the patch one 23-byte
/// frame asked for 206 GB.
pub fn allocation_bound(frame_len: usize) -> usize {
    64 * 1024 + 512 * frame_len
}
