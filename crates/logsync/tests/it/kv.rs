//! `logsync kv ...` end to end (tests being written this session).
