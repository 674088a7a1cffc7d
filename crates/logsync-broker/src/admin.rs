//! Admin requests that Kafka's protocol has no message for, served on the
//! metrics endpoint: cleaning a compacted topic now (`logsync compact
//! --broker`) and applying retention now (`logsync topic retention --broker`).

use std::sync::Arc;

use logsync_storage::cleaner::render_topic_clean;
use logsync_storage::log::now_ms;
use logsync_storage::{Log, TopicInfo};

use crate::broker::Broker;

/// Why an admin request failed, with its HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No topic of that name.
    #[error("no such topic {0:?}")]
    UnknownTopic(String),
    /// The topic's `cleanup.policy` does not include `compact`.
    #[error("topic {topic} has cleanup.policy={policy}; compaction needs compact")]
    NotCompacted {
        /// The topic.
        topic: String,
        /// Its policy.
        policy: String,
    },
    /// The storage layer failed.
    #[error("{topic} partition {partition}: {source}")]
    Storage {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What failed.
        #[source]
        source: logsync_storage::Error,
    },
    /// The task ended without a result (it panicked).
    #[error("{topic} partition {partition}: the task stopped: {reason}")]
    Task {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What the runtime reported.
        reason: String,
    },
}

impl AdminError {
    /// The HTTP status line for the error.
    #[must_use]
    pub fn status(&self) -> &'static str {
        match self {
            AdminError::UnknownTopic(_) => "404 Not Found",
            AdminError::NotCompacted { .. } => "400 Bad Request",
            AdminError::Storage { .. } | AdminError::Task { .. } => "500 Internal Server Error",
        }
    }
}

/// Rolls each partition's active segment and runs the cleaner on it now (as
/// `logsync compact` does on a data dir), on the blocking pool; answers what
/// `logsync compact` prints (JSON with `json`).
///
/// # Errors
/// [`AdminError`].
pub async fn compact(broker: &Arc<Broker>, topic: &str, json: bool) -> Result<String, AdminError> {
    let info = topic_info(broker, topic)?;
    if !info.config.cleanup_policy.compacts() {
        return Err(AdminError::NotCompacted {
            topic: info.name.clone(),
            policy: info.config.cleanup_policy.name().to_owned(),
        });
    }
    let reports = each_partition(broker, &info, |log| {
        log.roll_active()?;
        log.clean_at(now_ms(), true)
    })
    .await?;
    Ok(render_topic_clean(&info.name, &reports, json))
}

/// Applies `retention.ms` / `retention.bytes` to each partition now (as
/// `logsync topic retention` does on a data dir); answers what it prints.
///
/// # Errors
/// [`AdminError`].
pub async fn retention(broker: &Arc<Broker>, topic: &str) -> Result<String, AdminError> {
    let info = topic_info(broker, topic)?;
    let reports = each_partition(broker, &info, Log::apply_retention).await?;
    let mut out = String::new();
    if !info.config.cleanup_policy.deletes() {
        out.push_str(&format!(
            "topic {} has cleanup.policy={}: retention deletes nothing\n",
            info.name,
            info.config.cleanup_policy.name()
        ));
    }
    for (p, r) in reports {
        out.push_str(&r.line(p));
        out.push('\n');
    }
    Ok(out)
}

fn topic_info(broker: &Broker, topic: &str) -> Result<TopicInfo, AdminError> {
    broker
        .topic(topic)
        .ok_or_else(|| AdminError::UnknownTopic(topic.to_owned()))
}

/// Runs `f` on each partition's log in turn, on the blocking pool.
async fn each_partition<T: Send + 'static>(
    broker: &Arc<Broker>,
    info: &TopicInfo,
    f: fn(&Log) -> logsync_storage::Result<T>,
) -> Result<Vec<(u32, T)>, AdminError> {
    let mut out = Vec::new();
    for p in 0..info.partitions {
        let storage = |source| AdminError::Storage {
            topic: info.name.clone(),
            partition: p,
            source,
        };
        let index = i32::try_from(p).unwrap_or(i32::MAX);
        let log = Arc::clone(&broker.partition(&info.name, index).map_err(storage)?.log);
        let done = tokio::task::spawn_blocking(move || f(&log))
            .await
            .map_err(|e| AdminError::Task {
                topic: info.name.clone(),
                partition: p,
                reason: e.to_string(),
            })?
            .map_err(storage)?;
        out.push((p, done));
    }
    Ok(out)
}
