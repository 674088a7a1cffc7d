//! `logsync bench kv` (being written this session).

use super::Options;

/// Runs the suite.
pub fn run(_opts: &Options<'_>) -> anyhow::Result<()> {
    anyhow::bail!("`logsync bench kv` is not built yet")
}
