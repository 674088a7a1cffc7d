//! One module per subcommand; each exposes `run`.

mod bench;
mod compact;
mod consume;
mod dump;
mod format;
mod json;
mod partitioner;
mod produce;
mod serve;
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
    }
}
