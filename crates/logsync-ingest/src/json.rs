//! JSON string escaping for records (no serde: records are flat and the
//! writer is on the hot path of `parse` and `ingest`).

/// Appends `s` to `out` as a JSON string literal, quotes included.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        if esc.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// `s` as a JSON string literal.
#[must_use]
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::string;

    #[test]
    fn control_characters_quotes_and_backslashes_are_escaped() {
        assert_eq!(
            string("a\"b\\c\nd\u{1}é\t\r"),
            "\"a\\\"b\\\\c\\nd\\u0001é\\t\\r\""
        );
        assert_eq!(string(""), "\"\"");
        assert_eq!(string("\u{7f}"), "\"\u{7f}\"");
    }
}
