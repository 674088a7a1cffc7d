//! Lines to structured events: [`Parser`] matches a line against its
//! [`Format`], reads the event time, picks the compaction key and hands out
//! an [`Event`] that borrows the line (no copies on the hot path), or a
//! [`Malformed`] reason.

use std::fmt;

use regex::Regex;

use crate::format::{DefaultKey, Format, MAX_FIELDS, Mismatch, Spans, TimeSpec};
use crate::json;
use crate::timestamp::{self, Stamp, TimeLayout, Zone};
use crate::{Error, Result};

/// How the compaction key is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KeyChoice {
    /// The format's default (see [`crate::format::preset`]).
    #[default]
    Default,
    /// The value of this field (`--key-field`).
    Field(String),
    /// The first match of this regex in the message, or its first capture
    /// group when it has one (`--key-regex`).
    Regex(String),
}

/// Settings of a [`Parser`] besides its format.
#[derive(Debug, Clone, Default)]
pub struct ParserConfig {
    /// The zone of zone-less stamps (`--tz`); UTC by default.
    pub zone: Zone,
    /// The year of year-less stamps (`--year`).
    pub year: Option<i32>,
    /// When the input was last modified: year-less stamps take its year
    /// when `year` is not given (the current time when this is `None` too).
    pub modified: Option<jiff::Timestamp>,
    /// The compaction key.
    pub key: KeyChoice,
}

/// Why a line is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The line does not have the format's shape; the field is the last one
    /// that could be placed.
    NoMatch {
        /// Name of that field, if any.
        after: Option<String>,
    },
    /// Matching gave up after [`crate::format::STEP_LIMIT`] tries.
    TooAmbiguous,
    /// The time fields hold no valid date and time in the format's layout.
    BadTimestamp {
        /// The time fields, space-separated.
        value: String,
    },
    /// The line is longer than the reader's limit (it was cut there).
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NoMatch { after: None } => write!(f, "does not match the format"),
            Malformed::NoMatch { after: Some(field) } => {
                write!(f, "does not match the format after <{field}>")
            }
            Malformed::TooAmbiguous => write!(f, "too many ways to split the line"),
            Malformed::BadTimestamp { value } => write!(f, "invalid timestamp {value:?}"),
            Malformed::TooLong { limit } => write!(f, "line longer than {limit} bytes"),
        }
    }
}

impl std::error::Error for Malformed {}

/// The compiled key rule.
#[derive(Debug, Clone)]
enum KeyRule {
    BlockId,
    Field(usize),
    Regex(Regex),
    None,
}

/// The time rule, with detection state.
#[derive(Debug, Clone)]
enum TimeRule {
    Known(TimeLayout, Vec<usize>),
    Detect(Vec<(TimeLayout, Vec<usize>)>),
    None,
}

/// Year of year-less stamps: fixed on the first one, then advanced at each
/// December -> January step.
#[derive(Debug, Clone, Copy)]
struct YearState {
    year: i32,
    last_month: u8,
}

/// Parses lines of one input, in order.
#[derive(Debug)]
pub struct Parser {
    format: Format,
    zone: Zone,
    key: KeyRule,
    time: TimeRule,
    given_year: Option<i32>,
    modified: Option<jiff::Timestamp>,
    year: Option<YearState>,
}

/// One parsed line. Borrows the line and the parser's format.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Line number (1-based).
    pub line: u64,
    /// The line's text (lossily decoded if it was not UTF-8).
    pub text: &'a str,
    /// Whether the line was not valid UTF-8 (the text then has U+FFFD in it).
    pub invalid_utf8: bool,
    /// Event time in epoch milliseconds, if the format has a time.
    pub ts_ms: Option<i64>,
    /// Whether the stamp had a fractional second.
    pub subsecond: bool,
    /// Byte ranges of the fields.
    spans: Spans,
    key: Option<(u32, u32)>,
    format: &'a Format,
}

