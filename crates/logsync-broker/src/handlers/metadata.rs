//! ApiVersions and Metadata.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::metadata_request::MetadataRequest;
use kafka_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use logsync_storage::TopicInfo;

use super::{HANDLED, error_code};
use crate::broker::Broker;
use crate::versions;

/// The handled APIs with the versions the codec supports.
///
/// Produce is listed from v0 although v0–2 are refused (the connection is
/// closed, as for any unsupported version): librdkafka 2.0.2 (Debian's kcat)
/// compresses with gzip, snappy or lz4 only when the broker lists Produce
/// v0, and otherwise sends such batches uncompressed. Kafka 4 does the same
/// (KAFKA-18659). A client always picks the highest common version, v3+.
pub fn api_versions() -> ApiVersionsResponse {
    let mut response = versions::api_versions_response();
    response
        .api_keys
        .retain(|k| HANDLED.iter().any(|h| *h as i16 == k.api_key));
    for k in &mut response.api_keys {
        if k.api_key == ApiKey::Produce as i16 {
            k.min_version = 0;
        }
    }
    response
}

fn topic_entry(broker: &Broker, info: &TopicInfo) -> MetadataResponseTopic {
    let me = BrokerId(broker.config.node_id);
    let partitions = (0..info.partitions)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p as i32)
                .with_leader_id(me)
                // No replication yet: clients skip epoch validation on -1.
                .with_leader_epoch(-1)
                .with_replica_nodes(vec![me])
                .with_isr_nodes(vec![me])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(info.name.clone()))))
        .with_is_internal(info.name.starts_with("__"))
        .with_partitions(partitions)
}

/// Brokers (this one) and the topics asked for (all when the list is null),
/// auto-creating unknown ones when the request and the broker allow it.
pub fn metadata(broker: &Broker, req: &MetadataRequest) -> MetadataResponse {
    let me = BrokerId(broker.config.node_id);
    let host = broker.advertised.ip().to_string();
    let topics = match &req.topics {
        None => broker
            .topics()
            .iter()
            .map(|t| topic_entry(broker, t))
            .collect(),
        Some(asked) => asked
            .iter()
            .map(|t| {
                let Some(name) = t.name.as_ref() else {
                    // By topic id: we serve no stable ids yet.
                    return MetadataResponseTopic::default()
                        .with_topic_id(t.topic_id)
                        .with_error_code(ResponseError::UnknownTopicId.code());
                };
                match broker.topic_or_create(name, req.allow_auto_topic_creation) {
                    Ok(info) => topic_entry(broker, &info),
                    Err(e) => MetadataResponseTopic::default()
                        .with_name(Some(name.clone()))
                        .with_error_code(error_code(&e)),
                }
            })
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(me)
                .with_host(StrBytes::from_string(host))
                .with_port(i32::from(broker.advertised.port())),
        ])
        .with_cluster_id(Some(StrBytes::from_static_str("logsync")))
        .with_controller_id(me)
        .with_topics(topics)
}
