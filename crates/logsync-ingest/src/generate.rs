//! A generator of realistic HDFS-like logs for benchmarks and tests
//! (`logsync gen hdfs`).
//!
//! Blocks live through the event sequences the HDFS sample shows: a block
//! is allocated, received by two or three data nodes (each `Receiving`,
//! `Received`, `PacketResponder ... terminating`, then `addStoredBlock` on
//! the name node), maybe served, scanned or replicated, and usually deleted
//! (`invalidSet` on the name node, then `Deleting block` on each node).
//! Many blocks are alive at once and their events interleave, as in a real
//! log. Lines look like the sample's (`081109 203615 148 INFO
//! dfs.DataNode$PacketResponder: ...`, ~140 bytes, LF-terminated), the clock
//! moves forward, and the same seed gives the same bytes.
//!
//! Each line's template is known, so a truth file (one template id per
//! line, [`HDFS_TEMPLATES`] numbered from 1, `0` for an injected malformed
//! line) lets template mining be scored on any number of lines.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::timestamp::civil_from_days;

/// The templates of the generated events (id = index + 1), in LogHub's
/// `<*>` notation.
pub const HDFS_TEMPLATES: [&str; 14] = [
    "BLOCK* NameSystem.allocateBlock: <*> <*>",
    "Receiving block <*> src: /<*> dest: /<*>",
    "Received block <*> of size <*> from /<*>",
    "PacketResponder <*> for block <*> terminating",
    "BLOCK* NameSystem.addStoredBlock: blockMap updated: <*> is added to <*> size <*>",
    "<*> Served block <*> to /<*>",
    "<*>:Got exception while serving <*> to /<*>:",
    "Verification succeeded for <*>",
    "BLOCK* NameSystem.delete: <*> is added to invalidSet of <*>",
    "Deleting block <*> file <*>",
    "BLOCK* ask <*> to replicate <*> to datanode(s) <*>",
    "<*> Starting thread to transfer block <*> to <*>",
    "Received block <*> src: /<*> dest: /<*> of size <*>",
    "BLOCK* ask <*> to delete <*>",
];

/// Generator settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenConfig {
    /// Seed of the pseudo-random sequence: the same seed, the same bytes.
    pub seed: u64,
    /// Fraction of lines replaced by malformed ones (0 to 1).
    pub malformed: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            malformed: 0.0,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenReport {
    /// Lines written.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Of the lines, malformed ones.
    pub malformed: u64,
}

/// splitmix64: small, fast, and fully determined by its seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// A data node's address (`10.25x.y.z`).
#[derive(Debug, Clone, Copy)]
struct Node(u32);

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        write!(
            f,
            "10.25{}.{}.{}",
            n % 2,
            (n >> 1) % 256,
            (n >> 9) % 254 + 1
        )
    }
}

/// One pending event of a block.
#[derive(Debug, Clone, Copy)]
enum Step {
    Allocate,
    Receiving(usize),
    Received(usize),
    Responder(usize),
    Stored(usize),
    Served,
    ServeFailed,
    Verified,
    AskReplicate,
    Transfer,
    ReceivedTransfer,
    Invalidate(usize),
    Deleting,
    AskDelete,
}

/// A live block and the events it has left, in order.
#[derive(Debug)]
struct Block {
    id: i64,
    size: u64,
    replicas: Vec<Node>,
    steps: std::collections::VecDeque<Step>,
}

/// Blocks alive at once: their events interleave.
const LIVE_BLOCKS: usize = 48;

/// Writes HDFS-like lines on demand.
#[derive(Debug)]
pub struct HdfsGen {
    rng: Rng,
    malformed: f64,
    /// Seconds since the epoch of the current line.
    clock: i64,
    live: Vec<Block>,
    line: String,
}

impl HdfsGen {
    /// A generator starting at 2008-11-09 20:35:18 UTC, as the sample does.
    #[must_use]
    pub fn new(config: GenConfig) -> Self {
        HdfsGen {
            rng: Rng(config.seed),
            malformed: config.malformed.clamp(0.0, 1.0),
            clock: 1_226_262_918,
            live: Vec::with_capacity(LIVE_BLOCKS),
            line: String::with_capacity(256),
        }
    }

