//! `logsync compact TOPIC`: runs the cleaner now and reports what it did.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use logsync_storage::LogManager;
use logsync_storage::cleaner::render_topic_clean;
use logsync_storage::log::now_ms;

use crate::Outcome;
use crate::cli::CompactArgs;

/// Cleans below this many bytes finish too fast for a bar to help.
const BAR_FROM_BYTES: u64 = 64 << 20;

pub fn run(data_dir: &Path, args: &CompactArgs) -> anyhow::Result<Outcome> {
    if args.broker.is_some() || args.admin.is_some() {
        if args.partition.is_some() {
            anyhow::bail!(
                "--partition works on a data dir only; a server compacts every partition"
            );
        }
        let admin = if let Some(admin) = &args.admin {
            admin.clone()
        } else {
            let broker = args.broker.as_deref().unwrap_or_default();
            let mut client = crate::client::Client::connect(broker)?;
            super::remote::admin_listener(&mut client)?.with_context(|| {
                format!(
                    "the broker at {broker} has no admin endpoint: Kafka's protocol has no request to compact a topic, so this needs logsync serve started with --metrics HOST:PORT (a Kafka broker compacts on its own schedule)"
                )
            })?
        };
        print!(
            "{}",
            super::remote::admin_post(&admin, &args.topic, "compact", args.json)?
        );
        return Ok(Outcome::Done);
    }
    let manager = LogManager::new(data_dir);
    let info = manager.topic(&args.topic)?;
    if !info.config.cleanup_policy.compacts() {
        anyhow::bail!(
            "topic {} has cleanup.policy={}; compaction needs compact (logsync topic alter {} --config cleanup.policy=compact)",
            info.name,
            info.config.cleanup_policy.name(),
            info.name
        );
    }
    let partitions = super::partitions(&info, args.partition)?;
    let mut reports = Vec::new();
    for p in partitions {
        let log = manager.open_partition(&info.name, p)?;
        log.roll_active()?;
        let bar = progress_bar(log.stats()?.size_bytes, p);
        let report = log.clean_with_progress(now_ms(), true, &mut |step| {
            if let Some(bar) = &bar {
                bar.set_length(step.total_bytes);
                bar.set_position(step.done_bytes);
                bar.set_message(format!("pass {}", step.pass));
            }
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let report = report?;
        log.close()?;
        reports.push((p, report));
    }
    print!("{}", render_topic_clean(&info.name, &reports, args.json));
    Ok(Outcome::Done)
}

fn progress_bar(bytes: u64, partition: u32) -> Option<ProgressBar> {
    if bytes < BAR_FROM_BYTES {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "partition {prefix} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(partition.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}
