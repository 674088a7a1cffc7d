//! `logsync bench ingest` (being written this session).

use super::Options;

/// Runs the suite.
pub fn run(_opts: &Options<'_>) -> anyhow::Result<()> {
    anyhow::bail!("`logsync bench ingest` is not built yet")
}
