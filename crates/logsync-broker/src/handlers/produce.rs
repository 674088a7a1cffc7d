//! Produce: each partition's batches are validated (header, CRC, offsets,
//! sizes, records) and appended as they came, on the blocking pool (an
//! append waits for its fsync under `flush.policy=every-batch`).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::ProduceRequest;
use kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use logsync_storage::Error as StorageError;

use super::{error_code, message};
use crate::broker::Broker;

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
                (Err(e), _) => Err(StorageError::UnknownTopic(e.to_string())),
                (Ok(_), None) => Err(StorageError::InvalidBatch(
                    logsync_storage::CorruptKind::BadRecord("no records"),
                )),
                (Ok(_), Some(records)) => append(broker, &name, part.index, records).await,
            };
            partitions.push(match result {
                Ok((base, start)) => response
                    .with_base_offset(base)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(start),
                Err(e) => {
                    if !matches!(e, StorageError::UnknownTopic(_) | StorageError::UnknownPartition { .. }) {
                        tracing::warn!(topic = %name, partition = part.index, error = %e, "produce failed");
                    }
                    let code = match &info {
                        Err(StorageError::InvalidTopic { .. }) => {
                            ResponseError::InvalidTopicException.code()
                        }
                        _ => error_code(&e),
                    };
                    response
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                        .with_error_message(message(&e))
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

async fn append(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    records: bytes::Bytes,
) -> Result<(i64, i64), StorageError> {
    let part = broker.partition(topic, index)?;
    let log = Arc::clone(&part.log);
    let appended = tokio::task::spawn_blocking(move || {
        let info = log.append(&records)?;
        Ok::<_, StorageError>((info.base_offset.0, log.log_start_offset().0))
    })
    .await
    .map_err(|e| StorageError::io("append", part.log.dir(), std::io::Error::other(e)))??;
    broker.notify_appended();
    let (base, start) = appended;
    Ok((base as i64, start as i64))
}