impl Parser {
    /// A parser of `format`.
    ///
    /// # Errors
    /// [`Error::InvalidKeyRegex`] and [`Error::UnknownField`] for a bad key choice.
    pub fn new(format: Format, config: ParserConfig) -> Result<Parser> {
        let key = match &config.key {
            KeyChoice::Default => match format.default_key {
                DefaultKey::BlockId => KeyRule::BlockId,
                DefaultKey::Field(i) => KeyRule::Field(i),
                DefaultKey::None => KeyRule::None,
            },
            KeyChoice::Field(name) => {
                KeyRule::Field(format.pattern.index_of(name).ok_or_else(|| {
                    Error::UnknownField {
                        name: name.clone(),
                        fields: format.field_names().join(", "),
                    }
                })?)
            }
            KeyChoice::Regex(pattern) => {
                KeyRule::Regex(
                    Regex::new(pattern).map_err(|source| Error::InvalidKeyRegex {
                        pattern: pattern.clone(),
                        source,
                    })?,
                )
            }
        };
        let time = match &format.time {
            TimeSpec::Fixed(layout, idx) => TimeRule::Known(*layout, idx.clone()),
            TimeSpec::Detect(c) => TimeRule::Detect(c.clone()),
            TimeSpec::None => TimeRule::None,
        };
        Ok(Parser {
            format,
            zone: config.zone,
            key,
            time,
            given_year: config.year,
            modified: config.modified,
            year: None,
        })
    }

    /// The format.
    #[must_use]
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// The timestamp layout in use (`None` before detection or without a time).
    #[must_use]
    pub fn layout(&self) -> Option<TimeLayout> {
        match &self.time {
            TimeRule::Known(l, _) => Some(*l),
            _ => None,
        }
    }

    /// Parses line `number` (1-based) whose text is `text`.
    ///
    /// # Errors
    /// A [`Malformed`] reason; the caller keeps the raw line with it.
    pub fn parse<'a>(
        &'a mut self,
        number: u64,
        text: &'a str,
        invalid_utf8: bool,
    ) -> std::result::Result<Event<'a>, Malformed> {
        let mut spans: Spans = [(0, 0); MAX_FIELDS];
        let bytes = text.as_bytes();
        if let Err(m) = self.format.pattern.matches(bytes, &mut spans) {
            return Err(match m {
                Mismatch::TooAmbiguous => Malformed::TooAmbiguous,
                Mismatch::Shape(after) => Malformed::NoMatch {
                    after: after.and_then(|i| self.format.field_names().get(i).cloned()),
                },
            });
        }
        let field = |i: usize| -> &'a str {
            spans
                .get(i)
                .and_then(|&(s, e)| text.get(s as usize..e as usize))
                .unwrap_or_default()
        };
        let (ts_ms, subsecond) = self.time_of(&field)?;
        let key = self.key_of(text, &spans);
        Ok(Event {
            line: number,
            text,
            invalid_utf8,
            ts_ms,
            subsecond,
            spans,
            key,
            format: &self.format,
        })
    }

    fn time_of<'t>(
        &mut self,
        field: &dyn Fn(usize) -> &'t str,
    ) -> Result<(Option<i64>, bool), Malformed> {
        let read = |layout: TimeLayout, idx: &[usize]| -> Option<Stamp> {
            let mut parts: [&str; 3] = [""; 3];
            for (p, &i) in parts.iter_mut().zip(idx) {
                *p = field(i);
            }
            layout.read(parts.get(..idx.len())?)
        };
        let stamp = match &self.time {
            TimeRule::None => return Ok((None, false)),
            TimeRule::Known(layout, idx) => match read(*layout, idx) {
                Some(s) => s,
                None => return Err(bad_time(idx, field)),
            },
            TimeRule::Detect(candidates) => {
                let found = candidates
                    .iter()
                    .find_map(|(l, idx)| read(*l, idx).map(|s| (*l, idx.clone(), s)));
                match found {
                    Some((l, idx, s)) => {
                        self.time = TimeRule::Known(l, idx);
                        s
                    }
                    None => {
                        let idx = candidates
                            .first()
                            .map(|c| c.1.as_slice())
                            .unwrap_or_default();
                        return Err(bad_time(idx, field));
                    }
                }
            }
        };
        let civil = match stamp {
            Stamp::Epoch(ms, sub) => return Ok((Some(ms), sub)),
            Stamp::Civil(c) => c,
        };
        let year = match civil.year {
            Some(y) => y,
            None => self.year_for(civil.month),
        };
        // 29 February of a year-less stamp in a common year does not exist.
        let ms = (civil.day <= timestamp::days_in_month(year, civil.month))
            .then(|| self.zone.epoch_ms(year, &civil))
            .flatten();
        match ms {
            Some(ms) => Ok((Some(ms), civil.subsecond)),
            None => {
                let idx: &[usize] = match &self.time {
                    TimeRule::Known(_, idx) => idx,
                    _ => &[],
                };
                Err(bad_time(idx, field))
            }
        }
    }

    /// The year of a year-less stamp in `month`.
    fn year_for(&mut self, month: u8) -> i32 {
        let state = match self.year {
            Some(mut s) => {
                if s.last_month == 12 && month == 1 {
                    s.year += 1;
                }
                s.last_month = month;
                s
            }
            None => {
                let year = self.given_year.unwrap_or_else(|| {
                    // The file was written after its first line: a first
                    // month later than the modification month is last year's.
                    let at = self
                        .modified
                        .unwrap_or_else(jiff::Timestamp::now)
                        .to_zoned(jiff::tz::TimeZone::UTC);
                    let y = i32::from(at.year());
                    if month > at.month() as u8 { y - 1 } else { y }
                });
                YearState {
                    year,
                    last_month: month,
                }
            }
        };
        self.year = Some(state);
        state.year
    }

    fn key_of(&self, text: &str, spans: &Spans) -> Option<(u32, u32)> {
        let message = self
            .format
            .roles
            .message
            .and_then(|i| spans.get(i).copied())
            .unwrap_or((0, text.len() as u32));
        let (ms, me) = (message.0 as usize, message.1 as usize);
        let msg = text.get(ms..me)?;
        let found = match &self.key {
            KeyRule::None => None,
            KeyRule::Field(i) => spans.get(*i).map(|&(s, e)| (s as usize, e as usize)),
            KeyRule::BlockId => block_id(msg.as_bytes()).map(|(s, e)| (ms + s, ms + e)),
            KeyRule::Regex(re) => {
                let m = if re.captures_len() > 1 {
                    re.captures(msg).and_then(|c| c.get(1).or_else(|| c.get(0)))
                } else {
                    re.find(msg)
                };
                m.map(|m| (ms + m.start(), ms + m.end()))
            }
        };
        found.map(|(s, e)| (s as u32, e as u32))
    }
}

