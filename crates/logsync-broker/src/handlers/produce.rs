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
use logsync_storage::log::Durable;
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

/// A Produce request whose batches are written (in request order) and
/// whose response waits for their fsyncs.
pub struct PendingProduce {
    acks: i16,
    broker: Arc<Broker>,
    topics: Vec<PendingTopic>,
}

/// A partition's response, and the write it waits for (none if refused).
type PendingPartition = (PartitionProduceResponse, Option<(Arc<Partition>, Durable)>);

struct PendingTopic {
    name: kafka_protocol::messages::TopicName,
    partitions: Vec<PendingPartition>,
}

fn refused_response(
    response: PartitionProduceResponse,
    topic: &str,
    refused: Refused,
) -> PartitionProduceResponse {
    let (code, text) = match refused {
        Refused::Storage(e) => {
            if !matches!(
                e,
                StorageError::UnknownTopic(_) | StorageError::UnknownPartition { .. }
            ) {
                tracing::warn!(topic, partition = response.index, error = %e, "produce failed");
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

/// Writes every partition's records, in order; the returned value's
/// [`PendingProduce::finish`] waits for durability and builds the response
/// (`None` for `acks=0`).
pub async fn produce(broker: &Arc<Broker>, req: ProduceRequest) -> PendingProduce {
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let info = broker.topic_or_create(&name, true);
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for part in topic.partition_data {
            let response = PartitionProduceResponse::default().with_index(part.index);
            let internal = name == crate::groups::offsets::OFFSETS_TOPIC;
            let result = match (&info, part.records) {
                _ if internal => Err(Refused::Code(
                    ResponseError::InvalidTopicException,
                    format!("{name} is internal: clients cannot produce to it"),
                )),
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
                Ok((base, start, part, durable)) => (
                    response
                        .with_base_offset(base)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(start),
                    Some((part, durable)),
                ),
                Err(refused) => (refused_response(response, &name, refused), None),
            });
        }
        topics.push(PendingTopic {
            name: topic.name,
            partitions,
        });
    }
    PendingProduce {
        acks: req.acks,
        broker: Arc::clone(broker),
        topics,
    }
}

impl PendingProduce {
    /// Waits until every written batch is durable (per its topic's
    /// `flush.policy`), then builds the response.
    pub async fn finish(self) -> Option<ProduceResponse> {
        let mut responses = Vec::with_capacity(self.topics.len());
        let mut any = false;
        for topic in self.topics {
            let name = topic.name.0.to_string();
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for (response, pending) in topic.partitions {
                let Some((part, durable)) = pending else {
                    partitions.push(response);
                    continue;
                };
                let waited =
                    super::on_pool("fsync", &part.log, move |log| log.wait_durable_for(durable))
                        .await;
                partitions.push(match waited {
                    Ok(()) => {
                        any = true;
                        response
                    }
                    Err(e) => refused_response(response, &name, Refused::Storage(e)),
                });
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_partition_responses(partitions),
            );
        }
        if any {
            self.broker.notify_appended();
        }
        (self.acks != 0).then(|| ProduceResponse::default().with_responses(responses))
    }
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
) -> Result<(i64, i64, Arc<Partition>, Durable), Refused> {
    let part = broker.partition(topic, index)?;
    let headers = headers(&records)?;
    let (base, start, durable) = if headers.iter().any(|h| h.producer_id >= 0) {
        append_idempotent(&part, records, &headers).await?
    } else {
        append_on_pool(&part, records).await?
    };
    Ok((base, start, part, durable))
}

/// Writes on the blocking pool without waiting for the fsync.
async fn append_on_pool(
    part: &Arc<Partition>,
    records: Bytes,
) -> Result<(i64, i64, Durable), StorageError> {
    super::on_pool("append", &part.log, move |log| {
        let (info, durable) = log.append_unsynced(&records)?;
        Ok((
            info.base_offset.0 as i64,
            log.log_start_offset().0 as i64,
            durable,
        ))
    })
    .await
}

/// Check, write and record under the partition's producer lock, so that
/// two requests of one producer cannot both pass the check.
async fn append_idempotent(
    part: &Arc<Partition>,
    records: Bytes,
    headers: &[BatchHeader],
) -> Result<(i64, i64, Durable), Refused> {
    let mut state = part.producers.lock().await;
    if state.is_none() {
        let rebuilt = super::on_pool("read", &part.log, PartitionProducers::rebuild).await?;
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
            // The first copy may still be waiting for its fsync.
            let durable = part.log.durable_mark();
            return Ok((*base_offset, part.log.log_start_offset().0 as i64, durable));
        }
        v if v.iter().all(|v| *v == Verdict::Append) => {}
        _ => {
            return Err(Refused::Code(
                ResponseError::OutOfOrderSequenceNumber,
                "a request mixing new and already written batches".into(),
            ));
        }
    }
    let (base, start, durable) = append_on_pool(part, records).await?;
    let bases = base_offsets(headers, logsync_storage::Offset(base as u64));
    for (h, at) in headers.iter().zip(bases) {
        producers.record(h, at);
    }
    Ok((base, start, durable))
}
