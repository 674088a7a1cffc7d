//! Command-line interface definition (clap derive). `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// logsync: a durable, compacting event log in Kafka's format.
#[derive(Debug, Parser)]
#[command(name = "logsync", version, about, propagate_version = true)]
pub struct Cli {
    /// Data directory (embedded mode).
    #[arg(
        long,
        global = true,
        default_value = "./logsync-data",
        env = "LOGSYNC_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn", env = "LOGSYNC_LOG")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker: serve the data dir over the Kafka wire protocol.
    Serve(ServeArgs),
    /// Create, list, describe, alter or delete topics.
    Topic(TopicArgs),
    /// Append each line of stdin to a topic as one record.
    Produce(ProduceArgs),
    /// Print records of a topic.
    Consume(ConsumeArgs),
    /// Run the cleaner on a compacted topic now (rolls the active segment
    /// first, so everything produced so far is compacted).
    Compact(CompactArgs),
    /// Print the batches of a segment file (or the entries of an index), like kafka-dump-log.
    Dump(DumpArgs),
    /// Run benchmarks, each beside a baseline measured in the same run.
    Bench(BenchArgs),
    /// A key/value store over a compacted topic: set, get, del, ttl, scan, compact, stats, load.
    Kv(crate::cmd::kv::KvArgs),
    /// Parse a raw log file into one JSON record per line.
    Parse(crate::cmd::logs::ParseArgs),
    /// Statistics of a raw log file: rates, levels, components, templates.
    Stats(crate::cmd::logs::StatsArgs),
    /// Print the last lines of a file (as GNU tail -n), or follow it (-f).
    Tail(crate::cmd::logs::TailArgs),
    /// Parse a raw log file and append its records to a topic, keyed, with event time.
    Ingest(crate::cmd::logs::IngestArgs),
    /// Generate a realistic log for benchmarks (same seed, same bytes).
    Gen(GenArgs),
}

/// `logsync gen ...`
#[derive(Debug, Args)]
pub struct GenArgs {
    /// What to generate.
    #[command(subcommand)]
    pub kind: GenKind,
}

/// Generators.
#[derive(Debug, Subcommand)]
pub enum GenKind {
    /// HDFS-like lines: per-block event sequences from the HDFS sample's
    /// templates, interleaved, ~140 bytes a line.
    Hdfs {
        /// Lines to write.
        #[arg(long, short = 'n')]
        lines: u64,
        /// Seed: the same seed gives the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Fraction of lines replaced by malformed ones (e.g. 0.001).
        #[arg(long, default_value_t = 0.0)]
        malformed: f64,
        /// Also write each line's template id (1-based, 0 = malformed), one per line, to FILE.
        #[arg(long, value_name = "FILE")]
        truth: Option<PathBuf>,
        /// Write to FILE instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `logsync topic ...`
#[derive(Debug, Args)]
pub struct TopicArgs {
    /// Manage topics on a running broker (logsync serve or Kafka) through
    /// the Kafka protocol: create, list, describe, alter and delete;
    /// `retention` goes to logsync serve's admin endpoint (found through the
    /// broker; needs `serve --metrics`).
    #[arg(long, value_name = "HOST:PORT", global = true)]
    pub broker: Option<String>,
    #[command(subcommand)]
    pub action: TopicAction,
}

/// Topic actions.
#[derive(Debug, Subcommand)]
pub enum TopicAction {
    /// Create a topic.
    Create {
        /// Topic name.
        topic: String,
        /// Number of partitions.
        #[arg(long, short = 'p', default_value_t = 1)]
        partitions: u32,
        /// Topic config as key=value (Kafka's names, e.g. segment.bytes=1048576); repeatable.
        #[arg(long = "config", short = 'c', value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List topics.
    List,
    /// Show partitions, segments, sizes and offsets of a topic.
    Describe {
        /// Topic name.
        topic: String,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change topic config (key=value, repeatable).
    Alter {
        /// Topic name.
        topic: String,
        /// Config as key=value.
        #[arg(
            long = "config",
            short = 'c',
            value_name = "KEY=VALUE",
            required = true
        )]
        configs: Vec<String>,
    },
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        topic: String,
    },
    /// Apply retention.ms / retention.bytes now and print what was deleted.
    Retention {
        /// Topic name.
        topic: String,
    },
}

/// `logsync serve ...`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file of broker settings with Kafka's key names (`listeners`,
    /// `log.dirs`, `num.partitions`, `log.retention.ms`, ...); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Address to listen on, default 127.0.0.1:9092 (port 0 picks a free
    /// port; the bound address is printed as `listening on HOST:PORT`).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve Prometheus metrics on http://ADDR/metrics and a health check on
    /// /health (off unless given; port 0 picks a free port, printed as
    /// `metrics on HOST:PORT` after the `listening on` line).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// `advertised.listeners`: the address Metadata tells clients to use
    /// (default: the listening address).
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_listener: Option<std::net::SocketAddr>,
    /// `auto.create.topics.enable` (default true): create unknown topics on
    /// Metadata and Produce.
    #[arg(long, action = clap::ArgAction::Set)]
    pub auto_create_topics: Option<bool>,
    /// `num.partitions` (default 1): partitions of auto-created topics.
    #[arg(long)]
    pub num_partitions: Option<u32>,
    /// `max.connections` (default 10000).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// `log.cleaner.backoff.ms` (default 15000): how often retention and the
    /// cleaner check each partition.
    #[arg(long)]
    pub log_cleaner_backoff_ms: Option<u64>,
    /// `socket.request.max.bytes` (default 104857600): the largest request frame.
    #[arg(long)]
    pub socket_request_max_bytes: Option<u32>,
}

