//! Raw-log ingestion (work in progress this session).

pub mod template;
