//! Reading an input line by line as bytes: `\n` ends a line, a `\r` before
//! it is dropped (CRLF files), the last line may lack its newline, and a
//! line longer than the limit is cut there (the rest is skipped and the cut
//! reported) so one huge line cannot exhaust memory.

use std::borrow::Cow;
use std::io::{self, BufRead};

/// Default longest line kept whole: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// One line as read.
#[derive(Debug)]
pub struct RawLine<'a> {
    /// Line number, 1-based.
    pub number: u64,
    /// The bytes without `\n` / `\r\n`.
    pub bytes: &'a [u8],
    /// Whether the line was longer than the limit (and cut to it).
    pub truncated: bool,
}

impl RawLine<'_> {
    /// The text, and whether it had to be decoded lossily.
    #[must_use]
    pub fn text(&self) -> (Cow<'_, str>, bool) {
        match std::str::from_utf8(self.bytes) {
            Ok(s) => (Cow::Borrowed(s), false),
            Err(_) => (String::from_utf8_lossy(self.bytes), true),
        }
    }
}

/// Lines of a [`BufRead`], reusing one buffer.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
    max: usize,
    bytes_read: u64,
}

impl<R: BufRead> LineReader<R> {
    /// Lines of `inner`, each cut at [`DEFAULT_MAX_LINE_BYTES`].
    pub fn new(inner: R) -> Self {
        Self::with_max_line(inner, DEFAULT_MAX_LINE_BYTES)
    }

    /// Lines of `inner`, each cut at `max` bytes.
    pub fn with_max_line(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(256),
            number: 0,
            max,
            bytes_read: 0,
        }
    }

    /// Bytes consumed so far (newlines included).
    #[must_use]
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next line, `None` at the end.
    ///
    /// # Errors
    /// The underlying read error.
    pub fn next_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        self.buf.clear();
        let mut truncated = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (available.get(..i).unwrap_or_default(), i + 1, true),
                None => (available, available.len(), false),
            };
            let room = self.max.saturating_sub(self.buf.len());
            if chunk.len() > room {
                truncated = true;
            }
            self.buf
                .extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or_default());
            self.inner.consume(used);
            self.bytes_read += used as u64;
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if !truncated && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        self.number += 1;
        Ok(Some(RawLine {
            number: self.number,
            bytes: &self.buf,
            truncated,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(Vec<u8>, bool)> {
        let mut r = LineReader::with_max_line(io::BufReader::with_capacity(3, input), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().expect("read") {
            out.push((l.bytes.to_vec(), l.truncated));
        }
        assert_eq!(r.bytes_read(), input.len() as u64);
        out
    }

    #[test]
    fn crlf_lf_and_a_missing_final_newline_all_give_the_same_lines() {
        let want = vec![(b"ab".to_vec(), false), (b"c".to_vec(), false)];
        assert_eq!(lines(b"ab\r\nc\r\n", 100), want);
        assert_eq!(lines(b"ab\nc", 100), want);
        assert_eq!(lines(b"ab\r\nc", 100), want);
        assert_eq!(lines(b"", 100), vec![]);
        assert_eq!(lines(b"\n\n", 100), vec![(vec![], false), (vec![], false)]);
        // Only one \r goes, only before \n.
        assert_eq!(
            lines(b"a\r\r\nb\r", 100),
            vec![(b"a\r".to_vec(), false), (b"b".to_vec(), false)]
        );
    }

    #[test]
    fn long_lines_are_cut_and_flagged() {
        assert_eq!(
            lines(b"0123456789\nab\n", 4),
            vec![(b"0123".to_vec(), true), (b"ab".to_vec(), false)]
        );
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily_and_flagged() {
        let l = RawLine {
            number: 1,
            bytes: b"a\xffb",
            truncated: false,
        };
        let (text, lossy) = l.text();
        assert_eq!((text.as_ref(), lossy), ("a\u{fffd}b", true));
    }
}
