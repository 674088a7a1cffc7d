//! Statistics of a parsed input: counts, time span, rates, levels, top
//! components and templates, out-of-order stamps; as a table or JSON.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::event::Event;
use crate::json::{self, Value};
use crate::timestamp;

/// How many components and templates the summary lists.
pub const TOP: usize = 10;

/// What the statistics take from one parsed line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed<'a> {
    /// Event time.
    pub ts_ms: Option<i64>,
    /// Whether the stamp had a fractional second.
    pub subsecond: bool,
    /// Level.
    pub level: Option<&'a str>,
    /// Component.
    pub component: Option<&'a str>,
    /// Whether the line has a compaction key.
    pub has_key: bool,
    /// Whether the line was not valid UTF-8.
    pub invalid_utf8: bool,
    /// Template id and text.
    pub template: Option<(u32, &'a str)>,
}

/// Accumulates statistics line by line. Memory grows with the number of
/// distinct levels, components, templates and event seconds, not with lines.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    read: u64,
    parsed: u64,
    malformed: u64,
    invalid_utf8: u64,
    keyless: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    min_ms: Option<i64>,
    max_ms: Option<i64>,
    subsecond: bool,
    out_of_order: u64,
    per_second: HashMap<i64, u64>,
    levels: HashMap<String, u64>,
    components: HashMap<String, u64>,
    templates: HashMap<u32, (String, u64)>,
}

