//! LogHub format strings compiled into a literal-delimited matcher.
//!
//! `'<Date> <Time> <Pid> <Level> <Component>: <Content>'` becomes a list of
//! atoms: fields, literal byte strings and whitespace runs. Matching follows
//! the regex LogHub builds from the same string (`(?P<Field>.*?)` for a
//! field, `\s+` for a run of spaces, anchored at both ends), without a regex
//! engine: a field ends at the first place where the rest of the pattern
//! matches, found by searching for the delimiter that follows it, and only
//! when the rest fails there is the next occurrence tried (backtracking,
//! bounded by [`STEP_LIMIT`]). On ordinary lines each field costs one short
//! byte search.

use crate::{Error, Result};

/// Most fields a format may have (an event keeps their spans inline).
pub const MAX_FIELDS: usize = 16;

/// Most candidate field ends tried on one line before it is called
/// malformed: a pathological line cannot make matching take long.
pub const STEP_LIMIT: u32 = 4096;

/// One piece of a compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Atom {
    /// The field with this index.
    Field(usize),
    /// These bytes exactly.
    Literal(Box<[u8]>),
    /// One or more ASCII whitespace bytes (greedy).
    Space,
}

/// A compiled format string.
#[derive(Debug, Clone)]
pub struct Pattern {
    atoms: Vec<Atom>,
    names: Vec<String>,
}

/// Why a line does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The line does not have the shape of the format; the field index is
    /// the last field that could be placed (`None`: not even the first).
    Shape(Option<usize>),
    /// [`STEP_LIMIT`] candidate splits were tried without a match.
    TooAmbiguous,
}

/// Byte spans `(start, end)` of each field in a matched line.
pub type Spans = [(u32, u32); MAX_FIELDS];

impl Pattern {
    /// Compiles a LogHub format string: `<Name>` is a field (letters,
    /// digits, `_`), one or more spaces match one or more whitespace bytes,
    /// `\` makes the next character literal (`\[`, `\]`, `\|`, `\\`, `\<`),
    /// anything else is literal.
    ///
    /// # Errors
    /// [`Error::InvalidFormat`] for an unclosed or empty `<`, a bad name, a
    /// name used twice, two fields with nothing between them, no field at
    /// all, or more than [`MAX_FIELDS`] fields.
    pub fn compile(format: &str) -> Result<Pattern> {
        let invalid = |reason: String| Error::InvalidFormat {
            format: format.to_owned(),
            reason,
        };
        let mut atoms: Vec<Atom> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut literal: Vec<u8> = Vec::new();
        let flush = |literal: &mut Vec<u8>, atoms: &mut Vec<Atom>| {
            if !literal.is_empty() {
                atoms.push(Atom::Literal(std::mem::take(literal).into_boxed_slice()));
            }
        };
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '<' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('>') => break,
                            Some(ch) if ch.is_ascii_alphanumeric() || ch == '_' => name.push(ch),
                            Some(ch) => {
                                return Err(invalid(format!(
                                    "{ch:?} in a field name (letters, digits and _ only)"
                                )));
                            }
                            None => return Err(invalid("unclosed '<'".into())),
                        }
                    }
                    if name.is_empty() {
                        return Err(invalid("empty field name '<>'".into()));
                    }
                    if names.contains(&name) {
                        return Err(invalid(format!("field <{name}> appears twice")));
                    }
                    if names.len() == MAX_FIELDS {
                        return Err(invalid(format!("more than {MAX_FIELDS} fields")));
                    }
                    flush(&mut literal, &mut atoms);
                    if matches!(atoms.last(), Some(Atom::Field(_))) {
                        return Err(invalid(format!(
                            "field <{name}> follows another field with nothing between them"
                        )));
                    }
                    atoms.push(Atom::Field(names.len()));
                    names.push(name);
                }
                ' ' => {
                    while chars.peek() == Some(&' ') {
                        chars.next();
                    }
                    flush(&mut literal, &mut atoms);
                    atoms.push(Atom::Space);
                }
                '\\' => match chars.next() {
                    Some(ch) => {
                        let mut buf = [0u8; 4];
                        literal.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    None => return Err(invalid("trailing '\\'".into())),
                },
                ch => {
                    let mut buf = [0u8; 4];
                    literal.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        flush(&mut literal, &mut atoms);
        if names.is_empty() {
            return Err(invalid("no <Field> in it".into()));
        }
        Ok(Pattern { atoms, names })
    }

    /// The field names in order.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The index of the field called `name` (exact, then ASCII case-insensitive).
    #[must_use]
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .position(|n| n == name)
            .or_else(|| self.names.iter().position(|n| n.eq_ignore_ascii_case(name)))
    }

    /// Matches a whole line, filling `spans` with each field's byte range.
    ///
    /// # Errors
    /// A [`Mismatch`] saying how far the line matched.
    pub fn matches(&self, line: &[u8], spans: &mut Spans) -> Result<(), Mismatch> {
        let mut m = Matcher {
            atoms: &self.atoms,
            line,
            steps: 0,
            deepest: None,
        };
        if m.at(0, 0, spans) {
            return Ok(());
        }
        if m.steps >= STEP_LIMIT {
            Err(Mismatch::TooAmbiguous)
        } else {
            Err(Mismatch::Shape(m.deepest))
        }
    }
}