fn bad_time<'t>(idx: &[usize], field: &dyn Fn(usize) -> &'t str) -> Malformed {
    Malformed::BadTimestamp {
        value: idx.iter().map(|&i| field(i)).collect::<Vec<_>>().join(" "),
    }
}

/// The byte range of the first `blk_-?[0-9]+` in `msg`.
#[must_use]
pub fn block_id(msg: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(off) = msg
        .get(from..)
        .and_then(|h| h.windows(4).position(|w| w == b"blk_"))
    {
        let start = from + off;
        let mut end = start + 4;
        if msg.get(end) == Some(&b'-') {
            end += 1;
        }
        let digits = msg
            .get(end..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0 {
            return Some((start, end + digits));
        }
        from = start + 4;
    }
    None
}

impl<'a> Event<'a> {
    /// The format the event was parsed with.
    #[must_use]
    pub fn format(&self) -> &'a Format {
        self.format
    }

    /// Field `i` (in format order); `""` past the end.
    #[must_use]
    pub fn field(&self, i: usize) -> &'a str {
        if i >= self.format.field_names().len() {
            return "";
        }
        self.spans
            .get(i)
            .and_then(|&(s, e)| self.text.get(s as usize..e as usize))
            .unwrap_or_default()
    }

    /// The field called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.format.pattern.index_of(name).map(|i| self.field(i))
    }

    /// `(name, value)` of every field in order.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.format
            .field_names()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), self.field(i)))
    }

    fn role(&self, i: Option<usize>) -> Option<&'a str> {
        i.map(|i| self.field(i))
    }

    /// The level (`INFO`), if the format has one.
    #[must_use]
    pub fn level(&self) -> Option<&'a str> {
        self.role(self.format.roles.level)
    }

    /// The component, if the format has one.
    #[must_use]
    pub fn component(&self) -> Option<&'a str> {
        self.role(self.format.roles.component)
    }

    /// The process id, if the format has one.
    #[must_use]
    pub fn pid(&self) -> Option<&'a str> {
        self.role(self.format.roles.pid)
    }

    /// The node, if the format has one.
    #[must_use]
    pub fn node(&self) -> Option<&'a str> {
        self.role(self.format.roles.node)
    }

    /// The message (`<Content>`), or the whole line for a format without one.
    #[must_use]
    pub fn message(&self) -> &'a str {
        self.role(self.format.roles.message).unwrap_or(self.text)
    }

    /// The compaction key, if the line has one.
    #[must_use]
    pub fn key(&self) -> Option<&'a str> {
        self.key
            .and_then(|(s, e)| self.text.get(s as usize..e as usize))
    }

    /// The event time as ISO-8601 in UTC.
    #[must_use]
    pub fn iso(&self) -> Option<String> {
        self.ts_ms.map(|ms| timestamp::iso(ms, self.subsecond))
    }

    /// Appends the event as one JSON object (no newline): `line`, `ts`,
    /// `ts_ms`, `level`, `component`, `pid`, `node` (those the format has),
    /// `message`, `key`, `template_id` and `template` (when given), `fields`
    /// (every named field), and `invalid_utf8: true` for a lossy line.
    pub fn write_json(&self, out: &mut String, template: Option<(u32, &str)>) {
        use std::fmt::Write as _;
        let _ = write!(out, "{{\"line\":{}", self.line);
        match self.ts_ms {
            Some(ms) => {
                out.push_str(",\"ts\":\"");
                timestamp::write_iso(out, ms, self.subsecond);
                let _ = write!(out, "\",\"ts_ms\":{ms}");
            }
            None => out.push_str(",\"ts\":null,\"ts_ms\":null"),
        }
        for (name, value) in [
            ("level", self.level()),
            ("component", self.component()),
            ("pid", self.pid()),
            ("node", self.node()),
        ] {
            if let Some(v) = value {
                let _ = write!(out, ",\"{name}\":");
                json::push_str(out, v);
            }
        }
        out.push_str(",\"message\":");
        json::push_str(out, self.message());
        out.push_str(",\"key\":");
        match self.key() {
            Some(k) => json::push_str(out, k),
            None => out.push_str("null"),
        }
        if let Some((id, template)) = template {
            let _ = write!(out, ",\"template_id\":{id},\"template\":");
            json::push_str(out, template);
        }
        out.push_str(",\"fields\":{");
        for (i, (name, value)) in self.fields().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::push_str(out, name);
            out.push(':');
            json::push_str(out, value);
        }
        out.push('}');
        if self.invalid_utf8 {
            out.push_str(",\"invalid_utf8\":true");
        }
        out.push('}');
    }
}

