//! Produce: each partition's batches are validated (header, CRC, offsets,
//! sizes, records) and appended as they came, on the blocking pool (an
//! append waits for its fsync under `flush.policy=every-batch`). Batches of
//! idempotent producers are checked against the partition's sequence state
//! first: a retried batch is answered with its original offset and not
//! appended again; a gap or a fenced epoch is refused.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::ProduceRequest;
use kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use logsync_storage::batch::{BatchHeader, parse_header_complete};
use logsync_storage::{CorruptKind, Error as StorageError};

use super::error_code;
use crate::broker::{Broker, Partition};
use crate::producers::{PartitionProducers, Verdict, base_offsets};

/// Why a partition's records were not appended.
enum Refused {
    Storage(StorageError),
    Code(ResponseError, String),
}

impl From<StorageError> for Refused {
    fn from(e: StorageError) -> Self {
        Refused::Storage(e)
    }
}

/// Appends every partition's records; `None` for `acks=0` (no response).
pub async fn produce(broker: &Arc<Broker>, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let info = broker.topic_or_create(&name, true);
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for part in topic.partition_data {
            let response = PartitionProduceResponse::default().with_index(part.index);
            let result = match (&info, part.records) {
                (Err(StorageError::InvalidTopic { name, reason }), _) => Err(Refused::Code(
                    ResponseError::InvalidTopicException,
                    format!("invalid topic name {name:?}: {reason}"),
                )),
                (Err(e), _) => Err(Refused::Storage(StorageError::UnknownTopic(e.to_string()))),
                (Ok(_), None) => Err(Refused::Storage(StorageError::InvalidBatch(
                    CorruptKind::BadRecord("no records"),
                ))),
                (Ok(_), Some(records)) => append(broker, &name, part.index, records).await,
            };
            partitions.push(match result {
                Ok((base, start)) => response
                    .with_base_offset(base)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(start),
                Err(refused) => {
                    let (code, text) = match refused {
                        Refused::Storage(e) => {
                            if !matches!(
                                e,
                                StorageError::UnknownTopic(_)
                                    | StorageError::UnknownPartition { .. }
                            ) {
                                tracing::warn!(topic = %name, partition = part.index, error = %e, "produce failed");
                            }
                            (error_code(&e), e.to_string())
                        }
                        Refused::Code(code, text) => (code.code(), text),
                    };
                    response
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                        .with_error_message(Some(StrBytes::from_string(text)))
                }
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// The headers of the batches in `records`, as the producer sent them.
fn headers(records: &[u8]) -> Result<Vec<BatchHeader>, StorageError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(rest) = records.get(at..).filter(|r| !r.is_empty()) {
        let h = parse_header_complete(rest).map_err(StorageError::InvalidBatch)?;
        at += h.total_size() as usize;
        out.push(h);
    }
    Ok(out)
}

async fn append(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    records: Bytes,
) -> Result<(i64, i64), Refused> {
    let part = broker.partition(topic, index)?;
    let headers = headers(&records)?;
    let result = if headers.iter().any(|h| h.producer_id >= 0) {
        append_idempotent(&part, records, &headers).await
    } else {
        append_on_pool(&part, records).await.map_err(Refused::from)
    };
    if result.is_ok() {
        broker.notify_appended();
    }
    result
}

async fn append_on_pool(part: &Arc<Partition>, records: Bytes) -> Result<(i64, i64), StorageError> {
    let log = Arc::clone(&part.log);
    tokio::task::spawn_blocking(move || {
        let info = log.append(&records)?;
        Ok::<_, StorageError>((info.base_offset.0 as i64, log.log_start_offset().0 as i64))
    })
    .await
    .map_err(|e| StorageError::io("append", part.log.dir(), std::io::Error::other(e)))?
}

/// Check, append and record under the partition's producer lock, so that
/// two requests of one producer cannot both pass the check.
async fn append_idempotent(
    part: &Arc<Partition>,
    records: Bytes,
    headers: &[BatchHeader],
) -> Result<(i64, i64), Refused> {
    let mut state = part.producers.lock().await;
    if state.is_none() {
        let log = Arc::clone(&part.log);
        let rebuilt = tokio::task::spawn_blocking(move || PartitionProducers::rebuild(&log))
            .await
            .map_err(|e| StorageError::io("read", part.log.dir(), std::io::Error::other(e)))??;
        *state = Some(rebuilt);
    }
    let Some(producers) = state.as_mut() else {
        return Err(Refused::Code(
            ResponseError::UnknownServerError,
            "no producer state".into(),
        ));
    };
    let verdicts = headers
        .iter()
        .map(|h| producers.check(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|code| {
            let h = headers.first();
            Refused::Code(
                code,
                format!(
                    "producer {} epoch {} sequence {}: {}",
                    h.map_or(-1, |h| h.producer_id),
                    h.map_or(-1, |h| h.producer_epoch),
                    h.map_or(-1, |h| h.base_sequence),
                    code
                ),
            )
        })?;
    match verdicts.as_slice() {
        [Verdict::Duplicate { base_offset }] => {
            tracing::debug!(
                base_offset,
                "duplicate batch of an idempotent producer acknowledged again"
            );
            return Ok((*base_offset, part.log.log_start_offset().0 as i64));
        }
        v if v.iter().all(|v| *v == Verdict::Append) => {}
        _ => {
            return Err(Refused::Code(
                ResponseError::OutOfOrderSequenceNumber,
                "a request mixing new and already written batches".into(),
            ));
        }
    }
    let (base, start) = append_on_pool(part, records).await?;
    let bases = base_offsets(headers, logsync_storage::Offset(base as u64));
    for (h, at) in headers.iter().zip(bases) {
        producers.record(h, at);
    }
    Ok((base, start))
}
