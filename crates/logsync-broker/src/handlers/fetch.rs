//! Fetch: stored batches served as they lie, with `min_bytes` / `max_wait_ms`
//! long polling, `max_bytes` and per-partition limits. No fetch sessions:
//! the response's session id 0 tells the client to send full requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::FetchRequest;
use kafka_protocol::messages::fetch_response::{
    FetchResponse, FetchableTopicResponse, PartitionData,
};
use logsync_storage::{Error as StorageError, Offset};

use super::error_code;
use crate::broker::Broker;

/// Longest wait a client may ask for (a bound on held connections' state).
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Serves the fetch, waiting up to `max_wait_ms` for `min_bytes`.
pub async fn fetch(broker: &Arc<Broker>, req: FetchRequest) -> FetchResponse {
    let wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0)).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let req = Arc::new(req);
    let mut appended = broker.watch_appends();
    loop {
        // Mark what was seen before reading, so an append during the read
        // wakes the wait below.
        appended.borrow_and_update();
        let (response, bytes, any_error) = {
            let broker = Arc::clone(broker);
            let req = Arc::clone(&req);
            super::response_on_pool("Fetch", move || read_all(&broker, &req)).await
        };
        let now = Instant::now();
        if bytes >= min_bytes.max(1) || any_error || now >= deadline {
            return response;
        }
        // Wait for an append anywhere, or the deadline.
        if tokio::time::timeout(deadline - now, appended.changed())
            .await
            .is_err()
        {
            continue; // one last read at the deadline
        }
    }
}

/// One pass over the requested partitions: the response, the record bytes
/// in it, and whether any partition answered with an error.
fn read_all(broker: &Broker, req: &FetchRequest) -> (FetchResponse, usize, bool) {
    let mut budget = usize::try_from(req.max_bytes).unwrap_or(0).max(1);
    let mut total = 0usize;
    let mut any_error = false;
    let topics = req
        .topics
        .iter()
        .map(|topic| {
            let name = topic.topic.0.to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let data = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_last_stable_offset(-1)
                        .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1));
                    // Kafka returns at least one batch for the first
                    // partition with data even past max_bytes; later ones
                    // get what is left.
                    let limit = usize::try_from(p.partition_max_bytes)
                        .unwrap_or(0)
                        .min(if total == 0 { usize::MAX } else { budget });
                    match read_one(broker, &name, p.partition, p.fetch_offset, limit.max(1)) {
                        Ok(read) => {
                            let len = read.records.len();
                            total += len;
                            budget = budget.saturating_sub(len);
                            data.with_high_watermark(read.high_watermark)
                                .with_last_stable_offset(read.high_watermark)
                                .with_log_start_offset(read.log_start)
                                .with_records(Some(read.records))
                        }
                        Err((e, hw, start)) => {
                            any_error = true;
                            data.with_error_code(e)
                                .with_high_watermark(hw)
                                .with_log_start_offset(start)
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(topics),
        total,
        any_error,
    )
}

struct Read {
    records: Bytes,
    high_watermark: i64,
    log_start: i64,
}

fn read_one(
    broker: &Broker,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: usize,
) -> Result<Read, (i16, i64, i64)> {
    let part = broker
        .partition(topic, partition)
        .map_err(|e| (error_code(&e), -1, -1))?;
    let log = &part.log;
    // Only durable records are served (see `Log::high_watermark`).
    let hw = log.high_watermark().0;
    let start = log.log_start_offset().0 as i64;
    let Ok(offset) = u64::try_from(offset) else {
        return Err((ResponseError::OffsetOutOfRange.code(), hw as i64, start));
    };
    if offset >= hw && offset <= log.log_end_offset().0 {
        return Ok(Read {
            records: Bytes::new(),
            high_watermark: hw as i64,
            log_start: start,
        });
    }
    let read = if broker.config.fetch_verify_crc {
        log.read(Offset(offset), max_bytes)
    } else {
        log.read_unverified(Offset(offset), max_bytes)
    };
    match read {
        Ok(r) => Ok(Read {
            records: below(r.bytes, hw),
            high_watermark: hw as i64,
            log_start: r.log_start_offset.0 as i64,
        }),
        Err(e @ StorageError::OffsetOutOfRange { .. }) => Err((error_code(&e), hw as i64, start)),
        Err(e) => {
            tracing::error!(topic, partition, offset, error = %e, "fetch read failed");
            Err((error_code(&e), hw as i64, start))
        }
    }
}

/// The whole batches of `bytes` that end below `hw`.
fn below(bytes: Bytes, hw: u64) -> Bytes {
    let mut keep = 0usize;
    while let Some(rest) = bytes.get(keep..).filter(|r| !r.is_empty()) {
        match logsync_storage::batch::parse_header_complete(rest) {
            Ok(h) if h.last_offset() < hw => keep += h.total_size() as usize,
            _ => break,
        }
    }
    bytes.slice(..keep)
}

#[cfg(test)]
mod tests {
    use logsync_storage::batch::{BatchSpec, encode_batch};
    use logsync_storage::{Record, TimestampMs};

    use super::*;

    #[test]
    fn only_batches_below_the_high_watermark_are_served() {
        let mut bytes = Vec::new();
        for base in [0u64, 2, 4] {
            let spec = BatchSpec {
                base_offset: base,
                ..BatchSpec::default()
            };
            let records = [
                Record::new(None, b"a", TimestampMs(1)),
                Record::new(None, b"b", TimestampMs(1)),
            ];
            encode_batch(&mut bytes, &spec, &records).expect("encode");
        }
        let all = Bytes::from(bytes);
        let one = all.len() / 3;
        assert_eq!(below(all.clone(), 6).len(), all.len());
        assert_eq!(
            below(all.clone(), 5).len(),
            2 * one,
            "the batch 4..=5 is not durable"
        );
        assert_eq!(below(all.clone(), 4).len(), 2 * one);
        assert_eq!(below(all.clone(), 1).len(), 0);
        assert_eq!(below(all, 0).len(), 0);
    }
}
