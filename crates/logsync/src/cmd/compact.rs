//! `logsync compact TOPIC`: runs the cleaner now and reports what it did.

use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use logsync_storage::log::now_ms;
use logsync_storage::{CleanReport, LogManager};

use super::json;
use crate::Outcome;
use crate::cli::CompactArgs;

/// Cleans below this many bytes finish too fast for a bar to help.
const BAR_FROM_BYTES: u64 = 64 << 20;

pub fn run(data_dir: &Path, args: &CompactArgs) -> anyhow::Result<Outcome> {
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
    print!("{}", render(&info.name, &reports, args.json));
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

fn render(topic: &str, reports: &[(u32, CleanReport)], as_json: bool) -> String {
    let sum = |f: fn(&CleanReport) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
    let bytes_before = sum(|r| r.bytes_before);
    let bytes_after = sum(|r| r.bytes_after);
    let records_before = sum(|r| r.records_before);
    let records_after = sum(|r| r.records_after);
    let seconds = reports
        .iter()
        .map(|(_, r)| r.duration.as_secs_f64())
        .sum::<f64>();
    if as_json {
        let parts: Vec<String> = reports
            .iter()
            .map(|(p, r)| {
                format!(
                    "{{\"partition\":{p},\"bytes_before\":{},\"bytes_after\":{},\"bytes_reclaimed\":{},\"records_before\":{},\"records_after\":{},\"keys\":{},\"passes\":{},\"tombstones_dropped\":{},\"segments_before\":{},\"segments_after\":{},\"cleaned_upto\":{},\"seconds\":{:.6}}}",
                    r.bytes_before,
                    r.bytes_after,
                    r.bytes_reclaimed(),
                    r.records_before,
                    r.records_after,
                    r.keys,
                    r.passes,
                    r.tombstones_dropped,
                    r.segments_before,
                    r.segments_after,
                    r.cleaned_upto,
                    r.duration.as_secs_f64()
                )
            })
            .collect();
        return format!(
            "{{\"topic\":{},\"bytes_before\":{bytes_before},\"bytes_after\":{bytes_after},\"bytes_reclaimed\":{},\"records_before\":{records_before},\"records_after\":{records_after},\"seconds\":{seconds:.6},\"partitions\":[{}]}}\n",
            json::string(topic),
            bytes_before.saturating_sub(bytes_after),
            parts.join(",")
        );
    }
    format!(
        "compacted {topic}: bytes before {bytes_before}, after {bytes_after}, reclaimed {}; records before {records_before}, after {records_after} ({seconds:.3} s)\n",
        bytes_before.saturating_sub(bytes_after)
    )
}