    fn new_block(&mut self) -> Block {
        let rng = &mut self.rng;
        let magnitude = (rng.next() >> 1) as i64;
        let id = if rng.below(2) == 0 {
            magnitude
        } else {
            -magnitude
        };
        let size = if rng.chance(0.8) {
            67_108_864
        } else {
            rng.below(67_108_864)
        };
        let count = if rng.chance(0.85) { 3 } else { 2 };
        let replicas: Vec<Node> = (0..count)
            .map(|_| Node(rng.below(1 << 17) as u32))
            .collect();
        let mut steps = std::collections::VecDeque::new();
        steps.push_back(Step::Allocate);
        for i in 0..count {
            steps.push_back(Step::Receiving(i));
        }
        for i in (0..count).rev() {
            steps.push_back(Step::Received(i));
            steps.push_back(Step::Responder(i));
        }
        for i in 0..count {
            steps.push_back(Step::Stored(i));
        }
        if rng.chance(0.3) {
            for _ in 0..=rng.below(2) {
                steps.push_back(if rng.chance(0.5) {
                    Step::Served
                } else {
                    Step::ServeFailed
                });
            }
        }
        if rng.chance(0.05) {
            steps.push_back(Step::Verified);
        }
        if rng.chance(0.003) {
            steps.push_back(Step::AskReplicate);
            steps.push_back(Step::Transfer);
            steps.push_back(Step::ReceivedTransfer);
        }
        if rng.chance(0.8) {
            for i in 0..count {
                steps.push_back(Step::Invalidate(i));
            }
            if rng.chance(0.01) {
                steps.push_back(Step::AskDelete);
            }
            for _ in 0..count {
                steps.push_back(Step::Deleting);
            }
        }
        Block {
            id,
            size,
            replicas,
            steps,
        }
    }

    /// Appends the next line (with its `\n`) to `out`; returns its template
    /// id (1-based index into [`HDFS_TEMPLATES`]), or 0 for a malformed line.
    pub fn next_line(&mut self, out: &mut Vec<u8>) -> u32 {
        while self.live.len() < LIVE_BLOCKS {
            let block = self.new_block();
            self.live.push(block);
        }
        if self.rng.chance(0.15) {
            self.clock += 1 + self.rng.below(2) as i64;
        }
        if self.malformed > 0.0 && self.rng.chance(self.malformed) {
            self.malformed_line(out);
            return 0;
        }
        let index = self.rng.below(self.live.len() as u64) as usize;
        let Some(step) = self.live.get_mut(index).and_then(|b| b.steps.pop_front()) else {
            // Never empty: finished blocks are replaced below.
            return self.next_line(out);
        };
        let template = self.render(index, step);
        if self.live.get(index).is_some_and(|b| b.steps.is_empty()) {
            let block = self.new_block();
            if let Some(slot) = self.live.get_mut(index) {
                *slot = block;
            }
        }
        out.extend_from_slice(self.line.as_bytes());
        template
    }

    /// The line header: `yyMMdd HHmmss pid LEVEL component: `.
    fn header(&mut self, level: &str, component: &str) {
        let days = self.clock.div_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let t = self.clock.rem_euclid(86_400);
        let pids = if self.rng.chance(0.7) { 40 } else { 30_000 };
        let pid = 1 + self.rng.below(pids);
        self.line.clear();
        let _ = write!(
            self.line,
            "{:02}{m:02}{d:02} {:02}{:02}{:02} {pid} {level} {component}: ",
            y.rem_euclid(100),
            t / 3600,
            t / 60 % 60,
            t % 60,
        );
    }

