//! Presenting results: number formatting, percentiles, medians, the machine
//! description and the final markdown table.

use std::fmt::Write as _;
use std::time::Duration;

/// What a figure must reach to meet its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// No target: the row is there for information.
    None,
    /// `logsync / baseline` must be at least this (throughputs).
    RatioAtLeast(f64),
    /// The logsync figure must be at least this (in the row's unit).
    AtLeast(f64),
    /// The logsync figure must be at most this (in the row's unit).
    AtMost(f64),
}

/// One line of the final table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Benchmark and figure, e.g. `append-batch (bytes written)`.
    pub name: String,
    /// Unit printed after each figure, e.g. `MB/s`.
    pub unit: &'static str,
    /// Decimals to print.
    pub decimals: usize,
    /// The logsync figure.
    pub logsync: f64,
    /// The baseline figure measured in the same run, if there is one.
    pub baseline: Option<f64>,
    /// The target from the issue.
    pub target: Target,
}

impl Row {
    /// `logsync / baseline`.
    pub fn ratio(&self) -> Option<f64> {
        self.baseline.filter(|b| *b > 0.0).map(|b| self.logsync / b)
    }

    /// Whether the target is met; `None` when there is no target (or no
    /// baseline for a ratio target).
    pub fn met(&self) -> Option<bool> {
        match self.target {
            Target::None => None,
            Target::RatioAtLeast(r) => self.ratio().map(|x| x >= r),
            Target::AtLeast(v) => Some(self.logsync >= v),
            Target::AtMost(v) => Some(self.logsync <= v),
        }
    }

    fn figure(&self, v: f64) -> String {
        format!("{} {}", fmt_num(v, self.decimals), self.unit)
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::None => "—".to_owned(),
            Target::RatioAtLeast(r) => format!(">= {}x baseline", fmt_num(r, 2)),
            Target::AtLeast(v) => format!(">= {}", self.figure(v)),
            Target::AtMost(v) => format!("<= {}", self.figure(v)),
        }
    }

    /// The cells of this row in table order.
    fn cells(&self) -> [String; 6] {
        let met = match self.met() {
            None => "n/a",
            Some(true) => "yes",
            Some(false) => "**no**",
        };
        [
            self.name.clone(),
            self.figure(self.logsync),
            self.baseline
                .map_or_else(|| "—".to_owned(), |b| self.figure(b)),
            self.ratio()
                .map_or_else(|| "—".to_owned(), |r| format!("{}x", fmt_num(r, 2))),
            self.target_text(),
            met.to_owned(),
        ]
    }
}

const HEADERS: [&str; 6] = ["benchmark", "logsync", "baseline", "ratio", "target", "met"];

/// The rows as a markdown table with aligned columns (numbers right-aligned).
pub fn markdown_table(rows: &[Row]) -> String {
    let cells: Vec<[String; 6]> = rows.iter().map(Row::cells).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let right = [false, true, true, true, false, false];
    let mut out = String::new();
    let line = |out: &mut String, row: &[String; 6]| {
        out.push('|');
        for ((c, w), r) in row.iter().zip(widths).zip(right) {
            let pad = " ".repeat(w.saturating_sub(c.chars().count()));
            if r {
                let _ = write!(out, " {pad}{c} |");
            } else {
                let _ = write!(out, " {c}{pad} |");
            }
        }
        out.push('\n');
    };
    line(&mut out, &HEADERS.map(str::to_owned));
    out.push('|');
    for (w, r) in widths.iter().zip(right) {
        let dashes = "-".repeat(w.saturating_sub(1));
        if r {
            let _ = write!(out, " {dashes}: |");
        } else {
            let _ = write!(out, " {dashes}- |");
        }
    }
    out.push('\n');
    for row in &cells {
        line(&mut out, row);
    }
    out
}

/// Prints one result line: `=> name: figure unit, baseline .., ratio ..x: target met`.
pub fn print_row(row: &Row) {
    let ratio = row
        .ratio()
        .map(|r| format!(", ratio {}x", fmt_num(r, 2)))
        .unwrap_or_default();
    let baseline = row
        .baseline
        .map(|b| format!(", baseline {} {}", fmt_num(b, row.decimals), row.unit))
        .unwrap_or_default();
    let met = match row.met() {
        Some(true) => ": target met",
        Some(false) => ": TARGET MISSED",
        None => "",
    };
    println!(
        "=> {}: {} {}{baseline}{ratio}{met}",
        row.name,
        fmt_num(row.logsync, row.decimals),
        row.unit
    );
}

/// Prints a suite's heading: its title, the machine, the directory, the
/// `scale` line and the command line.
pub fn print_header(title: &str, directory: &std::path::Path, scale: &str) {
    println!("# {title}");
    println!();
    for (k, v) in machine_description() {
        println!("{k:>9}: {v}");
    }
    println!("{:>9}: {}", "directory", directory.display());
    println!("{:>9}: {scale}", "scale");
    println!(
        "{:>9}: {}",
        "command",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
}

/// `v` with `decimals` decimals and a comma between thousands.
pub fn fmt_num(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// Median of the values (the lower middle one for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// Microseconds as a float.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Milliseconds as a float.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Decimal megabytes per second.
pub fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9)
}

/// Operations per second.
pub fn per_s(count: u64, d: Duration) -> f64 {
    count as f64 / d.as_secs_f64().max(1e-9)
}

/// A byte count for humans (binary units).
pub fn fmt_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {name}")
    }
}

