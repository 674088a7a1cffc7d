//! CreateTopics and DeleteTopics.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::create_topics_request::CreateTopicsRequest;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicResult, CreateTopicsResponse,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use kafka_protocol::messages::delete_topics_response::{
    DeletableTopicResult, DeleteTopicsResponse,
};
use kafka_protocol::protocol::StrBytes;
use logsync_storage::Error as StorageError;

use super::{error_code, message};
use crate::broker::Broker;

/// Creates each topic (partitions -1 = `num.partitions`; replication factor
/// must be -1 or 1 on one node; configs by Kafka's names).
pub fn create_topics(broker: &Broker, req: &CreateTopicsRequest) -> CreateTopicsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            let fail = |code: i16, msg: String| {
                result
                    .clone()
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(msg)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
            };
            let partitions = match t.num_partitions {
                -1 => broker.config.default_partitions,
                n if n >= 1 => n.unsigned_abs(),
                n => {
                    return fail(
                        ResponseError::InvalidPartitions.code(),
                        format!("{n} partitions: need at least 1"),
                    );
                }
            };
            if !matches!(t.replication_factor, -1 | 1) {
                return fail(
                    ResponseError::InvalidReplicationFactor.code(),
                    format!(
                        "replication factor {} on a single broker: use 1",
                        t.replication_factor
                    ),
                );
            }
            let mut config = broker.config.topic_defaults.clone();
            for c in &t.configs {
                let value = c.value.as_deref().unwrap_or_default();
                if let Err(e) = config.set(&c.name, value) {
                    return fail(error_code(&e), e.to_string());
                }
            }
            let name = t.name.0.to_string();
            if req.validate_only {
                return match (
                    logsync_storage::manager::validate_topic_name(&name),
                    broker.topic(&name),
                ) {
                    (Err(e), _) => fail(error_code(&e), e.to_string()),
                    (Ok(()), Some(_)) => {
                        let e = StorageError::TopicExists(name);
                        fail(error_code(&e), e.to_string())
                    }
                    (Ok(()), None) => result
                        .with_num_partitions(partitions as i32)
                        .with_replication_factor(1),
                };
            }
            match broker.create_topic(&name, partitions, config) {
                Ok(info) => result
                    .with_num_partitions(info.partitions as i32)
                    .with_replication_factor(1),
                Err(e) => fail(error_code(&e), e.to_string()),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// Deletes each topic named (v0–5 by `topic_names`, v6+ by `topics`).
pub fn delete_topics(
    broker: &Broker,
    req: &DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let names: Vec<Option<TopicName>> = if version >= 6 {
        req.topics.iter().map(|t| t.name.clone()).collect()
    } else {
        req.topic_names.iter().cloned().map(Some).collect()
    };
    let responses = names
        .into_iter()
        .map(|name| {
            let result = DeletableTopicResult::default().with_name(name.clone());
            let Some(name) = name else {
                return result.with_error_code(ResponseError::UnknownTopicId.code());
            };
            if *name == *crate::groups::offsets::OFFSETS_TOPIC {
                return result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "__consumer_offsets is internal and cannot be deleted",
                    )));
            }
            match broker.delete_topic(&name) {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(error_code(&e))
                    .with_error_message(message(&e)),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
