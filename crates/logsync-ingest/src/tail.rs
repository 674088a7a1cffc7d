//! `tail`: the last lines of a file, read backwards from its end in chunks
//! (never the whole file), and following a file as it grows, is truncated or
//! is replaced (log rotation).
//!
//! Line semantics are GNU `tail -n`'s: a newline ends a line, a final line
//! without one still counts, and the bytes are printed as they are (CRLF
//! included).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Bytes read per step when scanning backwards.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Where the last lines start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailStart {
    /// Byte position of the first byte to print.
    pub position: u64,
    /// Bytes read to find it.
    pub bytes_read: u64,
}

/// Finds where the last `n` lines of the first `len` bytes of `file` start,
/// reading backwards from `len` in [`CHUNK_BYTES`] steps and stopping as soon
/// as `n` line ends are found.
///
/// # Errors
/// The underlying seek or read error.
pub fn last_lines_start<F: Read + Seek>(file: &mut F, len: u64, n: u64) -> io::Result<TailStart> {
    let mut bytes_read = 0u64;
    if n == 0 {
        return Ok(TailStart {
            position: len,
            bytes_read,
        });
    }
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut end = len;
    let mut newlines = 0u64;
    // The newline that ends the last line does not start a line after it.
    let mut skip_last = true;
    while end > 0 {
        let start = end.saturating_sub(CHUNK_BYTES as u64);
        let size = (end - start) as usize;
        let chunk = buf.get_mut(..size).unwrap_or_default();
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        bytes_read += size as u64;
        for (i, &b) in chunk.iter().enumerate().rev() {
            if skip_last {
                skip_last = false;
                if b == b'\n' {
                    continue;
                }
            }
            if b == b'\n' {
                newlines += 1;
                if newlines == n {
                    return Ok(TailStart {
                        position: start + i as u64 + 1,
                        bytes_read,
                    });
                }
            }
        }
        end = start;
    }
    Ok(TailStart {
        position: 0,
        bytes_read,
    })
}

/// Writes the last `n` lines of `path` to `out`; returns the file's length
/// at that moment (where following starts) and how many bytes were read.
///
/// # Errors
/// [`Error::Io`] naming the file, or the write error of `out`.
pub fn write_last_lines(path: &Path, n: u64, out: &mut impl Write) -> Result<(u64, TailStart)> {
    let io_err = |op: &'static str| {
        move |source: io::Error| Error::Io {
            op,
            path: path.to_owned(),
            source,
        }
    };
    let mut file = File::open(path).map_err(io_err("opening"))?;
    let len = file
        .metadata()
        .map_err(io_err("reading metadata of"))?
        .len();
    let start = last_lines_start(&mut file, len, n).map_err(io_err("reading"))?;
    file.seek(SeekFrom::Start(start.position))
        .map_err(io_err("seeking in"))?;
    io::copy(&mut (&mut file).take(len - start.position), out).map_err(io_err("copying"))?;
    Ok((len, start))
}

/// What a [`Follower::poll`] saw besides new bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing unusual.
    None,
    /// The file shrank: reading starts again at its beginning.
    Truncated,
    /// Another file now has the name (rotation): the old one was read to
    /// its end, the new one is read from its beginning.
    Replaced,
}

/// Follows a file by name, as `tail -F` does.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: File,
    id: (u64, u64),
    position: u64,
}

impl Follower {
    /// Follows `path` from byte `position`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened.
    pub fn new(path: &Path, position: u64) -> Result<Follower> {
        let (file, id) = open(path)?;
        Ok(Follower {
            path: path.to_owned(),
            file,
            id,
            position,
        })
    }

    /// The next byte position to read.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Copies what was appended since the last call to `out` (at most
    /// `limit` bytes, so that one call is bounded), then checks whether the
    /// file was truncated or replaced. Returns the bytes copied and the change.
    ///
    /// # Errors
    /// [`Error::Io`], or the write error of `out`.
    pub fn poll(&mut self, out: &mut impl Write, limit: u64) -> Result<(u64, Change)> {
        let copied = self.drain(out, limit)?;
        if copied == limit {
            return Ok((copied, Change::None));
        }
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            // Between the rename and the new file's creation: keep the old one.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((copied, Change::None)),
            Err(source) => {
                return Err(Error::Io {
                    op: "reading metadata of",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        if (meta.dev(), meta.ino()) != self.id {
            let (file, id) = open(&self.path)?;
            self.file = file;
            self.id = id;
            self.position = 0;
            let more = self.drain(out, limit - copied)?;
            return Ok((copied + more, Change::Replaced));
        }
        if meta.len() < self.position {
            self.position = 0;
            let more = self.drain(out, limit - copied)?;
            return Ok((copied + more, Change::Truncated));
        }
        Ok((copied, Change::None))
    }

    fn drain(&mut self, out: &mut impl Write, limit: u64) -> Result<u64> {
        let path = &self.path;
        let io_err = |op| {
            move |source| Error::Io {
                op,
                path: path.clone(),
                source,
            }
        };
        self.file
            .seek(SeekFrom::Start(self.position))
            .map_err(io_err("seeking in"))?;
        let n = io::copy(&mut (&mut self.file).take(limit), out).map_err(io_err("reading"))?;
        self.position += n;
        Ok(n)
    }
}

fn open(path: &Path) -> Result<(File, (u64, u64))> {
    let io_err = |op| {
        move |source| Error::Io {
            op,
            path: path.to_owned(),
            source,
        }
    };
    let file = File::open(path).map_err(io_err("opening"))?;
    let meta = file.metadata().map_err(io_err("reading metadata of"))?;
    Ok((file, (meta.dev(), meta.ino())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tail(data: &[u8], n: u64) -> Vec<u8> {
        let mut c = Cursor::new(data);
        let s = last_lines_start(&mut c, data.len() as u64, n).expect("tail");
        data.get(s.position as usize..).expect("in range").to_vec()
    }

    #[test]
    fn last_lines_follow_gnu_tail() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\nc", 5), b"a\nb\nc");
        assert_eq!(tail(b"a\r\nb\r\n", 1), b"b\r\n");
        assert_eq!(tail(b"a\n\n\n", 2), b"\n\n");
        assert_eq!(tail(b"abc", 0), b"");
        assert_eq!(tail(b"", 3), b"");
        assert_eq!(tail(b"\n", 1), b"\n");
    }

    #[test]
    fn a_big_file_is_read_only_at_its_end() {
        let line = b"0123456789012345678901234567890123456789\n";
        let data: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 200_000)
            .collect();
        let mut c = Cursor::new(&data);
        let s = last_lines_start(&mut c, data.len() as u64, 10).expect("tail");
        assert_eq!(s.position, (data.len() - 10 * line.len()) as u64);
        assert_eq!(s.bytes_read, CHUNK_BYTES as u64);
    }
}