/// `logsync compact ...`
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Topic to compact (its cleanup.policy must include compact).
    pub topic: String,
    /// Only this partition (default: all).
    #[arg(long, short = 'p')]
    pub partition: Option<u32>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Ask a running `logsync serve` to compact the topic now. Kafka's
    /// protocol has no request for it: the CLI asks the broker (over the
    /// Kafka protocol) for its admin endpoint, the `--metrics` address of
    /// `logsync serve`, and posts the request there.
    #[arg(long, value_name = "HOST:PORT")]
    pub broker: Option<String>,
    /// The admin endpoint (`logsync serve --metrics`) to post to, instead of
    /// asking `--broker` for it.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "partition")]
    pub admin: Option<String>,
}

/// `logsync produce ...`
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to append to (created with defaults if missing).
    pub topic: String,
    /// Split each line into key and value at the first SEP (as kcat's -K).
    #[arg(short = 'K', long = "key-delimiter", value_name = "SEP")]
    pub key_delimiter: Option<String>,
    /// Partition to write to (default: by key hash, else round-robin per batch).
    #[arg(long, short = 'p')]
    pub partition: Option<u32>,
    /// Each line starts with its event time (epoch milliseconds or RFC 3339)
    /// and SEP; the record gets that timestamp (the rest of the line is split
    /// by -K as usual). Without it, records get the time they were read.
    #[arg(short = 'T', long = "timestamp-delimiter", value_name = "SEP")]
    pub timestamp_delimiter: Option<String>,
    /// Produce through the Kafka protocol to a running broker (logsync
    /// serve or Kafka) instead of writing the data dir.
    #[arg(long, value_name = "HOST:PORT")]
    pub broker: Option<String>,
}

/// `logsync consume ...`
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    pub topic: String,
    /// Start at the first offset (the default).
    #[arg(long, conflicts_with_all = ["offset", "since"])]
    pub from_beginning: bool,
    /// Start at this offset.
    #[arg(long, short = 'o', conflicts_with = "since")]
    pub offset: Option<u64>,
    /// Start at the first record with timestamp >= TIME (RFC 3339 or epoch milliseconds).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stop after N records.
    #[arg(long, short = 'c')]
    pub count: Option<u64>,
    /// Print key SEP value (as kcat's -K; -f, when given, decides the output).
    #[arg(short = 'K', long = "key-delimiter", value_name = "SEP")]
    pub key_delimiter: Option<String>,
    /// Output format as kcat's -f: %o offset, %k key, %s value, %T timestamp, %p partition, %t topic, %h headers.
    #[arg(short = 'f', long = "format", value_name = "FMT")]
    pub format: Option<String>,
    /// Only this partition (default: all, in partition order).
    #[arg(long, short = 'p')]
    pub partition: Option<u32>,
    /// Keep waiting for new records instead of exiting at the end.
    #[arg(long, short = 'F')]
    pub follow: bool,
    /// Consume through the Kafka protocol from a running broker (logsync
    /// serve or Kafka) instead of reading the data dir.
    #[arg(long, value_name = "HOST:PORT")]
    pub broker: Option<String>,
}

/// `logsync dump ...`
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A .log, .index or .timeindex file.
    pub file: PathBuf,
    /// Also print every record of every batch.
    #[arg(long)]
    pub deep: bool,
}

/// `logsync bench ...`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to benchmark.
    #[command(subcommand)]
    pub suite: BenchSuite,
}

/// Benchmark suites.
#[derive(Debug, Subcommand)]
pub enum BenchSuite {
    /// The storage engine: append, group commit, reads, open, cleaner, retention.
    Storage(BenchOpts),
    /// The key/value store: get, set, group commit, open with and without checkpoint, compact.
    Kv(BenchOpts),
    /// Raw-log ingestion: parse, ingest end to end, template mining.
    Ingest(BenchOpts),
}

/// What every benchmark suite takes.
#[derive(Debug, Args)]
pub struct BenchOpts {
    /// Directory for the benchmark's files (default: a temporary directory under the data dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Scale factor for data sizes (1.0 = the sizes in the issues: e.g. 1 GiB read and 10M
    /// records for storage, 10M keys for kv, 10M lines for ingest).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Only run benchmarks whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
}
