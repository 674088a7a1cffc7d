//! `logsync bench`: benchmarks that run one workload against logsync and a
//! baseline in the same process, and print the ratio and a markdown table
//! that can be pasted into `BENCHMARKS.md`.

mod baseline;
mod report;
mod storage;
mod workload;

use std::path::Path;

use crate::Outcome;
use crate::cli::{BenchArgs, BenchSuite};

/// Runs the chosen suite.
pub fn run(data_dir: &Path, args: BenchArgs) -> anyhow::Result<Outcome> {
    match args.suite {
        BenchSuite::Storage { dir, scale, only } => {
            storage::run(&storage::Options {
                data_dir,
                dir: dir.as_deref(),
                scale,
                only: only.as_deref(),
            })?;
        }
    }
    Ok(Outcome::Done)
}
