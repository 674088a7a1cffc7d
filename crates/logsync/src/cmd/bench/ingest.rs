//! `logsync bench ingest`: raw-log ingestion (issue 5's targets), each figure
//! beside a baseline measured in the same run.
//!
//! The input is a generated HDFS log (10M lines at scale 1, ~140 bytes per
//! line; `logsync gen hdfs`: per-block event sequences from the HDFS
//! sample's templates, interleaved), with its truth file of template ids.
//! Then:
//! - `parse`: one thread reads, matches, converts the timestamp (epoch ms and
//!   ISO-8601) and finds the key of every line; beside `grep -c` on the same
//!   file (the floor: reading and scanning the bytes) and Python's `re`
//!   doing the same field split and timestamp conversion (on at most 1M
//!   lines; skipped with a note when `python3` is missing);
//! - `ingest`: `logsync ingest` of the whole file into a fresh topic, end to
//!   end in its own process, beside the same `grep -c`;
//! - `templates`: the template miner over the messages of up to 1M lines,
//!   with its grouping accuracy against the truth file.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use logsync_ingest::generate::{GenConfig, HDFS_TEMPLATES, write_hdfs};
use logsync_ingest::template::{Miner, MinerConfig};
use logsync_ingest::{Format, LineReader, Parser, ParserConfig};

use super::Options;
use super::report::{
    Row, Target, fmt_bytes, fmt_num, markdown_table, per_s, print_header, print_row,
};
use super::workload::ensure_free_space;

/// Seed of the generator, printed so that a run can be repeated.
const SEED: u64 = 0x6864_6673_2d67_656e;
/// Most lines the Python baseline and the miner are timed on.
const SUBSET_LINES: u64 = 1_000_000;

const BENCHES: [(&str, &str); 3] = [
    (
        "parse",
        "parse a generated HDFS log on one core (fields, epoch ms + ISO time, block key), vs grep -c and Python re",
    ),
    (
        "ingest",
        "logsync ingest of the same file into a new topic, end to end, vs grep -c",
    ),
    ("templates", "template mining (Drain) over the messages"),
];

/// The Python baseline: LogHub's way (a regex with named groups per line),
/// plus the same timestamp conversion and block-id search as ours.
const PYTHON: &str = r#"
import calendar, re, sys, time
LINE = re.compile(r'^(?P<Date>\S+)\s+(?P<Time>\S+)\s+(?P<Pid>\S+)\s+(?P<Level>\S+)\s+(?P<Component>\S+?):\s+(?P<Content>.*)$')
BLK = re.compile(r'blk_-?\d+')
def main():
    path, limit = sys.argv[1], int(sys.argv[2])
    n = bad = acc = 0
    start = time.perf_counter()
    with open(path, 'rb') as f:
        for raw in f:
            if n >= limit:
                break
            n += 1
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            m = LINE.match(line)
            if m is None:
                bad += 1
                continue
            d, t = m.group('Date'), m.group('Time')
            ms = calendar.timegm((2000 + int(d[0:2]), int(d[2:4]), int(d[4:6]), int(t[0:2]), int(t[2:4]), int(t[4:6]), 0, 0, 0)) * 1000
            iso = '20%s-%s-%sT%s:%s:%sZ' % (d[0:2], d[2:4], d[4:6], t[0:2], t[2:4], t[4:6])
            k = BLK.search(m.group('Content'))
            acc += ms + len(iso) + (k is not None)
    print(n, bad, time.perf_counter() - start, acc)
main()
"#;

/// Writes `lines` generated HDFS lines to `path` (`logsync gen hdfs`) and
/// their template ids to `truth`; returns the log's size.
fn generate(path: &Path, truth: &Path, lines: u64) -> anyhow::Result<u64> {
    let create = |p: &Path| {
        std::fs::File::create(p)
            .map(|f| BufWriter::with_capacity(1 << 20, f))
            .with_context(|| format!("creating {}", p.display()))
    };
    let (mut out, mut ids) = (create(path)?, create(truth)?);
    let config = GenConfig {
        seed: SEED,
        malformed: 0.0,
    };
    let report = write_hdfs(&mut out, Some(&mut ids), lines, config)?;
    ids.flush()?;
    Ok(report.bytes)
}