fn bump(map: &mut HashMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

impl Stats {
    /// Counts a parsed line, with its template when mining is on.
    pub fn add_event(&mut self, e: &Event<'_>, template: Option<(u32, &str)>) {
        self.add(&Observed {
            ts_ms: e.ts_ms,
            subsecond: e.subsecond,
            level: e.level(),
            component: e.component(),
            has_key: e.key().is_some(),
            invalid_utf8: e.invalid_utf8,
            template,
        });
    }

    /// Counts a record written by [`Event::write_json`] (read back from a
    /// topic); returns `false`, counting nothing, if `value` is not such a record.
    pub fn add_json_record(&mut self, value: &[u8]) -> bool {
        let Some(pairs) = std::str::from_utf8(value).ok().and_then(json::top_level) else {
            return false;
        };
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let text = |name: &str| match get(name) {
            Some(Value::Str(s)) => Some(s.as_str()),
            _ => None,
        };
        let num = |name: &str| match get(name) {
            Some(Value::Num(n)) => n.parse::<i64>().ok(),
            _ => None,
        };
        if num("line").is_none() || text("message").is_none() {
            return false;
        }
        let template_id = num("template_id").and_then(|id| u32::try_from(id).ok());
        self.add(&Observed {
            ts_ms: num("ts_ms"),
            subsecond: text("ts").is_some_and(|t| t.contains('.')),
            level: text("level"),
            component: text("component"),
            has_key: text("key").is_some(),
            invalid_utf8: matches!(get("invalid_utf8"), Some(Value::Bool(true))),
            template: template_id.zip(text("template")),
        });
        true
    }

    /// Counts a parsed line described by `o`.
    pub fn add(&mut self, o: &Observed<'_>) {
        self.read += 1;
        self.parsed += 1;
        self.invalid_utf8 += u64::from(o.invalid_utf8);
        self.keyless += u64::from(!o.has_key);
        if let Some(ms) = o.ts_ms {
            if self.last_ms.is_some_and(|last| ms < last) {
                self.out_of_order += 1;
            }
            self.first_ms.get_or_insert(ms);
            self.last_ms = Some(ms);
            self.min_ms = Some(self.min_ms.map_or(ms, |m| m.min(ms)));
            self.max_ms = Some(self.max_ms.map_or(ms, |m| m.max(ms)));
            self.subsecond |= o.subsecond;
            *self.per_second.entry(ms.div_euclid(1000)).or_insert(0) += 1;
        }
        if let Some(level) = o.level {
            bump(&mut self.levels, level);
        }
        if let Some(c) = o.component {
            bump(&mut self.components, c);
        }
        if let Some((id, text)) = o.template {
            match self.templates.get_mut(&id) {
                Some(t) => {
                    t.1 += 1;
                    // A template generalises as lines come: keep its latest text.
                    if t.0 != text {
                        text.clone_into(&mut t.0);
                    }
                }
                None => {
                    self.templates.insert(id, (text.to_owned(), 1));
                }
            }
        }
    }

    /// Counts a malformed line.
    pub fn add_malformed(&mut self, invalid_utf8: bool) {
        self.read += 1;
        self.malformed += 1;
        self.invalid_utf8 += u64::from(invalid_utf8);
    }

    /// Lines read.
    #[must_use]
    pub fn read(&self) -> u64 {
        self.read
    }

    /// Lines parsed.
    #[must_use]
    pub fn parsed(&self) -> u64 {
        self.parsed
    }

    /// Malformed lines.
    #[must_use]
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Parsed lines without a compaction key.
    #[must_use]
    pub fn keyless(&self) -> u64 {
        self.keyless
    }

    /// Lines that were not valid UTF-8.
    #[must_use]
    pub fn invalid_utf8(&self) -> u64 {
        self.invalid_utf8
    }

    /// Lines whose time is earlier than the line before them.
    #[must_use]
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// Time of the first and of the last timed line, in file order.
    #[must_use]
    pub fn first_last_ms(&self) -> Option<(i64, i64)> {
        self.first_ms.zip(self.last_ms)
    }

    /// Earliest and latest event time.
    #[must_use]
    pub fn min_max_ms(&self) -> Option<(i64, i64)> {
        self.min_ms.zip(self.max_ms)
    }

    /// Milliseconds from the earliest to the latest event.
    #[must_use]
    pub fn span_ms(&self) -> Option<i64> {
        self.min_max_ms().map(|(a, b)| b - a)
    }

    /// Mean events per second over the span (the span counts at least one second).
    #[must_use]
    pub fn mean_per_s(&self) -> Option<f64> {
        let span = self.span_ms()?;
        let timed: u64 = self.per_second.values().sum();
        Some(timed as f64 / (span as f64 / 1000.0).max(1.0))
    }

    /// The busiest second: (epoch second, events).
    #[must_use]
    pub fn peak_second(&self) -> Option<(i64, u64)> {
        self.per_second
            .iter()
            .map(|(&s, &n)| (s, n))
            .max_by_key(|&(s, n)| (n, std::cmp::Reverse(s)))
    }

    /// Lines per level, most frequent first (ties by name).
    #[must_use]
    pub fn levels(&self) -> Vec<(&str, u64)> {
        top(&self.levels, usize::MAX)
    }

    /// The [`TOP`] components, most frequent first.
    #[must_use]
    pub fn top_components(&self) -> Vec<(&str, u64)> {
        top(&self.components, TOP)
    }

    /// Distinct components.
    #[must_use]
    pub fn components(&self) -> usize {
        self.components.len()
    }

    /// The [`TOP`] templates, most frequent first: (id, template, lines).
    #[must_use]
    pub fn top_templates(&self) -> Vec<(u32, &str, u64)> {
        let mut v: Vec<(u32, &str, u64)> = self
            .templates
            .iter()
            .map(|(&id, (t, n))| (id, t.as_str(), *n))
            .collect();
        v.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        v.truncate(TOP);
        v
    }

    /// Distinct templates.
    #[must_use]
    pub fn templates(&self) -> usize {
        self.templates.len()
    }

    fn iso(&self, ms: i64) -> String {
        timestamp::iso(ms, self.subsecond)
    }

    /// A human-readable table.
    #[must_use]
    pub fn table(&self) -> String {
        let mut out = String::new();
        let pct = |n: u64| 100.0 * n as f64 / self.read.max(1) as f64;
        let _ = writeln!(out, "lines read       {}", self.read);
        let _ = writeln!(
            out,
            "parsed           {} ({:.2}%)",
            self.parsed,
            pct(self.parsed)
        );
        let _ = writeln!(
            out,
            "malformed        {} ({:.2}%)",
            self.malformed,
            pct(self.malformed)
        );
        if self.invalid_utf8 > 0 {
            let _ = writeln!(out, "invalid UTF-8    {}", self.invalid_utf8);
        }
        let _ = writeln!(out, "without key      {}", self.keyless);
        if let (Some((first, last)), Some((min, max))) = (self.first_last_ms(), self.min_max_ms()) {
            let _ = writeln!(out, "first            {}", self.iso(first));
            let _ = writeln!(out, "last             {}", self.iso(last));
            if (min, max) != (first, last) {
                let _ = writeln!(out, "earliest         {}", self.iso(min));
                let _ = writeln!(out, "latest           {}", self.iso(max));
            }
            let _ = writeln!(out, "span             {}", human_span(max - min));
            let _ = writeln!(out, "out of order     {}", self.out_of_order);
            if let Some(mean) = self.mean_per_s() {
                let _ = writeln!(out, "events/s mean    {mean:.3}");
            }
            if let Some((sec, n)) = self.peak_second() {
                let _ = writeln!(
                    out,
                    "events/s peak    {n} (at {})",
                    timestamp::iso(sec * 1000, false)
                );
            }
        }
        let levels = self.levels();
        if !levels.is_empty() {
            let _ = writeln!(out, "levels");
            for (l, n) in levels {
                let _ = writeln!(out, "  {l:<14} {n:>9} {:>7.2}%", pct(n));
            }
        }
        let comps = self.top_components();
        if !comps.is_empty() {
            let _ = writeln!(out, "top components ({} distinct)", self.components.len());
            for (c, n) in comps {
                let _ = writeln!(out, "  {n:>9}  {c}");
            }
        }
        let templates = self.top_templates();
        if !templates.is_empty() {
            let _ = writeln!(out, "top templates ({} distinct)", self.templates.len());
            for (id, t, n) in templates {
                let _ = writeln!(out, "  {n:>9}  #{id}  {t}");
            }
        }
        out
    }

    /// One JSON object.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"lines_read\":{},\"parsed\":{},\"malformed\":{},\"invalid_utf8\":{},\"keyless\":{},\"out_of_order\":{}",
            self.read,
            self.parsed,
            self.malformed,
            self.invalid_utf8,
            self.keyless,
            self.out_of_order
        );
        let opt_ts = |out: &mut String, name: &str, ms: Option<i64>| match ms {
            Some(ms) => {
                let _ = write!(out, ",\"{name}\":\"{}\",\"{name}_ms\":{ms}", self.iso(ms));
            }
            None => {
                let _ = write!(out, ",\"{name}\":null,\"{name}_ms\":null");
            }
        };
        opt_ts(&mut out, "first", self.first_ms);
        opt_ts(&mut out, "last", self.last_ms);
        opt_ts(&mut out, "earliest", self.min_ms);
        opt_ts(&mut out, "latest", self.max_ms);
        match self.span_ms() {
            Some(s) => {
                let _ = write!(out, ",\"span_ms\":{s}");
            }
            None => out.push_str(",\"span_ms\":null"),
        }
        match self.mean_per_s() {
            Some(m) => {
                let _ = write!(out, ",\"events_per_s_mean\":{m:.6}");
            }
            None => out.push_str(",\"events_per_s_mean\":null"),
        }
        match self.peak_second() {
            Some((sec, n)) => {
                let _ = write!(
                    out,
                    ",\"events_per_s_peak\":{n},\"peak_second\":\"{}\"",
                    timestamp::iso(sec * 1000, false)
                );
            }
            None => out.push_str(",\"events_per_s_peak\":null,\"peak_second\":null"),
        }
        out.push_str(",\"levels\":{");
        for (i, (l, n)) in self.levels().into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::push_str(&mut out, l);
            let _ = write!(out, ":{n}");
        }
        let _ = write!(
            out,
            "}},\"components\":{},\"top_components\":[",
            self.components.len()
        );
        for (i, (c, n)) in self.top_components().into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"component\":");
            json::push_str(&mut out, c);
            let _ = write!(out, ",\"lines\":{n}}}");
        }
        let _ = write!(
            out,
            "],\"templates\":{},\"top_templates\":[",
            self.templates.len()
        );
        for (i, (id, t, n)) in self.top_templates().into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"id\":{id},\"template\":");
            json::push_str(&mut out, t);
            let _ = write!(out, ",\"lines\":{n}}}");
        }
        out.push_str("]}");
        out
    }
}

