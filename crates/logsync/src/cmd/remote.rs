//! `--broker HOST:PORT`: `produce` and `consume` through the Kafka protocol
//! against a running server (logsync's or any Kafka broker) instead of
//! opening the data directory.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use logsync_storage::Record;
use logsync_storage::batch::{BatchSpec, encode_batch, split_batches};

use crate::client::Client;

const METADATA_V: i16 = 7;
const PRODUCE_V: i16 = 7;
const FETCH_V: i16 = 11;
const LIST_OFFSETS_V: i16 = 5;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

fn error(code: i16) -> anyhow::Error {
    match ResponseError::try_from_code(code) {
        Some(e) => anyhow::anyhow!("{e} (Kafka error {code})"),
        None => anyhow::anyhow!("Kafka error {code}"),
    }
}

/// The topic's partition count (auto-created when the broker allows).
pub fn partitions(client: &mut Client, topic: &str, create: bool) -> anyhow::Result<u32> {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]))
        .with_allow_auto_topic_creation(create);
    let md = client.call(METADATA_V, &req)?;
    let t = md
        .topics
        .into_iter()
        .next()
        .context("the broker answered Metadata without the topic")?;
    if t.error_code != 0 {
        return Err(error(t.error_code).context(format!("topic {topic}")));
    }
    u32::try_from(t.partitions.len()).context("partition count")
}

/// Produces one batch per partition of `by_partition` with acks=all.
pub fn produce(
    client: &mut Client,
    topic: &str,
    by_partition: BTreeMap<u32, Vec<Record>>,
) -> anyhow::Result<u64> {
    let mut data = Vec::new();
    let mut count = 0;
    for (p, records) in by_partition {
        let mut batch = Vec::new();
        encode_batch(&mut batch, &BatchSpec::default(), &records)
            .map_err(|k| anyhow::anyhow!("encoding a batch: {k}"))?;
        count += records.len() as u64;
        data.push(
            PartitionProduceData::default()
                .with_index(p as i32)
                .with_records(Some(Bytes::from(batch))),
        );
    }
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(data),
        ]);
    let resp = client.call(PRODUCE_V, &req)?;
    for t in resp.responses {
        for p in t.partition_responses {
            if p.error_code != 0 {
                let msg = p.error_message.map(|m| m.to_string()).unwrap_or_default();
                return Err(error(p.error_code).context(format!("partition {}: {msg}", p.index)));
            }
        }
    }
    Ok(count)
}

/// An offset by ListOffsets: -2 earliest, -1 latest, else the first at or
/// after that time (the end if none).
pub fn list_offset(
    client: &mut Client,
    topic: &str,
    partition: u32,
    ts: i64,
) -> anyhow::Result<i64> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition as i32)
                        .with_timestamp(ts),
                ]),
        ]);
    let resp = client.call(LIST_OFFSETS_V, &req)?;
    let p = resp
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .next()
        .context("ListOffsets answered without the partition")?;
    if p.error_code != 0 {
        return Err(error(p.error_code).context(format!("partition {partition}")));
    }
    if p.offset < 0 && ts >= 0 {
        return list_offset(client, topic, partition, -1);
    }
    Ok(p.offset)
}

/// What one fetch returned: records at or after the offset asked for, the
/// offset to fetch next and the high watermark.
pub struct Fetched {
    /// Records, in offset order.
    pub records: Vec<Record>,
    /// Where the next fetch starts.
    pub next: i64,
    /// The partition's high watermark.
    pub high_watermark: i64,
}

