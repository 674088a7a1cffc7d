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

/// A top-level value of a JSON object, as [`top_level`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string, unescaped.
    Str(String),
    /// A number, as written.
    Num(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An object or array (skipped, not read).
    Nested,
}

/// The top-level `(key, value)` pairs of a JSON object, in order; `None` if
/// `text` is not one JSON object. Nested objects and arrays are checked for
/// balance and skipped. Enough to read back the records this crate writes.
#[must_use]
pub fn top_level(text: &str) -> Option<Vec<(String, Value)>> {
    let mut r = Reader {
        b: text.as_bytes(),
        i: 0,
    };
    r.ws();
    r.eat(b'{')?;
    let mut out = Vec::new();
    r.ws();
    if r.peek() == Some(b'}') {
        r.i += 1;
    } else {
        loop {
            r.ws();
            let key = r.string()?;
            r.ws();
            r.eat(b':')?;
            r.ws();
            let value = r.value(0)?;
            out.push((key, value));
            r.ws();
            match r.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    r.ws();
    (r.i == r.b.len()).then_some(out)
}

/// Most nesting levels [`top_level`] skips.
const MAX_NESTING: u32 = 64;

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn ws(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.next()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                self.eat(b'\\')?;
                                self.eat(b'u')?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0;
        for _ in 0..4 {
            v = v * 16 + char::from(self.next()?).to_digit(16)?;
        }
        Some(v)
    }

    fn value(&mut self, depth: u32) -> Option<Value> {
        match self.peek()? {
            b'"' => self.string().map(Value::Str),
            b'{' | b'[' => {
                self.skip_nested(depth)?;
                Some(Value::Nested)
            }
            b't' => self.word(b"true").map(|()| Value::Bool(true)),
            b'f' => self.word(b"false").map(|()| Value::Bool(false)),
            b'n' => self.word(b"null").map(|()| Value::Null),
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.i += 1;
                }
                let n = std::str::from_utf8(self.b.get(start..self.i)?).ok()?;
                n.parse::<f64>().ok().map(|_| Value::Num(n.to_owned()))
            }
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        if self.b.get(self.i..)?.starts_with(w) {
            self.i += w.len();
            Some(())
        } else {
            None
        }
    }

    fn skip_nested(&mut self, depth: u32) -> Option<()> {
        if depth >= MAX_NESTING {
            return None;
        }
        let close = if self.next()? == b'{' { b'}' } else { b']' };
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            if close == b'}' {
                self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
            }
            self.value(depth + 1)?;
            self.ws();
            match self.next()? {
                b',' => {}
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Value, string, top_level};

    #[test]
    fn top_level_reads_back_what_string_writes() {
        let s = "a\"b\\c\nd\u{1}é\t\r😀";
        let obj = format!(
            "{{\"s\":{},\"n\":-1.5e3,\"o\":{{\"x\":[1,{{\"y\":\"}}\"}}]}},\"t\":true,\"z\":null}}",
            string(s)
        );
        let got = top_level(&obj).expect("parses");
        assert_eq!(
            got,
            vec![
                ("s".into(), Value::Str(s.into())),
                ("n".into(), Value::Num("-1.5e3".into())),
                ("o".into(), Value::Nested),
                ("t".into(), Value::Bool(true)),
                ("z".into(), Value::Null),
            ]
        );
        assert_eq!(
            top_level("{\"a\":\"\\ud83d\\ude00\"}").expect("ok"),
            vec![("a".into(), Value::Str("😀".into()))]
        );
        assert_eq!(top_level(" {} "), Some(vec![]));
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1} x",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":[[[[",
            "{\"a\":tru}",
        ] {
            assert_eq!(top_level(bad), None, "{bad:?}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(top_level(&deep), None);
    }

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
