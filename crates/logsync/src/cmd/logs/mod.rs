//! `logsync parse | stats | tail | ingest`: raw operational logs (crate `logsync-ingest`).
//! (Being written this session; the arguments are defined here.)

use std::path::{Path, PathBuf};

use clap::Args;

use crate::Outcome;

/// `logsync parse ...`
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The log file.
    pub file: PathBuf,
}

/// `logsync stats ...`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The log file.
    pub file: PathBuf,
}

/// `logsync tail ...`
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The log file.
    pub file: PathBuf,
}

/// `logsync ingest ...`
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The log file.
    pub file: PathBuf,
}

/// Runs `logsync parse`.
pub fn parse(_args: ParseArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("logsync parse is not built yet")
}

/// Runs `logsync stats`.
pub fn stats(_data_dir: &Path, _args: StatsArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("logsync stats is not built yet")
}

/// Runs `logsync tail`.
pub fn tail(_args: TailArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("logsync tail is not built yet")
}

/// Runs `logsync ingest`.
pub fn ingest(_data_dir: &Path, _args: IngestArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("logsync ingest is not built yet")
}