struct Matcher<'a> {
    atoms: &'a [Atom],
    line: &'a [u8],
    steps: u32,
    deepest: Option<usize>,
}

impl Matcher<'_> {
    fn at(&mut self, atom: usize, pos: usize, spans: &mut Spans) -> bool {
        let Some(a) = self.atoms.get(atom) else {
            return pos == self.line.len();
        };
        let rest = self.line.get(pos..).unwrap_or_default();
        match a {
            Atom::Literal(lit) => {
                rest.starts_with(lit) && self.at(atom + 1, pos + lit.len(), spans)
            }
            Atom::Space => {
                let n = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
                n > 0 && self.at(atom + 1, pos + n, spans)
            }
            &Atom::Field(i) => {
                self.deepest = Some(self.deepest.map_or(i, |d| d.max(i)));
                let Some(span) = spans.get_mut(i) else {
                    return false;
                };
                let Some(next) = self.atoms.get(atom + 1) else {
                    // The last field takes the rest of the line.
                    *span = (pos as u32, self.line.len() as u32);
                    return true;
                };
                let mut from = 0;
                while let Some(off) = find_delimiter(next, rest.get(from..).unwrap_or_default()) {
                    let end = pos + from + off;
                    if let Some(span) = spans.get_mut(i) {
                        *span = (pos as u32, end as u32);
                    }
                    if self.at(atom + 1, end, spans) {
                        return true;
                    }
                    self.steps += 1;
                    if self.steps >= STEP_LIMIT {
                        return false;
                    }
                    from += off + 1;
                }
                false
            }
        }
    }
}

/// Where in `hay` the atom after a field can first start.
fn find_delimiter(next: &Atom, hay: &[u8]) -> Option<usize> {
    match next {
        Atom::Space => hay.iter().position(u8::is_ascii_whitespace),
        Atom::Literal(lit) => {
            let (&first, tail) = lit.split_first()?;
            let mut from = 0;
            loop {
                let i = from + hay.get(from..)?.iter().position(|&b| b == first)?;
                if hay.get(i + 1..).is_some_and(|h| h.starts_with(tail)) {
                    return Some(i);
                }
                from = i + 1;
            }
        }
        // Two adjacent fields are rejected by `compile`.
        Atom::Field(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(format: &str, line: &str) -> Option<Vec<String>> {
        let p = Pattern::compile(format).expect("compiles");
        let mut spans = [(0, 0); MAX_FIELDS];
        p.matches(line.as_bytes(), &mut spans).ok()?;
        Some(
            spans
                .iter()
                .take(p.names().len())
                .map(|&(s, e)| line[s as usize..e as usize].to_owned())
                .collect(),
        )
    }

    #[test]
    fn fields_split_at_the_first_delimiter_that_lets_the_rest_match() {
        assert_eq!(
            fields(
                "<Date> <Time> <Pid> <Level> <Component>: <Content>",
                "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1: x"
            ),
            Some(
                [
                    "081109",
                    "203615",
                    "148",
                    "INFO",
                    "dfs.DataNode$PacketResponder"
                ]
                .iter()
                .map(|s| (*s).to_owned())
                .chain(["PacketResponder 1: x".to_owned()])
                .collect()
            )
        );
        // Backtracking: the first "]" is not followed by " - ", the second is.
        assert_eq!(
            fields(r"\[<A>\] - <B>", "[x]y] - z"),
            Some(vec!["x]y".to_owned(), "z".to_owned()])
        );
        // Runs of spaces match runs of whitespace, tabs too.
        assert_eq!(
            fields("<A> <B>", "a \t  b c"),
            Some(vec!["a".to_owned(), "b c".to_owned()])
        );
    }

    #[test]
    fn lines_of_another_shape_do_not_match() {
        assert_eq!(fields("<A> <B>: <C>", "no-colon here"), None);
        assert_eq!(fields(r"\[<A>\]", "[a] trailing"), None);
        assert_eq!(fields(r"\[<A>\]", "a]"), None);
        let p = Pattern::compile("<A> <B>: <C>").expect("compiles");
        let mut spans = [(0, 0); MAX_FIELDS];
        assert_eq!(
            p.matches(b"x y z", &mut spans),
            Err(Mismatch::Shape(Some(1)))
        );
    }

    #[test]
    fn a_pathological_line_hits_the_step_limit() {
        let p = Pattern::compile("<A>:<B>:<C>:<D>:<E>:<F>;<G>").expect("compiles");
        let line = ":".repeat(400);
        let mut spans = [(0, 0); MAX_FIELDS];
        assert_eq!(
            p.matches(line.as_bytes(), &mut spans),
            Err(Mismatch::TooAmbiguous)
        );
    }

    #[test]
    fn bad_format_strings_are_rejected() {
        for bad in [
            "",
            "no fields",
            "<A><B>",
            "<A",
            "<>",
            "<A> <A>",
            "<A-B>",
            "x\\",
        ] {
            assert!(
                matches!(Pattern::compile(bad), Err(Error::InvalidFormat { .. })),
                "{bad:?}"
            );
        }
        let many: String = (0..17).map(|i| format!("<F{i}> ")).collect();
        assert!(Pattern::compile(&many).is_err());
    }
}
