//! `logsync parse | stats | tail | ingest` end to end (tests being written this session).