    /// Writes the line of `step` of the block at `index` into `self.line`.
    fn render(&mut self, index: usize, step: Step) -> u32 {
        let Some(block) = self.live.get(index) else {
            return 0;
        };
        let (id, size) = (block.id, block.size);
        let replicas = block.replicas.clone();
        let node = |i: usize| replicas.get(i).copied().unwrap_or(Node(0));
        let client = Node(self.rng.below(1 << 17) as u32);
        let port = 30_000 + self.rng.below(35_000);
        let (level, component) = match step {
            Step::Allocate
            | Step::Stored(_)
            | Step::Invalidate(_)
            | Step::AskReplicate
            | Step::AskDelete => ("INFO", "dfs.FSNamesystem"),
            Step::Receiving(_) | Step::ReceivedTransfer | Step::Served => {
                ("INFO", "dfs.DataNode$DataXceiver")
            }
            Step::ServeFailed => ("WARN", "dfs.DataNode$DataXceiver"),
            Step::Received(_) | Step::Responder(_) => ("INFO", "dfs.DataNode$PacketResponder"),
            Step::Verified => ("INFO", "dfs.DataBlockScanner"),
            Step::Transfer => ("INFO", "dfs.DataNode"),
            Step::Deleting => ("INFO", "dfs.FSDataset"),
        };
        self.header(level, component);
        let line = &mut self.line;
        let template = match step {
            Step::Allocate => {
                let job = match self.rng.below(3) {
                    0 => "rand",
                    1 => "randtxt",
                    _ => "sortrand",
                };
                let suffix = if self.rng.chance(0.5) {
                    String::new()
                } else {
                    (1 + self.rng.below(9)).to_string()
                };
                let kind = if job == "sortrand" { 'r' } else { 'm' };
                let _ = write!(
                    line,
                    "BLOCK* NameSystem.allocateBlock: /user/root/{job}{suffix}/_temporary/_task_200811092030_{:04}_{kind}_{:06}_0/part-{:05}. blk_{id}",
                    1 + self.rng.below(9),
                    self.rng.below(2000),
                    self.rng.below(2000)
                );
                1
            }
            Step::Receiving(i) => {
                let from = if i == 0 { client } else { node(i - 1) };
                let _ = write!(
                    line,
                    "Receiving block blk_{id} src: /{from}:{port} dest: /{}:50010",
                    node(i)
                );
                2
            }
            Step::Received(i) => {
                let from = if i == 0 { client } else { node(i - 1) };
                let _ = write!(line, "Received block blk_{id} of size {size} from /{from}");
                3
            }
            Step::Responder(i) => {
                let _ = write!(line, "PacketResponder {i} for block blk_{id} terminating");
                4
            }
            Step::Stored(i) => {
                let _ = write!(
                    line,
                    "BLOCK* NameSystem.addStoredBlock: blockMap updated: {}:50010 is added to blk_{id} size {size}",
                    node(i)
                );
                5
            }
            Step::Served => {
                let _ = write!(line, "{}:50010 Served block blk_{id} to /{client}", node(0));
                6
            }
            Step::ServeFailed => {
                let _ = write!(
                    line,
                    "{}:50010:Got exception while serving blk_{id} to /{client}:",
                    node(0)
                );
                7
            }
            Step::Verified => {
                let _ = write!(line, "Verification succeeded for blk_{id}");
                8
            }
            Step::AskReplicate => {
                let _ = write!(
                    line,
                    "BLOCK* ask {}:50010 to replicate blk_{id} to datanode(s) {client}:50010",
                    node(0)
                );
                11
            }
            Step::Transfer => {
                let _ = write!(
                    line,
                    "{}:50010 Starting thread to transfer block blk_{id} to {client}:50010",
                    node(0)
                );
                12
            }
            Step::ReceivedTransfer => {
                let _ = write!(
                    line,
                    "Received block blk_{id} src: /{}:{port} dest: /{client}:50010 of size {size}",
                    node(0)
                );
                13
            }
            Step::Invalidate(i) => {
                let _ = write!(
                    line,
                    "BLOCK* NameSystem.delete: blk_{id} is added to invalidSet of {}:50010",
                    node(i)
                );
                9
            }
            Step::AskDelete => {
                let _ = write!(line, "BLOCK* ask {}:50010 to delete blk_{id}", node(0));
                14
            }
            Step::Deleting => {
                let _ = write!(
                    line,
                    "Deleting block blk_{id} file /mnt/hadoop/dfs/data/current/subdir{}/blk_{id}",
                    self.rng.below(64)
                );
                10
            }
        };
        line.push('\n');
        template
    }

    /// A line that no HDFS parser should accept: a cut line, an impossible
    /// date, or bytes that are not text.
    fn malformed_line(&mut self, out: &mut Vec<u8>) {
        match self.rng.below(3) {
            0 => out.extend_from_slice(b"081109 2036\n"),
            1 => {
                out.extend_from_slice(
                    b"081399 256199 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_1 terminating\n",
                );
            }
            _ => {
                for _ in 0..16 {
                    out.push(0x80 | (self.rng.below(64) as u8));
                }
                out.push(b'\n');
            }
        }
    }
}