/// Parses every line of `path` on this thread; returns (lines, malformed, time).
fn parse_file(path: &Path) -> anyhow::Result<(u64, u64, Duration)> {
    let mut parser = Parser::new(Format::from_spec("hdfs")?, ParserConfig::default())?;
    let file = std::fs::File::open(path)?;
    let mut reader = LineReader::new(BufReader::with_capacity(1 << 20, file));
    let (mut lines, mut bad, mut acc) = (0u64, 0u64, 0u64);
    let mut iso = String::with_capacity(32);
    let start = Instant::now();
    while let Some(raw) = reader.next_line()? {
        lines += 1;
        let (text, lossy) = raw.text();
        match parser.parse(raw.number, &text, lossy) {
            Ok(e) => {
                iso.clear();
                if let Some(ms) = e.ts_ms {
                    logsync_ingest::timestamp::write_iso(&mut iso, ms, e.subsecond);
                    acc = acc.wrapping_add(ms as u64);
                }
                acc = acc.wrapping_add(iso.len() as u64 + u64::from(e.key().is_some()));
            }
            Err(_) => bad += 1,
        }
    }
    let elapsed = start.elapsed();
    std::hint::black_box(acc);
    Ok((lines, bad, elapsed))
}

/// `grep -c blk_ FILE` (every generated line has a block id): lines/s.
fn grep_count(path: &Path, lines: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    let out = Command::new("grep")
        .env("LC_ALL", "C")
        .args(["-c", "blk_"])
        .arg(path)
        .output()
        .context("running grep")?;
    let elapsed = start.elapsed();
    let counted: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    if counted != lines {
        bail!("grep -c counted {counted} lines, expected {lines}");
    }
    Ok(per_s(lines, elapsed))
}

