//! The miner's saved state: a small text format, versioned and protected by
//! a CRC-32C, that rebuilds the exact same tree.
//!
//! ```text
//! logsync-template-miner 1
//! similarity_threshold 3fe0000000000000      f64 bits, hex (exact)
//! depth 4
//! max_children 100
//! max_templates 100000
//! masks 2
//! mask 10 blk_-?\d+                          byte length, space, the regex
//! mask 29 (\d{1,3}\.){3}\d{1,3}(:\d+)?
//! delimiters 1 61                            count, then code points
//! templates 2
//! t 5 1 4 Receiving Receiving block <*> src: <*>
//! t 1 1 3 <*> PacketResponder <*> terminating
//! end
//! crc32c 1a2b3c4d                            of every byte before this line
//! ```
//!
//! A template line is `t COUNT PATH_LEN TOKEN_COUNT`, then the tree branches
//! from the length node to the template's leaf (`<*>` is the wildcard
//! branch), then the template's tokens (`<*>` is a wildcard). Tokens never
//! hold whitespace, so single spaces separate them. Templates are listed in
//! id order; restoring them in that order along their saved branches gives
//! the same tree, leaf order included, as the miner that saved them.

use std::io::{Read, Write};

use super::mask::{Masker, WILDCARD};
use super::tree::{Branch, Cluster, Tree};
use super::{Miner, MinerConfig, TemplateError};

/// Format version written and read by this build.
pub(crate) const VERSION: u32 = 1;
const MAGIC: &str = "logsync-template-miner";
/// Largest state accepted by [`load`]: far above any real template set
/// (a million templates of 30 tokens), and a bound on what a damaged length
/// could make us allocate.
pub(crate) const MAX_STATE_BYTES: u64 = 1 << 30;
/// `crc32c ` + 8 hex digits + newline.
const CRC_LINE_BYTES: usize = 16;

pub(crate) fn save(miner: &Miner, w: &mut impl Write) -> Result<(), TemplateError> {
    let body = encode(miner);
    let crc = crc32c(body.as_bytes());
    let io = |source| TemplateError::Io {
        op: "writing",
        source,
    };
    w.write_all(body.as_bytes()).map_err(io)?;
    w.write_all(format!("crc32c {crc:08x}\n").as_bytes())
        .map_err(io)?;
    w.flush().map_err(io)
}

fn encode(miner: &Miner) -> String {
    use std::fmt::Write as _;
    let c = &miner.config;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{MAGIC} {VERSION}");
    let _ = writeln!(
        out,
        "similarity_threshold {:016x}",
        c.similarity_threshold.to_bits()
    );
    let _ = writeln!(out, "depth {}", c.depth);
    let _ = writeln!(out, "max_children {}", c.max_children);
    let _ = writeln!(out, "max_templates {}", c.max_templates);
    let _ = writeln!(out, "masks {}", c.masks.len());
    for m in &c.masks {
        let _ = writeln!(out, "mask {} {m}", m.len());
    }
    let _ = write!(out, "delimiters {}", c.delimiters.len());
    for d in &c.delimiters {
        let _ = write!(out, " {}", u32::from(*d));
    }
    out.push('\n');
    let clusters = &miner.tree.clusters;
    let _ = writeln!(out, "templates {}", clusters.len());
    for (cluster, path) in clusters.iter().zip(miner.tree.paths()) {
        let _ = write!(
            out,
            "t {} {} {}",
            cluster.count,
            path.len(),
            cluster.tokens.len()
        );
        for b in &path {
            out.push(' ');
            out.push_str(match b {
                Branch::Token(t) => t,
                Branch::Wildcard => WILDCARD,
            });
        }
        for t in &cluster.tokens {
            out.push(' ');
            out.push_str(t.as_deref().unwrap_or(WILDCARD));
        }
        out.push('\n');
    }
    out.push_str("end\n");
    out
}