/// Most frequent first, ties by name, at most `n`.
fn top(map: &HashMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = map.iter().map(|(k, &c)| (k.as_str(), c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.truncate(n);
    v
}

/// `1d 2h 3m 4.5s`.
fn human_span(ms: i64) -> String {
    let (d, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (h, rest) = (rest / 3_600_000, rest % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let s = rest as f64 / 1000.0;
    let mut out = String::new();
    if d > 0 {
        let _ = write!(out, "{d}d ");
    }
    if d > 0 || h > 0 {
        let _ = write!(out, "{h}h ");
    }
    if d > 0 || h > 0 || m > 0 {
        let _ = write!(out, "{m}m ");
    }
    let _ = write!(out, "{s}s");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Parser, ParserConfig};

    #[test]
    fn counts_rates_and_disorder_are_kept() {
        let mut p = Parser::new(
            Format::from_spec("hdfs").expect("f"),
            ParserConfig::default(),
        )
        .expect("p");
        let mut s = Stats::default();
        let lines = [
            "081109 203615 1 INFO a.B: x blk_1",
            "081109 203615 1 WARN a.B: x blk_2",
            "081109 203614 1 INFO a.C: y",
            "081109 203620 1 INFO a.B: z blk_1",
        ];
        for (i, l) in lines.iter().enumerate() {
            let e = p.parse(i as u64 + 1, l, false).expect("parses");
            s.add_event(&e, None);
        }
        s.add_malformed(true);
        assert_eq!(
            (s.read(), s.parsed(), s.malformed(), s.invalid_utf8()),
            (5, 4, 1, 1)
        );
        assert_eq!(s.keyless(), 1);
        assert_eq!(s.out_of_order(), 1);
        assert_eq!(s.span_ms(), Some(6000));
        assert_eq!(s.levels(), vec![("INFO", 3), ("WARN", 1)]);
        assert_eq!(s.top_components(), vec![("a.B", 3), ("a.C", 1)]);
        assert_eq!(s.peak_second().map(|p| p.1), Some(2));
        assert_eq!(s.mean_per_s(), Some(4.0 / 6.0));
        let json = s.to_json();
        assert!(
            json.contains("\"levels\":{\"INFO\":3,\"WARN\":1}"),
            "{json}"
        );
        assert!(
            json.contains("\"first\":\"2008-11-09T20:36:15Z\""),
            "{json}"
        );
        assert!(
            json.contains("\"earliest\":\"2008-11-09T20:36:14Z\""),
            "{json}"
        );
        assert!(s.table().contains("out of order     1"), "{}", s.table());
        assert_eq!(human_span(90_061_500), "1d 1h 1m 1.5s");
    }

    #[test]
    fn records_read_back_from_a_topic_count_like_the_events() {
        let mut p = Parser::new(
            Format::from_spec("zookeeper").expect("f"),
            ParserConfig::default(),
        )
        .expect("p");
        let lines = [
            "2015-07-29 17:41:44,747 - INFO  [a:B@1] - x",
            "2015-07-29 17:41:43,000 - WARN  [a:C@1] - y",
        ];
        let (mut direct, mut back) = (Stats::default(), Stats::default());
        for (i, l) in lines.iter().enumerate() {
            let e = p.parse(i as u64 + 1, l, false).expect("parses");
            direct.add_event(&e, Some((7, "x <*>")));
            let mut json = String::new();
            e.write_json(&mut json, Some((7, "x <*>")));
            assert!(back.add_json_record(json.as_bytes()));
        }
        assert_eq!(back.to_json(), direct.to_json());
        assert!(!back.add_json_record(b"not json"));
        assert!(!back.add_json_record(b"{\"a\":1}"));
        assert_eq!(back.read(), 2);
    }
}
