//! Integration tests of the `logsync` binary: every command run as a user
//! would, as a real process on a temporary data directory.

mod cli;
mod compact;
mod consume;
mod dump;
mod kv;
mod logs;
mod produce;
mod topic;
mod util;
