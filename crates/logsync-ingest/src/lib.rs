//! `logsync-ingest`: raw operational logs to structured records.
//!
//! A [`Format`] (a built-in preset or a LogHub format string such as
//! `'<Date> <Time> <Pid> <Level> <Component>: <Content>'`) is compiled into
//! a literal-delimited matcher; a [`Parser`] turns each line into an
//! [`Event`] with its event time (epoch milliseconds and ISO-8601), level,
//! component, message, fields and compaction key, or into a [`Malformed`]
//! reason, never dropping a line. [`Stats`] summarises an input, [`tail`]
//! reads and follows files, [`LineReader`] reads lines as bytes.
//!
//! ```
//! use logsync_ingest::{Format, Parser, ParserConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut parser = Parser::new(Format::from_spec("hdfs")?, ParserConfig::default())?;
//! let line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating";
//! let event = parser.parse(1, line, false)?;
//! assert_eq!(event.iso().as_deref(), Some("2008-11-09T20:36:15Z"));
//! assert_eq!(event.key(), Some("blk_38865049064139660"));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

// Lines are input: the modules that read them never index out of bounds.
pub mod error;
#[cfg_attr(not(test), deny(clippy::indexing_slicing))]
pub mod event;
#[cfg_attr(not(test), deny(clippy::indexing_slicing))]
pub mod format;
#[cfg_attr(not(test), deny(clippy::indexing_slicing))]
pub mod generate;
#[cfg_attr(not(test), deny(clippy::indexing_slicing))]
pub mod json;
#[cfg_attr(not(test), deny(clippy::indexing_slicing))]
pub mod lines;
#[cfg_attr(not(test), deny(clippy::indexing_slicing))]
pub mod stats;
#[cfg_attr(not(test), deny(clippy::indexing_slicing))]
pub mod tail;
pub mod template;
#[cfg_attr(not(test), deny(clippy::indexing_slicing))]
pub mod timestamp;

pub use error::{Error, Result};
pub use event::{Event, KeyChoice, Malformed, Parser, ParserConfig};
pub use format::Format;
pub use lines::{LineReader, RawLine};
pub use stats::Stats;
pub use timestamp::Zone;
