//! Integration tests of `logsync-ingest` (one binary; modules by subject).

mod arbitrary;
mod loghub;
mod samples;
mod templates;
