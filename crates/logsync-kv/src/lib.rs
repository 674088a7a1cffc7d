//! Key/value store over a compacted log (work in progress this session).