/// One fetch of up to 1 MiB from `offset`, waiting up to `wait` for data.
pub fn fetch(
    client: &mut Client,
    topic: &str,
    partition: u32,
    offset: i64,
    wait: Duration,
) -> anyhow::Result<Fetched> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(i32::try_from(wait.as_millis()).unwrap_or(i32::MAX))
        .with_min_bytes(1)
        .with_max_bytes(16 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition as i32)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let resp = client.call(FETCH_V, &req)?;
    if resp.error_code != 0 {
        return Err(error(resp.error_code));
    }
    let p = resp
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .next()
        .context("Fetch answered without the partition")?;
    if p.error_code != 0 {
        return Err(
            error(p.error_code).context(format!("partition {partition} at offset {offset}"))
        );
    }
    let bytes = p.records.unwrap_or_default();
    let mut next = offset;
    let mut records = Vec::new();
    // A fetch may end in a partial batch: keep the whole ones.
    let batches = split_batches(&bytes).map_err(|k| anyhow::anyhow!("fetched batch: {k}"))?;
    for batch in batches {
        let h = batch.header();
        next = next.max(h.base_offset + i64::from(h.last_offset_delta) + 1);
        if h.attributes.is_control() {
            continue;
        }
        for r in batch
            .records(64 << 20)
            .map_err(|k| anyhow::anyhow!("fetched batch: {k}"))?
        {
            let r = r.map_err(|k| anyhow::anyhow!("fetched record: {k}"))?;
            if r.offset.0 as i64 >= offset {
                records.push(r);
            }
        }
    }
    if records.is_empty() && bytes.is_empty() && offset > p.high_watermark && p.high_watermark >= 0
    {
        bail!("offset {offset} is past the end ({})", p.high_watermark);
    }
    Ok(Fetched {
        records,
        next,
        high_watermark: p.high_watermark,
    })
}

/// CreateTopics with one replica and `key=value` configs.
pub fn create_topic(
    client: &mut Client,
    topic: &str,
    partitions: u32,
    configs: &[(String, String)],
) -> anyhow::Result<()> {
    use kafka_protocol::messages::create_topics_request::{
        CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
    };
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(i32::try_from(partitions).context("partitions")?)
                .with_replication_factor(1)
                .with_configs(configs),
        ]);
    let resp = client.call(5, &req)?;
    for t in resp.topics {
        if t.error_code != 0 {
            let msg = t.error_message.map(|m| m.to_string()).unwrap_or_default();
            return Err(error(t.error_code).context(format!("topic {topic}: {msg}")));
        }
    }
    Ok(())
}

/// Every topic with its partition count, by name.
pub fn list_topics(client: &mut Client) -> anyhow::Result<Vec<(String, usize)>> {
    let md = client.call(METADATA_V, &MetadataRequest::default().with_topics(None))?;
    let mut topics: Vec<(String, usize)> = md
        .topics
        .into_iter()
        .filter_map(|t| t.name.map(|n| (n.0.to_string(), t.partitions.len())))
        .collect();
    topics.sort();
    Ok(topics)
}

/// DeleteTopics.
pub fn delete_topic(client: &mut Client, topic: &str) -> anyhow::Result<()> {
    use kafka_protocol::messages::delete_topics_request::DeleteTopicsRequest;
    let req = DeleteTopicsRequest::default()
        .with_topic_names(vec![name(topic)])
        .with_timeout_ms(30_000);
    let resp = client.call(4, &req)?;
    for r in resp.responses {
        if r.error_code != 0 {
            return Err(error(r.error_code).context(format!("topic {topic}")));
        }
    }
    Ok(())
}

/// Kafka's resource type for a topic in the config APIs.
const TOPIC_RESOURCE: i8 = 2;

/// One topic config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Kafka's key name, e.g. `cleanup.policy`.
    pub name: String,
    /// The value (`None` for a sensitive or unset value).
    pub value: Option<String>,
    /// True when the value is the default rather than set on the topic.
    pub is_default: bool,
}