pub(crate) fn load(r: &mut impl Read) -> Result<Miner, TemplateError> {
    let mut bytes = Vec::new();
    r.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| TemplateError::Io {
            op: "reading",
            source,
        })?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(TemplateError::StateTooLarge {
            max: MAX_STATE_BYTES,
        });
    }
    // Check the version before the checksum so that a newer format is
    // reported as such, not as damage.
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let first_line = String::from_utf8_lossy(first_line);
    match first_line.split_once(' ') {
        Some((MAGIC, v)) if v.parse() == Ok(VERSION) => {}
        Some((MAGIC, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(TemplateError::UnsupportedVersion {
                found: v.to_owned(),
                supported: VERSION,
            });
        }
        _ => return Err(corrupt(1, "not a template miner state (bad first line)")),
    }
    let split = bytes.len().saturating_sub(CRC_LINE_BYTES);
    let (body, trailer) = bytes.split_at(split);
    let body_lines = body.iter().filter(|b| **b == b'\n').count() as u64;
    let stored = std::str::from_utf8(trailer)
        .ok()
        .and_then(|t| t.strip_prefix("crc32c "))
        .and_then(|t| t.strip_suffix('\n'))
        // Lowercase only, as written: a flipped case bit is damage too.
        .filter(|t| t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .and_then(|t| u32::from_str_radix(t, 16).ok())
        .ok_or_else(|| {
            corrupt(
                body_lines + 1,
                "missing or malformed crc32c line (truncated?)",
            )
        })?;
    let actual = crc32c(body);
    if stored != actual {
        return Err(corrupt(
            body_lines + 1,
            format!("checksum mismatch: stored {stored:08x}, computed {actual:08x}"),
        ));
    }
    let body = std::str::from_utf8(body).map_err(|e| corrupt(1, format!("not UTF-8: {e}")))?;
    decode(body)
}

fn corrupt(line: u64, reason: impl Into<String>) -> TemplateError {
    TemplateError::CorruptState {
        line,
        reason: reason.into(),
    }
}

/// A cursor over the state text that knows its line number.
struct Reader<'a> {
    rest: &'a str,
    line: u64,
}

impl<'a> Reader<'a> {
    fn err(&self, reason: impl Into<String>) -> TemplateError {
        corrupt(self.line, reason)
    }

    /// The next line (without its newline).
    fn line(&mut self) -> Result<&'a str, TemplateError> {
        self.line += 1;
        let (line, rest) = self
            .rest
            .split_once('\n')
            .ok_or_else(|| self.err("unexpected end of state"))?;
        self.rest = rest;
        Ok(line)
    }

    /// The next line, which must be `key value`; returns the value.
    fn keyed(&mut self, key: &str) -> Result<&'a str, TemplateError> {
        let line = self.line()?;
        line.strip_prefix(key)
            .and_then(|v| v.strip_prefix(' '))
            .ok_or_else(|| self.err(format!("expected {key:?}")))
    }

    fn number<T: std::str::FromStr>(&self, s: &str, what: &str) -> Result<T, TemplateError> {
        s.parse().map_err(|_| self.err(format!("bad {what} {s:?}")))
    }

    /// `mask LEN PATTERN`: the pattern may hold any bytes, newlines included.
    fn mask(&mut self) -> Result<String, TemplateError> {
        self.line += 1;
        let after = self
            .rest
            .strip_prefix("mask ")
            .ok_or_else(|| self.err("expected \"mask\""))?;
        let (len, after) = after
            .split_once(' ')
            .ok_or_else(|| self.err("bad mask line"))?;
        let len: usize = self.number(len, "mask length")?;
        let pattern = after
            .get(..len)
            .ok_or_else(|| self.err("mask length runs past the end"))?;
        self.line += pattern.matches('\n').count() as u64;
        self.rest = after
            .get(len..)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or_else(|| self.err("mask not followed by a newline"))?;
        Ok(pattern.to_owned())
    }
}

