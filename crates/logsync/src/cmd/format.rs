//! kcat's `-f` output format for `logsync consume`: parsed once, then
//! rendered for every record straight into the output buffer.

use logsync_storage::Record;

/// One piece of a parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Bytes printed as they are (escapes already resolved).
    Literal(Vec<u8>),
    /// `%o`
    Offset,
    /// `%k`
    Key,
    /// `%s`
    Value,
    /// `%T`: milliseconds since the epoch.
    Timestamp,
    /// `%p`
    Partition,
    /// `%t`
    Topic,
    /// `%h`: `key=value` pairs joined by commas.
    Headers,
    /// `%K`: key length, -1 for null.
    KeyLength,
    /// `%S`: value length, -1 for null.
    ValueLength,
}

/// A parsed output format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pieces: Vec<Piece>,
}

/// What a record is printed with besides itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Topic name, for `%t`.
    pub topic: &'a str,
    /// Partition, for `%p`.
    pub partition: u32,
}

impl Format {
    /// Parses kcat's `-f` syntax: `%o %k %s %T %p %t %h %K %S %%` and the
    /// escapes `\n \t \r \\` (any other escape is kept as written).
    ///
    /// # Errors
    /// An unknown `%` directive, or a `%` at the end.
    pub fn parse(fmt: &str) -> anyhow::Result<Format> {
        let mut pieces = Vec::new();
        let mut lit = Vec::new();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            let field = match c {
                '%' => match chars.next() {
                    Some('o') => Piece::Offset,
                    Some('k') => Piece::Key,
                    Some('s') => Piece::Value,
                    Some('T') => Piece::Timestamp,
                    Some('p') => Piece::Partition,
                    Some('t') => Piece::Topic,
                    Some('h') => Piece::Headers,
                    Some('K') => Piece::KeyLength,
                    Some('S') => Piece::ValueLength,
                    Some('%') => {
                        lit.push(b'%');
                        continue;
                    }
                    Some(other) => anyhow::bail!(
                        "unknown directive %{other} in format {fmt:?} (known: %o %k %s %T %p %t %h %K %S %%)"
                    ),
                    None => anyhow::bail!("format {fmt:?} ends with a lone %"),
                },
                '\\' => {
                    match chars.next() {
                        Some('n') => lit.push(b'\n'),
                        Some('t') => lit.push(b'\t'),
                        Some('r') => lit.push(b'\r'),
                        Some('\\') => lit.push(b'\\'),
                        Some(other) => {
                            lit.push(b'\\');
                            push_char(&mut lit, other);
                        }
                        None => lit.push(b'\\'),
                    }
                    continue;
                }
                other => {
                    push_char(&mut lit, other);
                    continue;
                }
            };
            if !lit.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut lit)));
            }
            pieces.push(field);
        }
        if !lit.is_empty() {
            pieces.push(Piece::Literal(lit));
        }
        Ok(Format { pieces })
    }

    /// The default output: `value\n`, or `key SEP value\n` with `-K SEP`.
    #[must_use]
    pub fn default_with_key(key_delimiter: Option<&str>) -> Format {
        let mut pieces = Vec::new();
        if let Some(sep) = key_delimiter {
            pieces.push(Piece::Key);
            pieces.push(Piece::Literal(sep.as_bytes().to_vec()));
        }
        pieces.push(Piece::Value);
        pieces.push(Piece::Literal(b"\n".to_vec()));
        Format { pieces }
    }

    /// Appends `record` rendered in this format to `out`. Null keys and
    /// values print as nothing.
    pub fn render(&self, record: &Record, ctx: Context<'_>, out: &mut Vec<u8>) {
        let len = |b: Option<&bytes::Bytes>| b.map_or(-1, |b| b.len() as i64);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(b) => out.extend_from_slice(b),
                Piece::Offset => push_display(out, record.offset.0),
                Piece::Key => out.extend_from_slice(record.key.as_deref().unwrap_or_default()),
                Piece::Value => out.extend_from_slice(record.value.as_deref().unwrap_or_default()),
                Piece::Timestamp => push_display(out, record.timestamp.0),
                Piece::Partition => push_display(out, ctx.partition),
                Piece::Topic => out.extend_from_slice(ctx.topic.as_bytes()),
                Piece::Headers => {
                    for (i, h) in record.headers.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(&h.key);
                        out.push(b'=');
                        out.extend_from_slice(h.value.as_deref().unwrap_or_default());
                    }
                }
                Piece::KeyLength => push_display(out, len(record.key.as_ref())),
                Piece::ValueLength => push_display(out, len(record.value.as_ref())),
            }
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

fn push_display(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{v}");
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use logsync_storage::{Offset, RecordHeader, TimestampMs};

    use super::*;

    fn record() -> Record {
        Record {
            offset: Offset(42),
            timestamp: TimestampMs(1_700_000_000_123),
            key: Some(Bytes::from_static(b"k1")),
            value: Some(Bytes::from_static(b"hello")),
            headers: vec![
                RecordHeader {
                    key: Bytes::from_static(b"a"),
                    value: Some(Bytes::from_static(b"1")),
                },
                RecordHeader {
                    key: Bytes::from_static(b"b"),
                    value: None,
                },
            ],
        }
    }

    fn render(fmt: &str, r: &Record) -> String {
        let mut out = Vec::new();
        let ctx = Context {
            topic: "events",
            partition: 3,
        };
        Format::parse(fmt)
            .expect("valid format")
            .render(r, ctx, &mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn every_directive_and_escape_renders() {
        assert_eq!(
            render(
                "%t/%p@%o %T [%k]=%s (%K,%S) {%h} 100%%\\t\\\\\\r\\n",
                &record()
            ),
            "events/3@42 1700000000123 [k1]=hello (2,5) {a=1,b=} 100%\t\\\r\n"
        );
    }

    #[test]
    fn nulls_print_empty_with_length_minus_one() {
        let r = Record {
            key: None,
            value: None,
            headers: Vec::new(),
            ..record()
        };
        assert_eq!(render("[%k][%s][%K][%S][%h]", &r), "[][][-1][-1][]");
    }

    #[test]
    fn unknown_escapes_stay_and_unknown_directives_fail() {
        assert_eq!(render("a\\qb\\", &record()), "a\\qb\\");
        assert!(Format::parse("%x").is_err());
        assert!(Format::parse("abc%").is_err());
    }

    #[test]
    fn the_default_format_is_value_or_key_sep_value() {
        let mut out = Vec::new();
        let ctx = Context {
            topic: "t",
            partition: 0,
        };
        Format::default_with_key(None).render(&record(), ctx, &mut out);
        Format::default_with_key(Some("::")).render(&record(), ctx, &mut out);
        assert_eq!(out, b"hello\nk1::hello\n");
    }
}
