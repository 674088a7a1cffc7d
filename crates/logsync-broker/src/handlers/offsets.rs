//! ListOffsets: earliest (-2), latest (-1), or the first offset at or after
//! a timestamp (from the time index).

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_request::ListOffsetsRequest;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use logsync_storage::{Error as StorageError, TimestampMs};

use super::error_code;
use crate::broker::Broker;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// Answers every partition asked for.
pub async fn list_offsets(broker: &Arc<Broker>, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let broker = Arc::clone(broker);
    // Time lookups read index and log files: off the async threads.
    super::response_on_pool("ListOffsets", move || answer(&broker, req)).await
}

fn answer(broker: &Broker, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_leader_epoch(-1);
                    match lookup(broker, &name, p.partition_index, p.timestamp) {
                        Ok((offset, timestamp)) => {
                            response.with_offset(offset).with_timestamp(timestamp)
                        }
                        Err(e) => response
                            .with_error_code(error_code(&e))
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    broker: &Broker,
    topic: &str,
    index: i32,
    timestamp: i64,
) -> Result<(i64, i64), StorageError> {
    let log = &broker.partition(topic, index)?.log;
    Ok(match timestamp {
        LATEST => (log.log_end_offset().0 as i64, -1),
        EARLIEST => (log.log_start_offset().0 as i64, -1),
        ts => match log.offset_for_timestamp(TimestampMs(ts))? {
            Some(o) => (o.0 as i64, ts),
            // No record that new: Kafka answers -1.
            None => (-1, -1),
        },
    })
}

/// DeleteRecords: moves each partition's log start offset up to the offset
/// given (-1: the high watermark), deleting whole segments below it.
pub async fn delete_records(
    broker: &Arc<Broker>,
    req: kafka_protocol::messages::delete_records_request::DeleteRecordsRequest,
) -> kafka_protocol::messages::delete_records_response::DeleteRecordsResponse {
    use kafka_protocol::messages::delete_records_response::{
        DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
    };
    let broker = Arc::clone(broker);
    super::response_on_pool("DeleteRecords", move || {
        let topics = req
            .topics
            .into_iter()
            .map(|topic| {
                let name = topic.name.0.to_string();
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let result = DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index);
                        match truncate(&broker, &name, p.partition_index, p.offset) {
                            Ok(low) => result.with_low_watermark(low),
                            Err(e) => result
                                .with_error_code(error_code(&e))
                                .with_low_watermark(-1),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(topic.name)
                    .with_partitions(partitions)
            })
            .collect();
        DeleteRecordsResponse::default().with_topics(topics)
    })
    .await
}

fn truncate(broker: &Broker, topic: &str, index: i32, offset: i64) -> Result<i64, StorageError> {
    let log = &broker.partition(topic, index)?.log;
    let hw = log.high_watermark();
    let target = match offset {
        -1 => hw,
        o if o >= 0 && o.unsigned_abs() <= hw.0 => logsync_storage::Offset(o.unsigned_abs()),
        _ => {
            return Err(StorageError::OffsetOutOfRange {
                requested: logsync_storage::Offset(offset.max(0).unsigned_abs()),
                log_start: log.log_start_offset(),
                log_end: hw,
            });
        }
    };
    Ok(log.truncate_prefix(target)?.0 as i64)
}