/// The machine, one `key: value` per line: CPUs, CPU model, memory, kernel, date.
pub fn machine_description() -> Vec<(&'static str, String)> {
    let nproc = std::thread::available_parallelism()
        .map_or_else(|_| "unknown".to_owned(), |n| n.to_string());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = proc_field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = proc_field(&meminfo, "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(|| "unknown".to_owned(), |kib| fmt_bytes(kib * 1024));
    let version = std::fs::read_to_string("/proc/version").unwrap_or_default();
    let kernel = kernel_release(&version).unwrap_or_else(|| "unknown".to_owned());
    let date = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    vec![
        ("cpus", nproc),
        ("cpu", model),
        ("memory", memory),
        ("kernel", kernel),
        ("date", date),
    ]
}

/// The value of the first `key : value` line of a `/proc` file.
fn proc_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// `Linux 6.1.0-18-amd64` from `/proc/version`'s `Linux version 6.1.0-18-amd64 (...) ...`.
fn kernel_release(version: &str) -> Option<String> {
    let mut words = version.split_whitespace();
    let os = words.next()?;
    let (_, release) = (words.next()?, words.next()?);
    Some(format!("{os} {release}"))
}

/// Prints the closing `## Results` table and which targets were missed.
pub fn print_results(rows: &[Row]) {
    println!();
    println!("## Results");
    println!();
    print!("{}", markdown_table(rows));
    let missed: Vec<&str> = rows
        .iter()
        .filter(|r| r.met() == Some(false))
        .map(|r| r.name.as_str())
        .collect();
    println!();
    if missed.is_empty() {
        println!("All targets met.");
    } else {
        println!("Targets missed: {}.", missed.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(logsync: f64, baseline: Option<f64>, target: Target) -> Row {
        Row {
            name: "x".into(),
            unit: "MB/s",
            decimals: 1,
            logsync,
            baseline,
            target,
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&samples, 50.0), Some(Duration::from_micros(50)));
        assert_eq!(percentile(&samples, 99.0), Some(Duration::from_micros(99)));
        assert_eq!(percentile(&samples, 99.9), Some(Duration::from_micros(100)));
        assert_eq!(percentile(&samples, 0.0), Some(Duration::from_micros(1)));
        assert_eq!(
            percentile(&samples, 100.0),
            Some(Duration::from_micros(100))
        );
        assert_eq!(
            percentile(&[Duration::from_nanos(7)], 99.9),
            Some(Duration::from_nanos(7))
        );
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn median_takes_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(fmt_num(1_234_567.891, 1), "1,234,567.9");
        assert_eq!(fmt_num(999.0, 0), "999");
        assert_eq!(fmt_num(1000.0, 0), "1,000");
        assert_eq!(fmt_num(0.5, 2), "0.50");
        assert_eq!(fmt_num(-12_345.0, 0), "-12,345");
        assert_eq!(fmt_num(-0.001, 1), "0.0");
    }

    #[test]
    fn targets_are_judged_by_kind() {
        assert_eq!(
            row(70.0, Some(100.0), Target::RatioAtLeast(0.7)).met(),
            Some(true)
        );
        assert_eq!(
            row(69.0, Some(100.0), Target::RatioAtLeast(0.7)).met(),
            Some(false)
        );
        assert_eq!(row(69.0, None, Target::RatioAtLeast(0.7)).met(), None);
        assert_eq!(row(2.0, Some(1.0), Target::AtMost(2.0)).met(), Some(true));
        assert_eq!(row(2.1, None, Target::AtMost(2.0)).met(), Some(false));
        assert_eq!(row(1e6, None, Target::AtLeast(1e6)).met(), Some(true));
        assert_eq!(row(1.0, Some(2.0), Target::None).met(), None);
        assert_eq!(row(1.0, Some(4.0), Target::None).ratio(), Some(0.25));
    }

    #[test]
    fn table_is_markdown_with_aligned_columns() {
        let rows = vec![
            row(1500.0, Some(2000.0), Target::RatioAtLeast(0.7)),
            Row {
                name: "longer name".into(),
                unit: "µs",
                decimals: 2,
                logsync: 3.0,
                baseline: None,
                target: Target::AtMost(2.0),
            },
        ];
        let table = markdown_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(
            lines.iter().all(|l| l.starts_with('|') && l.ends_with('|')),
            "{table}"
        );
        let width = lines.first().map(|l| l.chars().count());
        assert!(
            lines.iter().all(|l| Some(l.chars().count()) == width),
            "columns not aligned:\n{table}"
        );
        assert!(lines.get(1).is_some_and(|l| l.contains("-: |")), "{table}");
        assert!(table.contains("| 1,500.0 MB/s |"), "{table}");
        assert!(table.contains("0.75x"), "{table}");
        assert!(table.contains(">= 0.70x baseline"), "{table}");
        assert!(table.contains("<= 2.00 µs"), "{table}");
        assert!(
            lines
                .get(2)
                .is_some_and(|l| l.trim_end_matches('|').trim_end().ends_with("yes")),
            "{table}"
        );
        assert!(
            lines.get(3).is_some_and(|l| l.contains("**no**")),
            "{table}"
        );
    }

    #[test]
    fn proc_files_are_parsed() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n";
        assert_eq!(
            proc_field(cpuinfo, "model name").as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(proc_field(cpuinfo, "missing"), None);
        let version =
            "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP";
        assert_eq!(
            kernel_release(version).as_deref(),
            Some("Linux 6.1.0-18-amd64")
        );
        assert_eq!(kernel_release(""), None);
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(10 << 30), "10.00 GiB");
    }
}
