//! One handler per API: each takes the decoded request body and returns the
//! response body (or none, for Produce with `acks=0`).

mod configs;
mod fetch;
mod groups;
mod init_producer;
mod metadata;
mod offsets;
mod produce;
mod topics;

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;
use logsync_storage::Error as StorageError;

use crate::broker::Broker;
use crate::codec::{RequestBody, ResponseBody};

/// The APIs this server answers; ApiVersions lists only these.
pub const HANDLED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::InitProducerId,
    ApiKey::DescribeConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DeleteRecords,
];

/// A handler's answer: ready now, or a future that finishes it (a Produce
/// whose batches are written, waiting for their fsync). `None` inside:
/// send no response (acks=0).
pub enum Reply {
    /// The response body.
    Now(Option<ResponseBody>),
    /// Completes later; requests after it are read and handled meanwhile,
    /// responses still go out in request order.
    Later(std::pin::Pin<Box<dyn std::future::Future<Output = Option<ResponseBody>> + Send>>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reply::Now(_) => "Reply::Now",
            Reply::Later(_) => "Reply::Later",
        })
    }
}

/// Runs the handler of `body`.
pub async fn handle(broker: &Arc<Broker>, version: i16, body: RequestBody) -> Reply {
    if let RequestBody::Produce(req) = body {
        let pending = produce::produce(broker, req).await;
        return Reply::Later(Box::pin(
            async move { pending.finish().await.map(Into::into) },
        ));
    }
    Reply::Now(handle_now(broker, version, body).await)
}

async fn handle_now(broker: &Arc<Broker>, version: i16, body: RequestBody) -> Option<ResponseBody> {
    Some(match body {
        RequestBody::ApiVersions(_) => metadata::api_versions().into(),
        RequestBody::Metadata(req) => metadata::metadata(broker, &req).into(),
        RequestBody::Fetch(req) => fetch::fetch(broker, req).await.into(),
        RequestBody::ListOffsets(req) => offsets::list_offsets(broker, req).await.into(),
        RequestBody::CreateTopics(req) => topics::create_topics(broker, &req).into(),
        RequestBody::DeleteTopics(req) => topics::delete_topics(broker, &req, version).into(),
        RequestBody::DeleteRecords(req) => offsets::delete_records(broker, req).await.into(),
        RequestBody::InitProducerId(req) => init_producer::init_producer_id(broker, &req).into(),
        RequestBody::DescribeConfigs(req) => configs::describe_configs(broker, &req).into(),
        RequestBody::IncrementalAlterConfigs(req) => {
            configs::incremental_alter_configs(broker, &req).into()
        }
        RequestBody::FindCoordinator(req) => groups::find_coordinator(broker, &req, version).into(),
        RequestBody::JoinGroup(req) => groups::join_group(broker, req, version).await.into(),
        RequestBody::SyncGroup(req) => groups::sync_group(broker, req, version).await.into(),
        RequestBody::Heartbeat(req) => groups::heartbeat(broker, &req).into(),
        RequestBody::LeaveGroup(req) => groups::leave_group(broker, &req, version).into(),
        RequestBody::OffsetCommit(req) => groups::offset_commit(broker, req, version).await.into(),
        RequestBody::OffsetFetch(req) => groups::offset_fetch(broker, &req, version).into(),
        RequestBody::ListGroups(req) => groups::list_groups(broker, &req, version).into(),
        RequestBody::DescribeGroups(req) => groups::describe_groups(broker, &req, version).into(),
        other => {
            // Not advertised, so a well-behaved client never sends it; the
            // server closes the connection on `None` from `is_handled`.
            tracing::warn!(api = ?other.api_key(), "request for an API this server does not answer");
            return None;
        }
    })
}

/// The ApiVersions body this server sends.
#[must_use]
pub fn api_versions_body() -> kafka_protocol::messages::api_versions_response::ApiVersionsResponse {
    metadata::api_versions()
}

/// Whether the server answers `api_key`.
#[must_use]
pub fn is_handled(api_key: ApiKey) -> bool {
    HANDLED.contains(&api_key)
}

/// Runs a storage call of `log` on the blocking pool (file I/O and fsyncs
/// never run on the async threads). A panic there becomes an I/O error
/// naming `op` and the partition directory.
async fn on_pool<T: Send + 'static>(
    op: &'static str,
    log: &Arc<logsync_storage::Log>,
    f: impl FnOnce(&logsync_storage::Log) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    let owned = Arc::clone(log);
    match tokio::task::spawn_blocking(move || f(&owned)).await {
        Ok(r) => r,
        Err(e) => Err(StorageError::io(op, log.dir(), std::io::Error::other(e))),
    }
}

/// Builds a whole response on the blocking pool; a panic there is logged
/// and answered with the empty (default) response.
async fn response_on_pool<T: Default + Send + 'static>(
    api: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(api, error = %e, "handler failed on the blocking pool");
        T::default()
    })
}

/// The Kafka error code for a storage error.
#[must_use]
pub fn error_code(e: &StorageError) -> i16 {
    let err = match e {
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::RecordTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::InvalidBatch(_) => ResponseError::CorruptMessage,
        StorageError::MissingKey { .. } => ResponseError::InvalidRecord,
        StorageError::UnknownTopic(_) | StorageError::UnknownPartition { .. } => {
            ResponseError::UnknownTopicOrPartition
        }
        StorageError::InvalidTopic { .. } => ResponseError::InvalidTopicException,
        StorageError::TopicExists(_) => ResponseError::TopicAlreadyExists,
        StorageError::InvalidConfig { .. } => ResponseError::InvalidConfig,
        StorageError::DiskFull { .. }
        | StorageError::Corrupt { .. }
        | StorageError::Poisoned { .. }
        | StorageError::Io { .. } => ResponseError::KafkaStorageError,
        _ => ResponseError::UnknownServerError,
    };
    err.code()
}

/// An error message for a response field.
fn message(e: &StorageError) -> Option<StrBytes> {
    Some(StrBytes::from_string(e.to_string()))
}
