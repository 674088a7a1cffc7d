//! `logsync gen hdfs`: a realistic HDFS-like log (crate `logsync-ingest`).

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{Context as _, bail};
use logsync_ingest::generate::{GenConfig, write_hdfs};

use crate::Outcome;
use crate::cli::{GenArgs, GenKind};

pub fn run(args: GenArgs) -> anyhow::Result<Outcome> {
    let GenKind::Hdfs {
        lines,
        seed,
        malformed,
        truth,
        output,
    } = args.kind;
    if !(0.0..=1.0).contains(&malformed) {
        bail!("--malformed must be a fraction in [0, 1], got {malformed}");
    }
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut truth_file = match &truth {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let config = GenConfig { seed, malformed };
    let report = write_hdfs(
        &mut out,
        truth_file.as_mut().map(|t| t as &mut dyn Write),
        lines,
        config,
    )
    .context("writing the generated log")?;
    if let Some(mut t) = truth_file {
        t.flush().context("writing the truth file")?;
    }
    if output.is_some() {
        eprintln!(
            "wrote {} lines ({} malformed), {} bytes",
            report.lines, report.malformed, report.bytes
        );
    }
    Ok(Outcome::Done)
}