/// The Python baseline on the first `limit` lines: lines/s, or `None` without python3.
fn python(path: &Path, limit: u64) -> anyhow::Result<Option<f64>> {
    let out = match Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .arg(path)
        .arg(limit.to_string())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context("running python3")),
    };
    if !out.status.success() {
        bail!(
            "python3 baseline failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    let n: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let bad: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(1);
    let secs: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    if n != limit || bad != 0 || secs <= 0.0 {
        bail!("python3 baseline: unexpected output {text:?}");
    }
    Ok(Some(n as f64 / secs))
}

/// `logsync ingest FILE` in its own process on a fresh data dir: lines/s.
fn ingest(path: &Path, data_dir: &Path, lines: u64) -> anyhow::Result<f64> {
    let exe = std::env::current_exe().context("finding the logsync binary")?;
    let start = Instant::now();
    let out = Command::new(exe)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("ingest")
        .arg(path)
        .args(["--format", "hdfs", "--topic", "bench-hdfs", "--json"])
        .output()
        .context("running logsync ingest")?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!(
            "logsync ingest failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stats = String::from_utf8_lossy(&out.stdout);
    if !stats.contains(&format!(
        "\"lines_read\":{lines},\"parsed\":{lines},\"malformed\":0"
    )) {
        bail!("logsync ingest did not parse every line: {stats}");
    }
    Ok(per_s(lines, elapsed))
}

/// Mines the messages of the first `limit` lines: lines/s, templates found,
/// and the grouping accuracy against the generator's truth (LogPAI's
/// measure: a line counts when the lines sharing its mined template are
/// exactly those sharing its true one).
fn mine(path: &Path, truth: &Path, limit: u64) -> anyhow::Result<(f64, usize, f64)> {
    let mut parser = Parser::new(Format::from_spec("hdfs")?, ParserConfig::default())?;
    let file = std::fs::File::open(path)?;
    let mut reader = LineReader::new(BufReader::with_capacity(1 << 20, file));
    let mut messages = Vec::with_capacity(limit as usize);
    while let Some(raw) = reader.next_line()? {
        if messages.len() as u64 >= limit {
            break;
        }
        let (text, lossy) = raw.text();
        match parser.parse(raw.number, &text, lossy) {
            Ok(e) => messages.push(e.message().to_owned()),
            Err(m) => bail!("generated line {} is malformed: {m}", raw.number),
        }
    }
    let config = MinerConfig::for_preset("hdfs").unwrap_or_default();
    let mut miner = Miner::new(config)?;
    let mut mined = Vec::with_capacity(messages.len());
    let start = Instant::now();
    for m in &messages {
        mined.push(miner.add(m).id);
    }
    let elapsed = start.elapsed();
    let truth: Vec<u32> = std::fs::read_to_string(truth)?
        .lines()
        .take(mined.len())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("reading the truth file")?;
    Ok((
        per_s(messages.len() as u64, elapsed),
        miner.len(),
        grouping_accuracy(&mined, &truth),
    ))
}

/// LogPAI's grouping accuracy of `mined` ids against `truth` ids, line by line.
fn grouping_accuracy(mined: &[u32], truth: &[u32]) -> f64 {
    use std::collections::HashMap;
    let mut pairs: HashMap<(u32, u32), u64> = HashMap::new();
    let mut mined_size: HashMap<u32, u64> = HashMap::new();
    let mut truth_size: HashMap<u32, u64> = HashMap::new();
    for (&m, &t) in mined.iter().zip(truth) {
        *pairs.entry((m, t)).or_default() += 1;
        *mined_size.entry(m).or_default() += 1;
        *truth_size.entry(t).or_default() += 1;
    }
    let correct: u64 = pairs
        .iter()
        .filter(|&(&(m, t), &n)| mined_size.get(&m) == Some(&n) && truth_size.get(&t) == Some(&n))
        .map(|(_, &n)| n)
        .sum();
    correct as f64 / mined.len().max(1) as f64
}

/// Runs the suite.
pub fn run(opts: &Options<'_>) -> anyhow::Result<()> {
    let names: Vec<&str> = BENCHES.iter().map(|(n, _)| *n).collect();
    let scratch = opts.prepare("ingest", &names, 10.0)?;
    let want = |name: &str| opts.wants(name);
    let lines = ((10_000_000.0 * opts.scale) as u64).max(10_000);
    let subset = lines.min(SUBSET_LINES);
    print_header(
        "logsync bench ingest",
        scratch.root(),
        &format!(
            "{} ({} generated HDFS lines; seed {SEED:#x})",
            opts.scale,
            fmt_num(lines as f64, 0)
        ),
    );
    // The log (~145 B a line) and, for ingest, a topic of ~3.5x that.
    let need = lines * 145 * if want("ingest") { 5 } else { 1 };
    ensure_free_space(scratch.root(), need, "the generated log")?;
    let work = scratch.subdir("hdfs")?;
    let log = work.join("hdfs.log");
    let truth = work.join("hdfs.truth");
    let started = Instant::now();
    let size = generate(&log, &truth, lines)?;
    println!(
        "\ngenerated {} lines, {} ({:.0} B/line), in {:.1} s",
        fmt_num(lines as f64, 0),
        fmt_bytes(size),
        size as f64 / lines as f64,
        started.elapsed().as_secs_f64()
    );
    // Warm the page cache so every contender reads from memory.
    let grep = grep_count(&log, lines)?;
    let grep = grep.max(grep_count(&log, lines)?);
    println!("grep -c (floor): {} lines/s", fmt_num(grep, 0));

    let mut rows = Vec::new();
    if want("parse") {
        println!("\n## parse: {}", BENCHES[0].1);
        let (n, bad, t) = parse_file(&log)?;
        if bad != 0 || n != lines {
            bail!("parse: {bad} of {n} generated lines malformed");
        }
        let ours = per_s(n, t);
        let py = python(&log, subset)?;
        match py {
            Some(_) => println!(
                "   python3 re baseline timed on the first {} lines",
                fmt_num(subset as f64, 0)
            ),
            None => println!("   note: python3 not found; the Python baseline is skipped"),
        }
        let parse_py = Row {
            name: "parse HDFS, 1 core, vs Python re".into(),
            unit: "lines/s",
            decimals: 0,
            logsync: ours,
            baseline: py,
            target: Target::RatioAtLeast(5.0),
        };
        let parse_grep = Row {
            name: "parse HDFS, 1 core, vs grep -c".into(),
            unit: "lines/s",
            decimals: 0,
            logsync: ours,
            baseline: Some(grep),
            target: Target::AtLeast(1_000_000.0),
        };
        for r in [parse_py, parse_grep] {
            print_row(&r);
            rows.push(r);
        }
    }
    if want("ingest") {
        println!("\n## ingest: {}", BENCHES[1].1);
        let data = work.join("data");
        let ours = ingest(&log, &data, lines)?;
        let r = Row {
            name: "ingest HDFS end to end, vs grep -c".into(),
            unit: "lines/s",
            decimals: 0,
            logsync: ours,
            baseline: Some(grep),
            target: Target::AtLeast(500_000.0),
        };
        print_row(&r);
        rows.push(r);
        let _ = std::fs::remove_dir_all(&data);
    }
    if want("templates") {
        println!("\n## templates: {}", BENCHES[2].1);
        let (rate, templates, accuracy) = mine(&log, &truth, subset)?;
        println!(
            "   {} messages, {templates} templates (the generator uses {}), grouping accuracy {accuracy:.4} against the generator's truth; the Python reference Drain does about 10,000 lines/s (not run here)",
            fmt_num(subset as f64, 0),
            HDFS_TEMPLATES.len()
        );
        let r = Row {
            name: "template mining (HDFS preset)".into(),
            unit: "lines/s",
            decimals: 0,
            logsync: rate,
            baseline: None,
            target: Target::None,
        };
        print_row(&r);
        rows.push(r);
    }
    drop(work);
    println!("\n{}", markdown_table(&rows));
    Ok(())
}
