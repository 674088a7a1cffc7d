//! `logsync topic create|list|describe|alter|delete`, embedded on the data dir.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use logsync_storage::{LogConfig, LogManager};

use crate::Outcome;
use crate::cli::{TopicAction, TopicArgs};
use logsync_ingest::json;

/// Splits `key=value`.
fn parse_pair(s: &str) -> anyhow::Result<(&str, &str)> {
    s.split_once('=')
        .map(|(k, v)| (k.trim(), v.trim()))
        .with_context(|| format!("invalid --config {s:?}: expected key=value"))
}

pub fn run(data_dir: &Path, args: TopicArgs) -> anyhow::Result<Outcome> {
    if let Some(addr) = &args.broker {
        return remote(addr, args.action);
    }
    let manager = LogManager::new(data_dir);
    match args.action {
        TopicAction::Create {
            topic,
            partitions,
            configs,
        } => {
            let mut config = LogConfig::default();
            for c in &configs {
                let (k, v) = parse_pair(c)?;
                config.set(k, v)?;
            }
            let info = manager.create_topic(&topic, partitions, config)?;
            println!(
                "created topic {} with {} partition(s)",
                info.name, info.partitions
            );
        }
        TopicAction::List => {
            for t in manager.topics()? {
                println!("{}\t{} partition(s)", t.name, t.partitions);
            }
        }
        TopicAction::Alter { topic, configs } => {
            let pairs = configs
                .iter()
                .map(|c| parse_pair(c))
                .collect::<anyhow::Result<Vec<_>>>()?;
            // All or nothing: check every pair on a copy before storing any.
            let mut config = manager.topic(&topic)?.config;
            for (k, v) in &pairs {
                config.set(k, v)?;
            }
            for (k, v) in &pairs {
                manager.set_config(&topic, k, v)?;
            }
            println!("altered topic {topic} (open partitions see it when next opened)");
        }
        TopicAction::Delete { topic } => {
            manager.delete_topic(&topic)?;
            println!("deleted topic {topic}");
        }
        TopicAction::Describe { topic, json } => describe(&manager, &topic, json)?,
        TopicAction::Retention { topic } => {
            let info = manager.topic(&topic)?;
            if !info.config.cleanup_policy.deletes() {
                println!(
                    "topic {topic} has cleanup.policy={}: retention deletes nothing",
                    info.config.cleanup_policy.name()
                );
            }
            for p in 0..info.partitions {
                let log = manager.open_partition(&topic, p)?;
                let r = log.apply_retention()?;
                log.close()?;
                println!("{}", r.line(p));
            }
        }
    }
    Ok(Outcome::Done)
}

