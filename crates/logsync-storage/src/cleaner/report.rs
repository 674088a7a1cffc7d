//! The summary of a topic's clean, as `logsync compact` prints it and the
//! broker's admin endpoint answers it (one place for both).

use std::fmt::Write as _;

use super::CleanReport;

/// One line of text (`compacted T: bytes before ..., after ..., reclaimed
/// ...`), or with `as_json` one JSON object with the totals and every
/// partition's report, newline-terminated.
#[must_use]
pub fn render_topic_clean(topic: &str, reports: &[(u32, CleanReport)], as_json: bool) -> String {
    let sum = |f: fn(&CleanReport) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
    let bytes_before = sum(|r| r.bytes_before);
    let bytes_after = sum(|r| r.bytes_after);
    let records_before = sum(|r| r.records_before);
    let records_after = sum(|r| r.records_after);
    let reclaimed = bytes_before.saturating_sub(bytes_after);
    let seconds = reports
        .iter()
        .map(|(_, r)| r.duration.as_secs_f64())
        .sum::<f64>();
    if !as_json {
        return format!(
            "compacted {topic}: bytes before {bytes_before}, after {bytes_after}, reclaimed {reclaimed}; records before {records_before}, after {records_after} ({seconds:.3} s)\n"
        );
    }
    let parts: Vec<String> = reports
        .iter()
        .map(|(p, r)| {
            format!(
                "{{\"partition\":{p},\"bytes_before\":{},\"bytes_after\":{},\"bytes_reclaimed\":{},\"records_before\":{},\"records_after\":{},\"keys\":{},\"passes\":{},\"tombstones_dropped\":{},\"segments_before\":{},\"segments_after\":{},\"cleaned_upto\":{},\"seconds\":{:.6}}}",
                r.bytes_before,
                r.bytes_after,
                r.bytes_reclaimed(),
                r.records_before,
                r.records_after,
                r.keys,
                r.passes,
                r.tombstones_dropped,
                r.segments_before,
                r.segments_after,
                r.cleaned_upto,
                r.duration.as_secs_f64()
            )
        })
        .collect();
    format!(
        "{{\"topic\":{},\"bytes_before\":{bytes_before},\"bytes_after\":{bytes_after},\"bytes_reclaimed\":{reclaimed},\"records_before\":{records_before},\"records_after\":{records_after},\"seconds\":{seconds:.6},\"partitions\":[{}]}}\n",
        json_string(topic),
        parts.join(",")
    )
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offset::Offset;

    #[test]
    fn text_and_json_sum_the_partitions() {
        let report = |before, after| CleanReport {
            bytes_before: before,
            bytes_after: after,
            records_before: 10,
            records_after: 4,
            cleaned_upto: Offset(10),
            ..CleanReport::default()
        };
        let reports = [(0, report(1000, 400)), (1, report(500, 500))];
        let text = render_topic_clean("t", &reports, false);
        assert!(text.starts_with("compacted t: bytes before 1500, after 900, reclaimed 600; records before 20, after 8"), "{text}");
        let json = render_topic_clean("a\"b", &reports, true);
        assert!(json.starts_with("{\"topic\":\"a\\\"b\",\"bytes_before\":1500,\"bytes_after\":900,\"bytes_reclaimed\":600,"), "{json}");
        assert!(
            json.contains(
                "{\"partition\":1,\"bytes_before\":500,\"bytes_after\":500,\"bytes_reclaimed\":0,"
            ),
            "{json}"
        );
        assert!(json.ends_with("]}\n"));
    }
}
