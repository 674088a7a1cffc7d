//! `logsync kv ...`: the key/value store (crate `logsync-kv`) embedded on
//! the data dir. Every command is its own process: it opens the store (the
//! index checkpoint plus the log after it), does one thing and closes it.

mod load;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};
use logsync_kv::{KvConfig, Store, Ttl};

use crate::Outcome;

/// `logsync kv ...`
#[derive(Debug, Args)]
pub struct KvArgs {
    /// The topic holding the store (created compacted, 1 partition, if missing).
    #[arg(long, default_value = "kv", global = true)]
    pub topic: String,
    /// What to do.
    #[command(subcommand)]
    pub action: KvAction,
}

/// Key/value actions.
#[derive(Debug, Subcommand)]
pub enum KvAction {
    /// Set KEY to VALUE.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Expire the key after this long: 500ms, 10s, 5m, 2h, 1d (a bare
        /// number is seconds).
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
    /// Print the value of KEY (exit 1 and nothing on stdout when absent).
    Get {
        /// The key.
        key: String,
    },
    /// Delete KEY (exit 1 when it was absent).
    Del {
        /// The key.
        key: String,
    },
    /// Print the time KEY has left (`persistent` if it never expires; exit
    /// 1 when absent).
    Ttl {
        /// The key.
        key: String,
    },
    /// Print `key<TAB>value` for every key starting with PREFIX, in key
    /// order (exit 1 when there is none).
    Scan {
        /// Only keys starting with this.
        #[arg(default_value = "")]
        prefix: String,
        /// At most this many keys.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Drop overwritten, deleted and expired records now; print bytes
    /// before / after / reclaimed.
    Compact,
    /// Print keys, live and dead bytes, dirty ratio and index memory.
    Stats,
    /// Set the keys of FILE (`key<TAB>value` lines; `-` is stdin), with a
    /// progress bar. Bad lines are reported and the command then exits 2
    /// (the good lines are loaded).
    Load {
        /// The file.
        file: std::path::PathBuf,
    },
}

/// Parses `500ms`, `10s`, `5m`, `2h`, `1d` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 500ms, 10s, 5m, 2h, 1d)"))?;
    let ms = match unit {
        "ms" => 1.0,
        "" | "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        "d" => 86_400e3,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use ms, s, m, h or d)"
            ));
        }
    };
    let total = n * ms;
    if !(1.0..=1e15).contains(&total) {
        return Err(format!("{s:?} is out of range (1ms up to ~30000 years)"));
    }
    Ok(Duration::from_millis(total as u64))
}

fn open(data_dir: &Path, topic: &str) -> anyhow::Result<Store> {
    let config = KvConfig {
        topic: topic.to_owned(),
        ..KvConfig::default()
    };
    Ok(Store::open(data_dir, config)?)
}

/// Runs `logsync kv`.
pub fn run(data_dir: &Path, args: KvArgs) -> anyhow::Result<Outcome> {
    let store = open(data_dir, &args.topic)?;
    let outcome = act(&store, args.action)?;
    store.close()?;
    Ok(outcome)
}

fn found(yes: bool) -> Outcome {
    if yes {
        Outcome::Done
    } else {
        Outcome::NothingFound
    }
}

fn act(store: &Store, action: KvAction) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    match action {
        KvAction::Set { key, value, ttl } => {
            match ttl {
                Some(ttl) => store.set_with_ttl(key.as_bytes(), value.as_bytes(), ttl)?,
                None => store.set(key.as_bytes(), value.as_bytes())?,
            }
            Ok(Outcome::Done)
        }
        KvAction::Get { key } => match store.get(key.as_bytes())? {
            Some(v) => {
                out.write_all(&v)?;
                out.write_all(b"\n")?;
                Ok(Outcome::Done)
            }
            None => Ok(Outcome::NothingFound),
        },
        KvAction::Del { key } => Ok(found(store.delete(key.as_bytes())?)),
        KvAction::Ttl { key } => match store.ttl(key.as_bytes())? {
            Ttl::Missing => Ok(Outcome::NothingFound),
            Ttl::Persistent => {
                writeln!(out, "persistent")?;
                Ok(Outcome::Done)
            }
            Ttl::ExpiresIn(d) => {
                writeln!(out, "{:.3}s", d.as_secs_f64())?;
                Ok(Outcome::Done)
            }
        },
        KvAction::Scan { prefix, limit } => {
            let pairs = store.scan(prefix.as_bytes(), limit.unwrap_or(usize::MAX))?;
            for (k, v) in &pairs {
                out.write_all(k)?;
                out.write_all(b"\t")?;
                out.write_all(v)?;
                out.write_all(b"\n")?;
            }
            Ok(found(!pairs.is_empty()))
        }
        KvAction::Compact => {
            let r = store.compact()?;
            writeln!(
                out,
                "compacted {}: bytes before {}, after {}, reclaimed {}; records before {}, after {}; expired keys dropped {} ({:.3} s)",
                store.topic(),
                r.bytes_before,
                r.bytes_after,
                r.bytes_reclaimed(),
                r.records_before,
                r.records_after,
                r.expired_keys,
                r.duration.as_secs_f64()
            )?;
            Ok(Outcome::Done)
        }
        KvAction::Stats => {
            let s = store.stats()?;
            writeln!(out, "topic: {}", store.topic())?;
            writeln!(out, "keys: {}", s.keys)?;
            writeln!(out, "live bytes: {}", s.live_bytes)?;
            writeln!(out, "dead bytes: {}", s.dead_bytes)?;
            writeln!(out, "dirty ratio: {:.3}", s.dirty_ratio)?;
            writeln!(out, "log bytes: {}", s.log_bytes)?;
            writeln!(out, "segments: {}", s.segments)?;
            writeln!(out, "index memory bytes: {}", s.index_memory_bytes)?;
            let per_key = if s.keys == 0 {
                0.0
            } else {
                s.index_memory_bytes as f64 / s.keys as f64
            };
            writeln!(out, "index bytes per key: {per_key:.1}")?;
            Ok(Outcome::Done)
        }
        KvAction::Load { file } => {
            drop(out);
            load::run(store, &file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_garbage() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "s", "10x", "-5s", "0s", "1e99d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