fn describe(manager: &LogManager, topic: &str, as_json: bool) -> anyhow::Result<()> {
    let info = manager.topic(topic)?;
    let mut partitions = Vec::new();
    for p in 0..info.partitions {
        let log = manager.open_partition(topic, p)?;
        let stats = log.stats()?;
        log.close()?;
        partitions.push(stats);
    }
    let pairs = info.config.to_pairs();
    let free = free_bytes(manager.data_dir());
    let free_json = free.map_or_else(|| "null".to_owned(), |b| b.to_string());
    let free_text = free.map_or_else(|| "unknown".to_owned(), |b| format!("{b} B"));
    let mut out = String::new();
    if as_json {
        let config: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}:{}", json::string(k), json::string(v)))
            .collect();
        let parts: Vec<String> = partitions
            .iter()
            .enumerate()
            .map(|(p, s)| {
                let segs: Vec<String> = s
                    .segments
                    .iter()
                    .map(|g| {
                        format!(
                            "{{\"base_offset\":{},\"next_offset\":{},\"size_bytes\":{},\"max_timestamp\":{}}}",
                            g.base_offset,
                            g.next_offset,
                            g.size,
                            if g.max_timestamp == i64::MIN { "null".to_owned() } else { g.max_timestamp.to_string() }
                        )
                    })
                    .collect();
                format!(
                    "{{\"partition\":{p},\"log_start_offset\":{},\"log_end_offset\":{},\"size_bytes\":{},\"cleaner_checkpoint\":{},\"dirty_ratio\":{:.4},\"segments\":[{}]}}",
                    s.log_start_offset,
                    s.log_end_offset,
                    s.size_bytes,
                    s.cleaner_checkpoint,
                    s.dirty_ratio,
                    segs.join(",")
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{{\"topic\":{},\"partitions\":[{}],\"config\":{{{}}},\"free_bytes\":{free_json}}}",
            json::string(&info.name),
            parts.join(","),
            config.join(",")
        );
    } else {
        let _ = writeln!(
            out,
            "Topic: {}\tPartitions: {}\tFreeSpace: {free_text}",
            info.name, info.partitions
        );
        let config: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "Config: {}", config.join(" "));
        for (p, s) in partitions.iter().enumerate() {
            let _ = writeln!(
                out,
                "Partition: {p}\tLogStartOffset: {}\tLogEndOffset: {}\tSize: {} B\tSegments: {}\tCleanedUpTo: {}\tDirtyRatio: {:.2}",
                s.log_start_offset,
                s.log_end_offset,
                s.size_bytes,
                s.segments.len(),
                s.cleaner_checkpoint,
                s.dirty_ratio
            );
            for g in &s.segments {
                let ts = if g.max_timestamp == i64::MIN {
                    "-".to_owned()
                } else {
                    g.max_timestamp.to_string()
                };
                let _ = writeln!(
                    out,
                    "  Segment: {:020}\tNextOffset: {}\tSize: {} B\tMaxTimestamp: {ts}",
                    g.base_offset, g.next_offset, g.size
                );
            }
        }
    }
    print!("{out}");
    Ok(())
}

/// Bytes available to this user on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// `--broker`: the topic actions a Kafka broker offers.
fn remote(addr: &str, action: TopicAction) -> anyhow::Result<Outcome> {
    let mut client = crate::client::Client::connect(addr)?;
    match action {
        TopicAction::Create {
            topic,
            partitions,
            configs,
        } => {
            let pairs = configs
                .iter()
                .map(|c| parse_pair(c).map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<anyhow::Result<Vec<_>>>()?;
            super::remote::create_topic(&mut client, &topic, partitions, &pairs)?;
            println!("created topic {topic} with {partitions} partition(s)");
        }
        TopicAction::List => {
            for (name, partitions) in super::remote::list_topics(&mut client)? {
                println!("{name}\t{partitions} partition(s)");
            }
        }
        TopicAction::Delete { topic } => {
            super::remote::delete_topic(&mut client, &topic)?;
            println!("deleted topic {topic}");
        }
        TopicAction::Describe { topic, json } => {
            let partitions = super::remote::partitions(&mut client, &topic, false)?;
            let configs = super::remote::describe_configs(&mut client, &topic)?;
            let mut offsets = Vec::new();
            for p in 0..partitions {
                let start = super::remote::list_offset(&mut client, &topic, p, -2)?;
                let end = super::remote::list_offset(&mut client, &topic, p, -1)?;
                offsets.push((start, end));
            }
            print!("{}", describe_remote(&topic, &offsets, &configs, json));
        }
        TopicAction::Alter { topic, configs } => {
            let pairs = configs
                .iter()
                .map(|c| parse_pair(c).map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<anyhow::Result<Vec<_>>>()?;
            super::remote::alter_configs(&mut client, &topic, &pairs)?;
            println!("altered topic {topic}");
        }
        TopicAction::Retention { topic } => {
            // Kafka's protocol has no request for it: the server's admin endpoint does it.
            let admin = super::remote::admin_listener(&mut client)?.with_context(|| {
                format!(
                    "the broker at {addr} has no admin endpoint: Kafka's protocol has no request to apply retention now, so this needs logsync serve started with --metrics HOST:PORT (a Kafka broker applies retention on its own schedule)"
                )
            })?;
            print!(
                "{}",
                super::remote::admin_post(&admin, &topic, "retention", false)?
            );
        }
    }
    Ok(Outcome::Done)
}

/// `topic describe --broker`: partitions with their offsets, then the topic's
/// configs (those set on the topic as text; all, defaults included, as JSON).
fn describe_remote(
    topic: &str,
    offsets: &[(i64, i64)],
    configs: &[super::remote::ConfigEntry],
    as_json: bool,
) -> String {
    let mut out = String::new();
    if as_json {
        let parts: Vec<String> = offsets
            .iter()
            .enumerate()
            .map(|(p, (start, end))| {
                format!(
                    "{{\"partition\":{p},\"log_start_offset\":{start},\"log_end_offset\":{end}}}"
                )
            })
            .collect();
        let config: Vec<String> = configs
            .iter()
            .map(|c| {
                let value = c
                    .value
                    .as_deref()
                    .map_or_else(|| "null".to_owned(), json::string);
                format!("{}:{value}", json::string(&c.name))
            })
            .collect();
        let _ = writeln!(
            out,
            "{{\"topic\":{},\"partitions\":[{}],\"config\":{{{}}}}}",
            json::string(topic),
            parts.join(","),
            config.join(",")
        );
    } else {
        let _ = writeln!(out, "Topic: {topic}\tPartitions: {}", offsets.len());
        let set: Vec<String> = configs
            .iter()
            .filter(|c| !c.is_default)
            .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("")))
            .collect();
        let _ = writeln!(out, "Config: {}", set.join(" "));
        for (p, (start, end)) in offsets.iter().enumerate() {
            let _ = writeln!(
                out,
                "Partition: {p}\tLogStartOffset: {start}\tLogEndOffset: {end}"
            );
        }
    }
    out
}
