//! `logsync bench`: benchmarks that run one workload against logsync and a
//! baseline in the same process, and print the ratio and a markdown table
//! that can be pasted into `BENCHMARKS.md`.

mod baseline;
mod ingest;
mod kv;
mod report;
mod storage;
mod workload;

use std::path::Path;

use crate::Outcome;
use crate::cli::{BenchArgs, BenchSuite};

/// What the command line asked for (the same for every suite).
#[derive(Debug)]
pub struct Options<'a> {
    /// `--data-dir`: the default benchmark directory goes below it.
    pub data_dir: &'a Path,
    /// `--dir`.
    pub dir: Option<&'a Path>,
    /// `--scale`.
    pub scale: f64,
    /// `--only`.
    pub only: Option<&'a str>,
}

impl Options<'_> {
    /// True when `--only` selects benchmark `name` (or there is no `--only`).
    pub fn wants(&self, name: &str) -> bool {
        self.only.is_none_or(|o| name.contains(o))
    }

    /// Checks `--scale` (in (0, `max_scale`]) and that `--only` selects one
    /// of `names`, then makes the suite's scratch directory: `--dir`, or
    /// `bench-SUITE-PID` below the data dir.
    ///
    /// # Errors
    /// A bad `--scale` or `--only`, or the directory cannot be made.
    pub fn prepare(
        &self,
        suite: &str,
        names: &[&str],
        max_scale: f64,
    ) -> anyhow::Result<workload::Scratch> {
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= max_scale) {
            anyhow::bail!(
                "--scale must be a number in (0, {max_scale}], got {}",
                self.scale
            );
        }
        if !names.iter().any(|n| self.wants(n)) {
            anyhow::bail!(
                "--only {} matches no benchmark (known: {})",
                self.only.unwrap_or_default(),
                names.join(", ")
            );
        }
        let root = match self.dir {
            Some(d) => d.to_path_buf(),
            None => self
                .data_dir
                .join(format!("bench-{suite}-{}", std::process::id())),
        };
        workload::Scratch::new(root)
    }
}

/// Runs the chosen suite.
pub fn run(data_dir: &Path, args: BenchArgs) -> anyhow::Result<Outcome> {
    let (suite, opts): (fn(&Options<'_>) -> anyhow::Result<()>, _) = match args.suite {
        BenchSuite::Storage(o) => (storage::run, o),
        BenchSuite::Kv(o) => (kv::run, o),
        BenchSuite::Ingest(o) => (ingest::run, o),
    };
    suite(&Options {
        data_dir,
        dir: opts.dir.as_deref(),
        scale: opts.scale,
        only: opts.only.as_deref(),
    })?;
    Ok(Outcome::Done)
}
