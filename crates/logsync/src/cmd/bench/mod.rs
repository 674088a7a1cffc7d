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

/// Runs the chosen suite.
pub fn run(data_dir: &Path, args: BenchArgs) -> anyhow::Result<Outcome> {
    match args.suite {
        BenchSuite::Storage { dir, scale, only } => {
            storage::run(&Options {
                data_dir,
                dir: dir.as_deref(),
                scale,
                only: only.as_deref(),
            })?;
        }
        BenchSuite::Kv { dir, scale, only } => {
            kv::run(&Options {
                data_dir,
                dir: dir.as_deref(),
                scale,
                only: only.as_deref(),
            })?;
        }
        BenchSuite::Ingest { dir, scale, only } => {
            ingest::run(&Options {
                data_dir,
                dir: dir.as_deref(),
                scale,
                only: only.as_deref(),
            })?;
        }
    }
    Ok(Outcome::Done)
}
