//! `logsync-broker`: the Kafka wire-protocol face of logsync.
//!
//! [`server::serve`] runs the TCP server over a [`broker::Broker`] (the topics
//! and open logs of a data directory); [`handlers`] answer each API;
//! [`groups`] coordinates consumer groups and keeps their committed offsets
//! in the compacted internal topic `__consumer_offsets`;
//! [`codec`] decodes one request frame into a typed [`RequestBody`] and
//! encodes one response frame; [`versions`] is the table of API versions the
//! codec supports, built from the request types it decodes. The
//! wire messages are those of the `kafka-protocol` crate, in the workspace's
//! patched copy that bounds every allocation by the bytes received.
//!
//! ```
//! use bytes::{BufMut, BytesMut};
//! use logsync_broker::codec::{self, RequestBody, ResponseBody};
//! use logsync_broker::versions;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An ApiVersions v0 request as a client sends it, without the size prefix:
//! // api key 18, version 0, correlation id 7, client id "kcat".
//! let mut frame = BytesMut::new();
//! frame.put_i16(18);
//! frame.put_i16(0);
//! frame.put_i32(7);
//! frame.put_i16(4);
//! frame.put_slice(b"kcat");
//!
//! let request = codec::decode_request(frame.freeze())?;
//! assert!(matches!(request.body, RequestBody::ApiVersions(_)));
//!
//! let mut out = BytesMut::new();
//! let response = ResponseBody::from(versions::api_versions_response());
//! let written =
//!     codec::encode_response(&mut out, request.correlation_id(), request.api_version(), &response)?;
//! assert_eq!(written, out.len());
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod admin;
pub mod broker;
pub mod codec;
pub mod frame;
pub mod groups;
pub mod handlers;
pub mod metrics;
pub mod producers;
pub mod server;
pub mod versions;

pub use codec::{
    DecodeError, DecodedRequest, EncodeError, RequestBody, ResponseBody, decode_request,
    encode_response, encode_response_frame,
};