/// Appends a malformed line as one JSON object: `line`, `malformed` (the
/// reason), `raw` (the line, lossily decoded).
pub fn write_malformed_json(out: &mut String, line: u64, raw: &[u8], reason: &Malformed) {
    use std::fmt::Write as _;
    let _ = write!(out, "{{\"line\":{line},\"malformed\":");
    json::push_str(out, &reason.to_string());
    out.push_str(",\"raw\":");
    json::push_str(out, &String::from_utf8_lossy(raw));
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(spec: &str, config: ParserConfig) -> Parser {
        Parser::new(Format::from_spec(spec).expect("format"), config).expect("parser")
    }

    #[test]
    fn an_hdfs_line_becomes_a_keyed_event() {
        let mut p = parser("hdfs", ParserConfig::default());
        let line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_-38865049064139660 terminating";
        let e = p.parse(1, line, false).expect("parses");
        assert_eq!(e.iso().as_deref(), Some("2008-11-09T20:36:15Z"));
        assert_eq!(e.ts_ms, Some(1_226_262_975_000));
        assert_eq!(e.level(), Some("INFO"));
        assert_eq!(e.component(), Some("dfs.DataNode$PacketResponder"));
        assert_eq!(e.pid(), Some("148"));
        assert_eq!(e.key(), Some("blk_-38865049064139660"));
        assert_eq!(e.get("Pid"), Some("148"));
        let mut json = String::new();
        e.write_json(
            &mut json,
            Some((3, "PacketResponder <*> for block <*> terminating")),
        );
        assert!(json.starts_with("{\"line\":1,\"ts\":\"2008-11-09T20:36:15Z\",\"ts_ms\":1226262975000,\"level\":\"INFO\",\"component\":\"dfs.DataNode$PacketResponder\",\"pid\":\"148\",\"message\":\"PacketResponder 1 for block blk_-38865049064139660 terminating\",\"key\":\"blk_-38865049064139660\",\"template_id\":3,"), "{json}");
        assert!(
            json.ends_with(
                "\"Content\":\"PacketResponder 1 for block blk_-38865049064139660 terminating\"}}"
            ),
            "{json}"
        );
    }

    #[test]
    fn bad_lines_get_a_reason() {
        let mut p = parser("hdfs", ParserConfig::default());
        assert_eq!(
            p.parse(1, "081109 203615 148 INFO no colon here", false)
                .err(),
            Some(Malformed::NoMatch {
                after: Some("Component".into())
            })
        );
        assert_eq!(
            p.parse(2, "081131 203615 148 INFO a: b", false).err(),
            Some(Malformed::BadTimestamp {
                value: "081131 203615".into()
            })
        );
    }

    #[test]
    fn keys_come_from_a_field_or_a_regex() {
        let line = "081109 203615 148 INFO dfs.X: a blk_1 and src: /10.0.0.1:50010";
        let mut p = parser(
            "hdfs",
            ParserConfig {
                key: KeyChoice::Field("Pid".into()),
                ..ParserConfig::default()
            },
        );
        assert_eq!(p.parse(1, line, false).expect("ok").key(), Some("148"));
        let mut p = parser(
            "hdfs",
            ParserConfig {
                key: KeyChoice::Regex(r"src: /([0-9.]+)".into()),
                ..ParserConfig::default()
            },
        );
        assert_eq!(p.parse(1, line, false).expect("ok").key(), Some("10.0.0.1"));
        let mut p = parser(
            "hdfs",
            ParserConfig {
                key: KeyChoice::Regex(r"\d+\.\d+".into()),
                ..ParserConfig::default()
            },
        );
        assert_eq!(p.parse(1, line, false).expect("ok").key(), Some("10.0"));
        assert!(matches!(
            Parser::new(
                Format::from_spec("hdfs").expect("f"),
                ParserConfig {
                    key: KeyChoice::Field("Nope".into()),
                    ..ParserConfig::default()
                }
            ),
            Err(Error::UnknownField { .. })
        ));
        assert!(matches!(
            Parser::new(
                Format::from_spec("hdfs").expect("f"),
                ParserConfig {
                    key: KeyChoice::Regex("(".into()),
                    ..ParserConfig::default()
                }
            ),
            Err(Error::InvalidKeyRegex { .. })
        ));
        assert_eq!(block_id(b"blk_ blk_x blk_-12 y"), Some((11, 18)));
        assert_eq!(block_id(b"blk_"), None);
    }

    #[test]
    fn year_less_stamps_take_the_given_year_and_roll_over_in_january() {
        let mut p = parser(
            "openssh",
            ParserConfig {
                year: Some(2015),
                ..ParserConfig::default()
            },
        );
        let ts = |p: &mut Parser, n, l: &str| p.parse(n, l, false).expect("ok").iso();
        assert_eq!(
            ts(&mut p, 1, "Dec 31 23:59:59 h sshd[1]: a").as_deref(),
            Some("2015-12-31T23:59:59Z")
        );
        assert_eq!(
            ts(&mut p, 2, "Jan  1 00:00:01 h sshd[1]: b").as_deref(),
            Some("2016-01-01T00:00:01Z")
        );
        assert_eq!(
            ts(&mut p, 3, "Feb 29 00:00:01 h sshd[1]: c").as_deref(),
            Some("2016-02-29T00:00:01Z")
        );
    }

    #[test]
    fn year_less_stamps_default_to_the_modification_year() {
        let modified: jiff::Timestamp = "2017-01-05T00:00:00Z".parse().expect("ts");
        let mut p = parser(
            "openssh",
            ParserConfig {
                modified: Some(modified),
                ..ParserConfig::default()
            },
        );
        // December before a January modification time is the year before.
        let e = p
            .parse(1, "Dec 10 06:55:46 h sshd[1]: a", false)
            .expect("ok");
        assert_eq!(e.iso().as_deref(), Some("2016-12-10T06:55:46Z"));
        let mut p = parser(
            "openssh",
            ParserConfig {
                modified: Some(modified),
                ..ParserConfig::default()
            },
        );
        let e = p
            .parse(1, "Jan  2 06:55:46 h sshd[1]: a", false)
            .expect("ok");
        assert_eq!(e.iso().as_deref(), Some("2017-01-02T06:55:46Z"));
        let mut p = parser(
            "openssh",
            ParserConfig {
                year: Some(2015),
                ..ParserConfig::default()
            },
        );
        assert!(matches!(
            p.parse(1, "Feb 29 06:55:46 h sshd[1]: a", false),
            Err(Malformed::BadTimestamp { .. })
        ));
    }

    #[test]
    fn a_custom_format_detects_its_layout_on_the_first_line() {
        let mut p = parser(
            "<Date> <Time> <Level> <Component>: <Content>",
            ParserConfig::default(),
        );
        assert!(p.parse(1, "17/06/09 20:10:40 INFO a.B: hi", false).is_ok());
        assert_eq!(p.layout(), Some(TimeLayout::SlashYyMmDd));
        assert!(matches!(
            p.parse(2, "081109 203615 INFO a.B: hi", false),
            Err(Malformed::BadTimestamp { .. })
        ));
        let mut p = parser("<Level>: <Content>", ParserConfig::default());
        let e = p.parse(1, "INFO: hi", false).expect("no time is fine");
        assert_eq!(
            (e.ts_ms, e.level(), e.message()),
            (None, Some("INFO"), "hi")
        );
    }
}
