//! `logsync serve --config FILE`: a TOML file with Kafka's key names for the
//! broker and for topic defaults. Dotted keys may be written plainly
//! (`log.retention.ms = 3600000` is a nested table in TOML; it is read back
//! as the key `log.retention.ms`) or quoted. An unknown key is an error
//! naming it; flags given on the command line override the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use logsync_broker::broker::BrokerConfig;

/// Flattens nested tables into dotted keys, values as their plain text.
fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out)?,
            toml::Value::String(s) => out.push((key, s.clone())),
            toml::Value::Integer(i) => out.push((key, i.to_string())),
            toml::Value::Float(f) => out.push((key, f.to_string())),
            toml::Value::Boolean(b) => out.push((key, b.to_string())),
            toml::Value::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => Ok(s.clone()),
                        other => bail!("{key}: list items must be strings, found {other:?}"),
                    })
                    .collect::<anyhow::Result<_>>()?;
                out.push((key, parts.join(",")));
            }
            toml::Value::Datetime(d) => bail!("{key}: a date ({d}) is not a valid value"),
        }
    }
    Ok(())
}

/// Reads FILE into `key = value` pairs.
pub fn read(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    let mut pairs = Vec::new();
    flatten("", &table, &mut pairs)?;
    Ok(pairs)
}

/// `PLAINTEXT://127.0.0.1:9092` or `127.0.0.1:9092` (the first, if a list).
fn address(key: &str, value: &str) -> anyhow::Result<SocketAddr> {
    let first = value.split(',').next().unwrap_or_default().trim();
    let bare = first.rsplit_once("://").map_or(first, |(_, a)| a);
    bare.parse()
        .with_context(|| format!("{key} = {value:?}: expected HOST:PORT with an IP address"))
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> anyhow::Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{key} = {value:?}: not a valid number"))
}

/// Broker keys that set a topic default, with the topic key they set.
const TOPIC_DEFAULTS: &[(&str, &str)] = &[
    ("log.segment.bytes", "segment.bytes"),
    ("log.roll.ms", "segment.ms"),
    ("log.index.size.max.bytes", "segment.index.bytes"),
    ("log.index.interval.bytes", "index.interval.bytes"),
    ("log.segment.zero.ahead.bytes", "segment.zero.ahead.bytes"),
    ("log.segment.preallocate.bytes", "segment.preallocate.bytes"),
    ("message.max.bytes", "max.message.bytes"),
    ("log.cleanup.policy", "cleanup.policy"),
    ("log.retention.ms", "retention.ms"),
    ("log.retention.bytes", "retention.bytes"),
    ("log.cleaner.delete.retention.ms", "delete.retention.ms"),
    (
        "log.cleaner.min.cleanable.ratio",
        "min.cleanable.dirty.ratio",
    ),
    ("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"),
    ("log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms"),
    (
        "log.cleaner.dedupe.buffer.size",
        "cleaner.dedupe.buffer.size",
    ),
    ("log.flush.policy", "flush.policy"),
    ("log.flush.interval.ms", "flush.ms"),
    ("log.compaction.strategy", "compaction.strategy"),
    ("log.max.decompressed.bytes", "max.decompressed.bytes"),
];

/// `true` or `false`.
fn boolean(key: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => bail!("{key} = {value:?}: expected true or false"),
    }
}

/// Applies the file's pairs to `config`; returns `log.dirs` if the file sets it.
pub fn apply(
    config: &mut BrokerConfig,
    pairs: &[(String, String)],
) -> anyhow::Result<Option<PathBuf>> {
    let mut data_dir = None;
    for (key, value) in pairs {
        match key.as_str() {
            "listeners" => config.listen = address(key, value)?,
            "advertised.listeners" => config.advertised = Some(address(key, value)?),
            "metrics.listener" => config.metrics = Some(address(key, value)?),
            "log.dirs" | "log.dir" => {
                let first = value.split(',').next().unwrap_or_default().trim();
                data_dir = Some(PathBuf::from(first));
            }
            "socket.request.max.bytes" => config.max_request_bytes = number(key, value)?,
            "max.connections" => config.max_connections = number(key, value)?,
            "auto.create.topics.enable" => config.auto_create_topics = boolean(key, value)?,
            "num.partitions" => {
                config.default_partitions = number(key, value)?;
                if config.default_partitions == 0 {
                    bail!("{key} must be at least 1");
                }
            }
            "node.id" | "broker.id" => config.node_id = number(key, value)?,
            "log.cleaner.backoff.ms" | "log.retention.check.interval.ms" => {
                config.maintenance_interval =
                    std::time::Duration::from_millis(number::<u64>(key, value)?.max(1));
            }
            "fetch.verify.crc" => config.fetch_verify_crc = boolean(key, value)?,
            other => match TOPIC_DEFAULTS.iter().find(|(k, _)| *k == other) {
                Some((_, topic_key)) => config
                    .topic_defaults
                    .set(topic_key, value)
                    .with_context(|| format!("{key} = {value:?}"))?,
                None => bail!(
                    "unknown config key {other:?} (known: listeners, advertised.listeners, metrics.listener, log.dirs, socket.request.max.bytes, max.connections, auto.create.topics.enable, num.partitions, node.id, log.cleaner.backoff.ms, fetch.verify.crc, {})",
                    TOPIC_DEFAULTS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        }
    }
    config.first_request_max_bytes = config.first_request_max_bytes.min(config.max_request_bytes);
    Ok(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<(BrokerConfig, Option<PathBuf>)> {
        let table: toml::Table = text.parse()?;
        let mut pairs = Vec::new();
        flatten("", &table, &mut pairs)?;
        let mut config = BrokerConfig::new("d");
        let dir = apply(&mut config, &pairs)?;
        Ok((config, dir))
    }

    #[test]
    fn kafka_keys_plain_or_quoted_set_broker_and_topic_defaults() {
        let (c, dir) = parse(
            r#"
listeners = "PLAINTEXT://127.0.0.1:19092"
"num.partitions" = 3
auto.create.topics.enable = false
log.dirs = "/var/lib/logsync"
log.retention.ms = 3600000
log.cleanup.policy = ["compact", "delete"]
message.max.bytes = 2000000
fetch.verify.crc = true
"#,
        )
        .expect("valid");
        assert_eq!(c.listen, "127.0.0.1:19092".parse().expect("addr"));
        assert_eq!(c.default_partitions, 3);
        assert!(!c.auto_create_topics);
        assert_eq!(dir, Some(PathBuf::from("/var/lib/logsync")));
        assert_eq!(c.topic_defaults.retention_ms, Some(3_600_000));
        assert!(c.topic_defaults.cleanup_policy.compacts());
        assert_eq!(c.topic_defaults.max_message_bytes, 2_000_000);
        assert!(c.fetch_verify_crc);
        assert!(
            !parse("").expect("empty").0.fetch_verify_crc,
            "off by default"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = parse("log.retention.hours = 5").expect_err("unknown");
        assert!(e.to_string().contains("log.retention.hours"), "{e}");
        let e = parse("num.partitions = \"many\"").expect_err("bad");
        assert!(e.to_string().contains("num.partitions"), "{e}");
        let e = parse("log.cleanup.policy = \"shred\"").expect_err("bad");
        assert!(format!("{e:#}").contains("cleanup.policy"), "{e:#}");
        assert!(parse("listeners = \"localhost\"").is_err());
        let e = parse("fetch.verify.crc = \"yes\"").expect_err("bad");
        assert!(e.to_string().contains("fetch.verify.crc"), "{e}");
    }
}
