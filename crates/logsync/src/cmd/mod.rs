//! One module per subcommand; each exposes `run`.

mod bench;
mod compact;
mod consume;
mod dump;
mod format;
mod generate;
pub mod kv;
pub mod logs;
mod partitioner;
mod produce;
mod progress;
mod remote;
mod serve;
mod serve_config;
mod topic;

use crate::Outcome;
use crate::cli::{Cli, Command};

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let data_dir = cli.data_dir;
    match cli.command {
        Command::Serve(args) => serve::run(&data_dir, &args),
        Command::Topic(args) => topic::run(&data_dir, args),
        Command::Produce(args) => produce::run(&data_dir, args),
        Command::Consume(args) => consume::run(&data_dir, args),
        Command::Compact(args) => compact::run(&data_dir, &args),
        Command::Dump(args) => dump::run(args),
        Command::Bench(args) => bench::run(&data_dir, args),
        Command::Kv(args) => kv::run(&data_dir, args),
        Command::Parse(args) => logs::parse(args),
        Command::Stats(args) => logs::stats(&data_dir, args),
        Command::Tail(args) => logs::tail(args),
        Command::Ingest(args) => logs::ingest(&data_dir, args),
        Command::Gen(args) => generate::run(args),
    }
}

/// The partitions a command works on: `only`, which must exist, or all.
fn partitions(
    info: &logsync_storage::TopicInfo,
    only: Option<u32>,
) -> Result<Vec<u32>, logsync_storage::Error> {
    match only {
        Some(p) if p >= info.partitions => Err(logsync_storage::Error::UnknownPartition {
            topic: info.name.clone(),
            partition: p,
            partitions: info.partitions,
        }),
        Some(p) => Ok(vec![p]),
        None => Ok((0..info.partitions).collect()),
    }
}