/// Writes `lines` lines to `out`, and each line's template id (one per line,
/// `0` for malformed) to `truth` when given.
///
/// # Errors
/// Write errors of `out` or `truth`.
pub fn write_hdfs(
    out: &mut dyn Write,
    mut truth: Option<&mut dyn Write>,
    lines: u64,
    config: GenConfig,
) -> io::Result<GenReport> {
    let mut generator = HdfsGen::new(config);
    let mut report = GenReport::default();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut ids = String::new();
    for _ in 0..lines {
        let template = generator.next_line(&mut buf);
        report.lines += 1;
        report.malformed += u64::from(template == 0);
        if truth.is_some() {
            let _ = writeln!(ids, "{template}");
        }
        if buf.len() >= (1 << 20) - 512 {
            out.write_all(&buf)?;
            report.bytes += buf.len() as u64;
            buf.clear();
            if let Some(t) = truth.as_mut() {
                t.write_all(ids.as_bytes())?;
                ids.clear();
            }
        }
    }
    out.write_all(&buf)?;
    report.bytes += buf.len() as u64;
    if let Some(t) = truth.as_mut() {
        t.write_all(ids.as_bytes())?;
    }
    out.flush()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Parser, ParserConfig};

    fn generate(lines: u64, config: GenConfig) -> (Vec<u8>, Vec<u32>) {
        let mut out = Vec::new();
        let mut truth = Vec::new();
        let report = write_hdfs(&mut out, Some(&mut truth), lines, config).expect("in memory");
        assert_eq!(report.lines, lines);
        assert_eq!(report.bytes, out.len() as u64);
        let ids = String::from_utf8(truth)
            .expect("ids")
            .lines()
            .map(|l| l.parse().expect("an id"))
            .collect();
        (out, ids)
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_others() {
        let config = GenConfig {
            seed: 7,
            malformed: 0.01,
        };
        assert_eq!(generate(5000, config), generate(5000, config));
        let other = GenConfig { seed: 8, ..config };
        assert_ne!(generate(5000, config).0, generate(5000, other).0);
    }

    #[test]
    fn lines_parse_as_hdfs_with_their_block_key_and_match_their_template() {
        let (out, ids) = generate(20_000, GenConfig::default());
        let text = String::from_utf8(out).expect("no malformed lines asked for");
        let mut parser = Parser::new(
            Format::from_spec("hdfs").expect("preset"),
            ParserConfig::default(),
        )
        .expect("parser");
        let mut seen = [0u32; HDFS_TEMPLATES.len()];
        let mut last_ms = i64::MIN;
        let mut bytes = 0;
        for (n, (line, &id)) in text.lines().zip(&ids).enumerate() {
            bytes += line.len() + 1;
            let event = parser.parse(n as u64 + 1, line, false).expect("parses");
            let key = event.key().expect("a block id");
            assert!(line.contains(key), "{line}");
            let ms = event.ts_ms.expect("a time");
            assert!(ms >= last_ms, "the clock moves forward: {line}");
            last_ms = ms;
            let template = HDFS_TEMPLATES[id as usize - 1];
            assert!(
                matches_template(template, event.message()),
                "{template:?} vs {line:?}"
            );
            seen[id as usize - 1] += 1;
        }
        assert_eq!(ids.len(), 20_000);
        let mean = bytes / 20_000;
        assert!(
            (120..=170).contains(&mean),
            "~140 bytes per line, got {mean}"
        );
        // The common events are all there, in the sample's rough proportions.
        for (i, count) in seen.iter().enumerate().take(10) {
            assert!(*count > 0, "template {} never generated", i + 1);
        }
        assert!(
            seen[4] > seen[0] * 2,
            "each block is stored on 2-3 nodes: {seen:?}"
        );
    }

    #[test]
    fn malformed_lines_are_marked_and_never_parse() {
        let (out, ids) = generate(
            10_000,
            GenConfig {
                seed: 3,
                malformed: 0.02,
            },
        );
        let mut parser = Parser::new(
            Format::from_spec("hdfs").expect("preset"),
            ParserConfig::default(),
        )
        .expect("parser");
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), ids.len());
        let mut malformed = 0;
        for (n, (line, &id)) in lines.iter().zip(&ids).enumerate() {
            let text = String::from_utf8_lossy(line);
            let parsed = parser.parse(n as u64 + 1, &text, false);
            assert_eq!(parsed.is_err(), id == 0, "line {n}: {text:?}");
            malformed += u32::from(id == 0);
        }
        assert!((100..=300).contains(&malformed), "{malformed}");
    }

    /// `<*>` matches one run of non-space characters or part of one.
    fn matches_template(template: &str, message: &str) -> bool {
        let pattern = regex::escape(template).replace(r"<\*>", r"\S+");
        regex::Regex::new(&format!("^{pattern}$"))
            .expect("pattern")
            .is_match(message)
    }
}