fn decode(body: &str) -> Result<Miner, TemplateError> {
    let mut r = Reader {
        rest: body,
        line: 0,
    };
    r.line()?; // The magic line, checked by `load`.
    let bits = r.keyed("similarity_threshold")?;
    let bits = u64::from_str_radix(bits, 16)
        .map_err(|_| r.err(format!("bad similarity_threshold {bits:?}")))?;
    let depth = r.keyed("depth")?;
    let depth = r.number(depth, "depth")?;
    let max_children = r.keyed("max_children")?;
    let max_children = r.number(max_children, "max_children")?;
    let max_templates = r.keyed("max_templates")?;
    let max_templates = r.number(max_templates, "max_templates")?;
    let masks = r.keyed("masks")?;
    let masks: usize = r.number(masks, "mask count")?;
    let masks = (0..masks)
        .map(|_| r.mask())
        .collect::<Result<Vec<_>, _>>()?;
    let delimiters = r.keyed("delimiters")?;
    let mut fields = delimiters.split(' ');
    let count: usize = r.number(fields.next().unwrap_or_default(), "delimiter count")?;
    let delimiters = fields
        .map(|f| {
            r.number::<u32>(f, "delimiter")
                .and_then(|c| char::from_u32(c).ok_or_else(|| r.err("bad delimiter code point")))
        })
        .collect::<Result<Vec<char>, _>>()?;
    if delimiters.len() != count {
        return Err(r.err("delimiter count does not match"));
    }
    let config = MinerConfig {
        similarity_threshold: f64::from_bits(bits),
        depth,
        max_children,
        max_templates,
        masks,
        delimiters,
    };
    config.validate()?;
    let masker = Masker::new(&config.masks)?;
    let mut tree = Tree::new(depth, max_children, config.similarity_threshold);

    let count = r.keyed("templates")?;
    let count: u32 = r.number(count, "template count")?;
    if count > max_templates {
        return Err(r.err(format!(
            "{count} templates, more than max_templates = {max_templates}"
        )));
    }
    for _ in 0..count {
        let line = r.keyed("t")?;
        let mut fields = line.split(' ');
        let mut next_number = |what| {
            let f = fields.next().unwrap_or_default();
            r.number::<u64>(f, what)
        };
        let matched = next_number("count")?;
        let path_len = next_number("path length")?;
        let token_count = next_number("token count")?;
        let rest: Vec<&str> = fields.collect();
        if rest.len() as u64 != path_len + token_count
            || rest
                .iter()
                .any(|t| t.is_empty() || t.contains(char::is_whitespace))
        {
            return Err(r.err("template line does not hold the announced tokens"));
        }
        let (path, tokens) = rest.split_at(path_len as usize);
        if path.len() != tree.expected_path_len(tokens.len()) {
            return Err(r.err("tree path length does not fit the depth"));
        }
        let path = path
            .iter()
            .map(|b| match *b {
                WILDCARD => Branch::Wildcard,
                t => Branch::Token(Box::from(t)),
            })
            .collect();
        tree.restore(
            Cluster::from_template(tokens.iter().copied(), matched),
            path,
        );
    }
    if r.line()? != "end" {
        return Err(r.err("expected \"end\" after the templates"));
    }
    if !r.rest.is_empty() {
        return Err(r.err("unexpected data after \"end\""));
    }
    Ok(Miner::from_parts(config, masker, tree))
}

