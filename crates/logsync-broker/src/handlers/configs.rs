//! DescribeConfigs and IncrementalAlterConfigs for topics (resource type 2),
//! with Kafka's key names (`cleanup.policy`, `retention.ms`,
//! `compaction.strategy`, ...). Broker resources (type 4) are described with
//! `logsync.admin.listener` only and cannot be altered.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use kafka_protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use logsync_storage::LogConfig;

use super::{error_code, message};
use crate::broker::Broker;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// `config_source` values.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
/// `config_operation` values.
const SET: i8 = 0;
const DELETE: i8 = 1;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Describes topics' configs (all keys, or those asked for).
pub fn describe_configs(broker: &Broker, req: &DescribeConfigsRequest) -> DescribeConfigsResponse {
    let defaults = broker.config.topic_defaults.to_pairs();
    let results = req
        .resources
        .iter()
        .map(|r| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match r.resource_type {
                BROKER => return result.with_configs(broker_configs(broker, r)),
                TOPIC => {}
                _ => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(text("only topic and broker resources")));
                }
            }
            let Some(info) = broker.topic(&r.resource_name) else {
                return result
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_error_message(Some(text("no such topic")));
            };
            let configs = info
                .config
                .to_pairs()
                .into_iter()
                .filter(|(k, _)| {
                    r.configuration_keys
                        .as_ref()
                        .is_none_or(|keys| keys.iter().any(|x| &**x == *k))
                })
                .map(|(k, v)| {
                    let default = defaults.iter().any(|(dk, dv)| dk == &k && dv == &v);
                    DescribeConfigsResourceResult::default()
                        .with_name(text(k))
                        .with_value(Some(StrBytes::from_string(v)))
                        .with_config_source(if default {
                            DEFAULT_CONFIG
                        } else {
                            DYNAMIC_TOPIC_CONFIG
                        })
                })
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// The broker's own settings that clients may ask for: today only
/// `logsync.admin.listener`, the address of the metrics and admin endpoint
/// (where `logsync compact --broker` asks for a clean), when it listens.
fn broker_configs(
    broker: &Broker,
    r: &DescribeConfigsResource,
) -> Vec<DescribeConfigsResourceResult> {
    const ADMIN_LISTENER: &str = "logsync.admin.listener";
    let wanted = r
        .configuration_keys
        .as_ref()
        .is_none_or(|keys| keys.iter().any(|k| &**k == ADMIN_LISTENER));
    match broker.admin_addr.get() {
        Some(addr) if wanted => vec![
            DescribeConfigsResourceResult::default()
                .with_name(text(ADMIN_LISTENER))
                .with_value(Some(StrBytes::from_string(addr.to_string())))
                .with_read_only(true)
                .with_config_source(STATIC_BROKER_CONFIG),
        ],
        _ => Vec::new(),
    }
}

/// Sets (`SET`) or resets to the broker default (`DELETE`) topic configs;
/// all of a resource's changes apply together or not at all.
pub fn incremental_alter_configs(
    broker: &Broker,
    req: &IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let defaults = broker.config.topic_defaults.to_pairs();
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let fail = |code: i16, msg: String| {
                response
                    .clone()
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(msg)))
            };
            if r.resource_type != TOPIC {
                return fail(
                    ResponseError::InvalidRequest.code(),
                    "only topic configs can be altered".to_owned(),
                );
            }
            let Some(info) = broker.topic(&r.resource_name) else {
                return fail(
                    ResponseError::UnknownTopicOrPartition.code(),
                    "no such topic".to_owned(),
                );
            };
            let mut changes: Vec<(String, String)> = Vec::new();
            for c in &r.configs {
                let value = match c.config_operation {
                    SET => c.value.as_deref().unwrap_or_default().to_owned(),
                    DELETE => match defaults.iter().find(|(k, _)| *k == &*c.name) {
                        Some((_, v)) => v.clone(),
                        None => {
                            return fail(
                                ResponseError::InvalidConfig.code(),
                                format!("unknown config {}", &*c.name),
                            );
                        }
                    },
                    op => {
                        return fail(
                            ResponseError::InvalidRequest.code(),
                            format!(
                                "config operation {op} (APPEND/SUBTRACT) is not supported; use SET"
                            ),
                        );
                    }
                };
                changes.push((c.name.to_string(), value));
            }
            let mut next: LogConfig = info.config.clone();
            for (k, v) in &changes {
                if let Err(e) = next.set(k, v) {
                    return fail(error_code(&e), e.to_string());
                }
            }
            if req.validate_only {
                return response;
            }
            match broker.alter_topic_config(&info.name, &changes) {
                Ok(()) => response,
                Err(e) => response
                    .with_error_code(error_code(&e))
                    .with_error_message(message(&e)),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
