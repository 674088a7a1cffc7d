//! `logsync kv ...`: the key/value store (crate `logsync-kv`) embedded on the data dir.
//! (Being written this session; the subcommands are defined here.)

use std::path::Path;

use clap::{Args, Subcommand};

use crate::Outcome;

/// `logsync kv ...`
#[derive(Debug, Args)]
pub struct KvArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: KvAction,
}

/// Key/value actions.
#[derive(Debug, Subcommand)]
pub enum KvAction {
    /// Print the value of KEY (exit 1 when absent).
    Get {
        /// The key.
        key: String,
    },
}

/// Runs `logsync kv`.
pub fn run(_data_dir: &Path, args: KvArgs) -> anyhow::Result<Outcome> {
    match args.action {
        KvAction::Get { .. } => anyhow::bail!("logsync kv is not built yet"),
    }
}