/// CRC-32C (Castagnoli), the checksum Kafka's record batches use.
fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |crc, &b| {
        TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample_miner() -> Miner {
        let config = MinerConfig {
            masks: vec![r"blk_-?\d+".to_owned(), "a\nb".to_owned()],
            delimiters: vec!['=', ','],
            max_children: 3,
            depth: 5,
            ..MinerConfig::default()
        };
        let mut miner = Miner::new(config).expect("valid config");
        for line in [
            "Receiving block blk_1 src x",
            "Receiving block blk_2 src y",
            "alpha q r s",
            "beta q r s",
            "gamma q r s",
            "delta q r s",
            "k=v,w",
            "",
            "one",
        ] {
            miner.add(line);
        }
        miner
    }

    fn saved(miner: &Miner) -> Vec<u8> {
        let mut out = Vec::new();
        miner.save(&mut out).expect("save to memory");
        out
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn save_then_load_round_trips() {
        let miner = sample_miner();
        let bytes = saved(&miner);
        let loaded = Miner::load(&mut bytes.as_slice()).expect("load");
        assert_eq!(loaded.config(), miner.config());
        let a: Vec<_> = miner.templates().collect();
        let b: Vec<_> = loaded.templates().collect();
        assert_eq!(a, b);
        assert_eq!(loaded.tree.paths(), miner.tree.paths());
        assert_eq!(saved(&loaded), bytes);
    }

    #[test]
    fn a_loaded_miner_continues_like_the_original() {
        let mut miner = sample_miner();
        let mut loaded = Miner::load(&mut saved(&miner).as_slice()).expect("load");
        for line in [
            "epsilon q r s",
            "Receiving block blk_3 src z",
            "k=u,w",
            "two",
            "alpha q r t",
        ] {
            let a = miner.add(line);
            let a = (a.id, a.template.to_owned(), a.new, a.generalized);
            let b = loaded.add(line);
            assert_eq!(a, (b.id, b.template.to_owned(), b.new, b.generalized));
        }
    }

    #[test]
    fn any_flipped_byte_or_truncation_is_a_clear_error() {
        let bytes = saved(&sample_miner());
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x20;
            let err = Miner::load(&mut damaged.as_slice()).expect_err("damage detected");
            assert!(
                matches!(
                    err,
                    TemplateError::CorruptState { .. } | TemplateError::UnsupportedVersion { .. }
                ),
                "byte {i}: {err}"
            );
        }
        for len in 0..bytes.len() {
            let err = Miner::load(&mut &bytes[..len]).expect_err("truncation detected");
            assert!(
                matches!(err, TemplateError::CorruptState { .. }),
                "length {len}: {err}"
            );
        }
        let mut damaged = bytes.clone();
        let at = damaged.len() / 2;
        damaged[at] ^= 1;
        let message = Miner::load(&mut damaged.as_slice())
            .expect_err("damage detected")
            .to_string();
        assert!(message.contains("checksum mismatch"), "{message}");
    }

    #[test]
    fn a_newer_version_is_reported_as_such() {
        let mut bytes = saved(&sample_miner());
        let at = MAGIC.len() + 1;
        bytes[at] = b'9';
        let err = Miner::load(&mut bytes.as_slice()).expect_err("version refused");
        assert!(matches!(err, TemplateError::UnsupportedVersion { ref found, .. } if found == "9"));
    }

    #[test]
    fn the_saved_text_is_readable() {
        let text = String::from_utf8(saved(&sample_miner())).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "logsync-template-miner 1");
        assert!(lines.contains(&"t 2 2 5 Receiving block Receiving block <*> src <*>"));
        assert!(lines.contains(&"t 1 0 0"), "the empty template");
        assert!(lines.contains(&"delimiters 2 61 44"));
        assert!(lines[lines.len() - 1].starts_with("crc32c "));
    }

    /// Messages from a small vocabulary, so that templates merge.
    fn messages() -> impl Strategy<Value = Vec<String>> {
        let word = prop::sample::select(vec![
            "open", "close", "file", "blk_7", "x=1", "10.0.0.1", "a,b", "user", "42", "<*>",
        ]);
        let message = prop::collection::vec(word, 0..7).prop_map(|w| w.join(" "));
        prop::collection::vec(message, 0..60)
    }

    fn with_crc(body: &str) -> Vec<u8> {
        format!("{body}crc32c {:08x}\n", crc32c(body.as_bytes())).into_bytes()
    }

    proptest! {
        #[test]
        fn load_of_save_continues_identically(
            before in messages(),
            after in messages(),
            depth in 3u32..7,
            max_children in 2u32..5,
        ) {
            let config = MinerConfig {
                depth,
                max_children,
                delimiters: vec![','],
                ..MinerConfig::default()
            };
            let mut miner = Miner::new(config).expect("valid config");
            for m in &before {
                miner.add(m);
            }
            let bytes = saved(&miner);
            let mut loaded = Miner::load(&mut bytes.as_slice()).expect("load");
            prop_assert_eq!(saved(&loaded), bytes);
            for m in &after {
                let a = miner.add(m);
                let a = (a.id, a.template.to_owned(), a.new, a.generalized);
                let b = loaded.add(m);
                prop_assert_eq!(a, (b.id, b.template.to_owned(), b.new, b.generalized));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            prop_assert!(Miner::load(&mut bytes.as_slice()).is_err());
        }

        #[test]
        fn well_checksummed_garbage_is_an_error_not_a_panic(
            lines in prop::collection::vec(
                prop::sample::select(vec![
                    "depth 4", "depth 99", "max_children 1", "max_templates 0", "max_templates 2", "masks 1", "masks 99",
                    "mask 3 abc", "mask 99 x", "mask 1 ", "delimiters 0", "delimiters 1 0",
                    "delimiters 2 44", "templates 1", "templates 4294967295", "t 1 0 1 a",
                    "t 1 1 1 a a", "t 1 9 1 a", "t x", "end", "",
                    "similarity_threshold 3fe0000000000000", "similarity_threshold 7ff8000000000000",
                ]),
                0..14,
            )
        ) {
            let body = format!("logsync-template-miner 1\n{}\n", lines.join("\n"));
            // Whatever the lines, loading returns an error or a miner, never
            // panics; a miner it returns saves and reloads to itself.
            if let Ok(miner) = Miner::load(&mut with_crc(&body).as_slice()) {
                let bytes = saved(&miner);
                let again = Miner::load(&mut bytes.as_slice()).expect("reload");
                prop_assert_eq!(saved(&again), bytes);
            }
        }
    }
}