/// DescribeConfigs of one topic: every config the broker reports, by name.
pub fn describe_configs(client: &mut Client, topic: &str) -> anyhow::Result<Vec<ConfigEntry>> {
    use kafka_protocol::messages::describe_configs_request::{
        DescribeConfigsRequest, DescribeConfigsResource,
    };
    let req = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configuration_keys(None),
    ]);
    let resp = client.call(1, &req)?;
    let result = resp
        .results
        .into_iter()
        .next()
        .context("the broker answered DescribeConfigs without the topic")?;
    if result.error_code != 0 {
        let msg = result
            .error_message
            .map(|m| m.to_string())
            .unwrap_or_default();
        return Err(error(result.error_code).context(format!("topic {topic}: {msg}")));
    }
    // config_source 5 = DEFAULT_CONFIG (v1+); 1 = DYNAMIC_TOPIC_CONFIG.
    let mut entries: Vec<ConfigEntry> = result
        .configs
        .into_iter()
        .map(|c| ConfigEntry {
            name: c.name.to_string(),
            value: c.value.map(|v| v.to_string()),
            is_default: c.config_source == 5,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// IncrementalAlterConfigs: sets each `key=value` on the topic (the others stay).
pub fn alter_configs(
    client: &mut Client,
    topic: &str,
    configs: &[(String, String)],
) -> anyhow::Result<()> {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
    };
    const SET: i8 = 0;
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_config_operation(SET)
                            .with_value(Some(StrBytes::from_string(v.clone())))
                    })
                    .collect(),
            ),
    ]);
    let resp = client.call(0, &req)?;
    for r in resp.responses {
        if r.error_code != 0 {
            let msg = r.error_message.map(|m| m.to_string()).unwrap_or_default();
            return Err(error(r.error_code).context(format!("topic {topic}: {msg}")));
        }
    }
    Ok(())
}

/// The broker's admin endpoint (`logsync.admin.listener` in DescribeConfigs
/// of the broker resource), or `None` when it has none (a Kafka broker, or
/// `logsync serve` without `--metrics`).
pub fn admin_listener(client: &mut Client) -> anyhow::Result<Option<String>> {
    use kafka_protocol::messages::describe_configs_request::{
        DescribeConfigsRequest, DescribeConfigsResource,
    };
    const BROKER_RESOURCE: i8 = 4;
    const KEY: &str = "logsync.admin.listener";
    let md = client.call(
        METADATA_V,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    )?;
    let node = md
        .brokers
        .first()
        .map(|b| b.node_id.0)
        .context("the broker listed no brokers in Metadata")?;
    let req = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(BROKER_RESOURCE)
            .with_resource_name(StrBytes::from_string(node.to_string()))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str(KEY)])),
    ]);
    let resp = client.call(1, &req)?;
    Ok(resp
        .results
        .into_iter()
        .filter(|r| r.error_code == 0)
        .flat_map(|r| r.configs)
        .find(|c| &*c.name == KEY)
        .and_then(|c| c.value.map(|v| v.to_string())))
}

/// `POST /v1/topics/{topic}/{action}` (`compact` or `retention`) on a
/// `logsync serve` admin endpoint; returns the body (what the embedded
/// command prints).
pub fn admin_post(admin: &str, topic: &str, action: &str, json: bool) -> anyhow::Result<String> {
    use std::io::{Read as _, Write as _};
    logsync_storage::manager::validate_topic_name(topic)?;
    let mut stream = std::net::TcpStream::connect(admin)
        .with_context(|| format!("connecting to the admin endpoint {admin}"))?;
    let query = if json { "?format=json" } else { "" };
    write!(
        stream,
        "POST /v1/topics/{topic}/{action}{query} HTTP/1.1\r\nHost: {admin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .with_context(|| format!("sending to {admin}"))?;
    let mut response = Vec::new();
    // The clean may take a while; the server closes the connection after answering.
    stream
        .take(64 << 20)
        .read_to_end(&mut response)
        .with_context(|| format!("reading from {admin}"))?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .with_context(|| format!("{admin} answered without an HTTP head"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!(
            "{admin}: {}",
            body.lines()
                .next()
                .filter(|l| !l.is_empty())
                .unwrap_or(status)
        );
    }
    Ok(body.to_owned())
}
