//! The six LogHub 2k samples parse completely with the right fields and
//! times; malformed lines are counted and kept; statistics hold the known
//! figures (HDFS levels and blocks, Apache's 33 backward steps).

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;
use std::path::PathBuf;

use logsync_ingest::{Format, KeyChoice, LineReader, Malformed, Parser, ParserConfig, Stats, Zone};

/// `testdata/loghub/NAME_2k.log` of the repository (LogHub's 2k samples,
/// byte for byte; see its README).
fn sample(system: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/loghub")
        .join(format!("{system}_2k.log"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; these tests need the LogHub samples in testdata/loghub",
            path.display()
        )
    })
}

/// What a test checks of one parsed line.
#[derive(Debug, Clone, PartialEq)]
struct Owned {
    line: u64,
    ts_ms: Option<i64>,
    iso: Option<String>,
    level: Option<String>,
    component: Option<String>,
    pid: Option<String>,
    node: Option<String>,
    message: String,
    key: Option<String>,
    fields: Vec<(String, String)>,
}

struct Run {
    events: Vec<Owned>,
    malformed: Vec<(u64, Vec<u8>, Malformed)>,
    stats: Stats,
}

fn config(system: &str) -> ParserConfig {
    match system {
        "BGL" => ParserConfig {
            zone: Zone::named("America/Los_Angeles").expect("tz"),
            ..ParserConfig::default()
        },
        "OpenSSH" => ParserConfig {
            year: Some(2015),
            ..ParserConfig::default()
        },
        _ => ParserConfig::default(),
    }
}

fn run(spec: &str, input: &[u8], config: ParserConfig) -> Run {
    let mut parser = Parser::new(Format::from_spec(spec).expect("format"), config).expect("parser");
    let mut reader = LineReader::new(BufReader::new(input));
    let mut out = Run {
        events: Vec::new(),
        malformed: Vec::new(),
        stats: Stats::default(),
    };
    while let Some(raw) = reader.next_line().expect("read") {
        let (text, lossy) = raw.text();
        match parser.parse(raw.number, &text, lossy) {
            Ok(e) => {
                out.stats.add_event(&e, None);
                out.events.push(Owned {
                    line: e.line,
                    ts_ms: e.ts_ms,
                    iso: e.iso(),
                    level: e.level().map(str::to_owned),
                    component: e.component().map(str::to_owned),
                    pid: e.pid().map(str::to_owned),
                    node: e.node().map(str::to_owned),
                    message: e.message().to_owned(),
                    key: e.key().map(str::to_owned),
                    fields: e
                        .fields()
                        .map(|(n, v)| (n.to_owned(), v.to_owned()))
                        .collect(),
                });
            }
            Err(m) => {
                out.stats.add_malformed(lossy);
                out.malformed.push((raw.number, raw.bytes.to_vec(), m));
            }
        }
    }
    out
}

const SYSTEMS: [(&str, &str); 6] = [
    ("HDFS", "hdfs"),
    ("BGL", "bgl"),
    ("Zookeeper", "zookeeper"),
    ("OpenSSH", "openssh"),
    ("Apache", "apache"),
    ("Spark", "spark"),
];

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn every_line_of_every_sample_parses_with_a_time_and_a_key() {
    for (system, preset) in SYSTEMS {
        let r = run(preset, &sample(system), config(system));
        assert!(
            r.malformed.is_empty(),
            "{system}: {:?}",
            r.malformed.first()
        );
        assert_eq!(r.events.len(), 2000, "{system}");
        assert_eq!(r.stats.read(), 2000, "{system}");
        for (i, e) in r.events.iter().enumerate() {
            assert_eq!(e.line, i as u64 + 1, "{system}");
            assert!(e.ts_ms.is_some(), "{system} line {}", e.line);
            assert!(
                e.key.as_deref().is_some_and(|k| !k.is_empty()),
                "{system} line {}",
                e.line
            );
            assert!(!e.message.ends_with('\r'), "{system} line {}", e.line);
            assert!(!e.message.is_empty(), "{system} line {}", e.line);
        }
    }
}

#[test]
fn golden_lines_have_the_right_fields() {
    let first = |system: &str, preset: &str, n: usize| {
        let r = run(preset, &sample(system), config(system));
        r.events.get(n - 1).cloned().expect("line exists")
    };
    let e = first("HDFS", "hdfs", 1);
    assert_eq!(
        e.fields,
        fields(&[
            ("Date", "081109"),
            ("Time", "203615"),
            ("Pid", "148"),
            ("Level", "INFO"),
            ("Component", "dfs.DataNode$PacketResponder"),
            (
                "Content",
                "PacketResponder 1 for block blk_38865049064139660 terminating"
            ),
        ])
    );
    assert_eq!(e.pid.as_deref(), Some("148"));
    assert_eq!(e.key.as_deref(), Some("blk_38865049064139660"));
    assert_eq!(
        first("HDFS", "hdfs", 2).key.as_deref(),
        Some("blk_-6952295868487656571")
    );

    let e = first("BGL", "bgl", 1);
    assert_eq!(
        e.fields,
        fields(&[
            ("Label", "-"),
            ("Timestamp", "1117838570"),
            ("Date", "2005.06.03"),
            ("Node", "R02-M1-N0-C:J12-U11"),
            ("Time", "2005-06-03-15.42.50.675872"),
            ("NodeRepeat", "R02-M1-N0-C:J12-U11"),
            ("Type", "RAS"),
            ("Component", "KERNEL"),
            ("Level", "INFO"),
            ("Content", "instruction cache parity error corrected"),
        ])
    );
    assert_eq!(e.node.as_deref(), Some("R02-M1-N0-C:J12-U11"));
    assert_eq!(e.key, e.node);

    // LogHub's lazy fields: <Node> ends at the first ':' (as in LogHub's
    // structured files), the component takes the rest up to '@'.
    let e = first("Zookeeper", "zookeeper", 2);
    assert_eq!(
        e.fields,
        fields(&[
            ("Date", "2015-07-29"),
            ("Time", "19:04:12,394"),
            ("Level", "INFO"),
            ("Node", "/10.10.34.11"),
            ("Component", "3888:QuorumCnxManager$Listener"),
            ("Id", "493"),
            ("Content", "Received connection request /10.10.34.11:45307"),
        ])
    );
    assert_eq!(e.iso.as_deref(), Some("2015-07-29T19:04:12.394Z"));

    let e = first("OpenSSH", "openssh", 2);
    assert_eq!(
        e.fields,
        fields(&[
            ("Date", "Dec"),
            ("Day", "10"),
            ("Time", "06:55:46"),
            ("Component", "LabSZ"),
            ("Pid", "24200"),
            ("Content", "Invalid user webmaster from 173.234.31.186"),
        ])
    );
    assert_eq!(e.key.as_deref(), Some("24200"));

    let e = first("Apache", "apache", 2);
    assert_eq!(
        e.fields,
        fields(&[
            ("Time", "Sun Dec 04 04:47:44 2005"),
            ("Level", "error"),
            ("Content", "mod_jk child workerEnv in error state 6"),
        ])
    );

    let e = first("Spark", "spark", 1);
    assert_eq!(
        e.fields,
        fields(&[
            ("Date", "17/06/09"),
            ("Time", "20:10:40"),
            ("Level", "INFO"),
            ("Component", "executor.CoarseGrainedExecutorBackend"),
            ("Content", "Registered signal handlers for [TERM, HUP, INT]"),
        ])
    );
}

#[test]
fn golden_first_and_last_timestamps() {
    let want = [
        ("HDFS", "2008-11-09T20:36:15Z", "2008-11-11T10:20:17Z"),
        (
            "BGL",
            "2005-06-03T22:42:50.675Z",
            "2006-01-03T15:13:09.127Z",
        ),
        (
            "Zookeeper",
            "2015-07-29T17:41:44.747Z",
            "2015-08-10T18:12:34.004Z",
        ),
        ("OpenSSH", "2015-12-10T06:55:46Z", "2015-12-10T11:04:45Z"),
        ("Apache", "2005-12-04T04:47:44Z", "2005-12-05T19:15:57Z"),
        ("Spark", "2017-06-09T20:10:40Z", "2017-06-09T20:11:11Z"),
    ];
    for ((system, preset), (name, first, last)) in SYSTEMS.iter().zip(want) {
        assert_eq!(*system, name);
        let r = run(preset, &sample(system), config(system));
        let iso = |i: usize| r.events.get(i).and_then(|e| e.iso.clone());
        assert_eq!(iso(0).as_deref(), Some(first), "{system}");
        assert_eq!(iso(1999).as_deref(), Some(last), "{system}");
    }
}

#[test]
fn bgl_local_time_in_los_angeles_agrees_with_its_epoch_field() {
    let r = run("bgl", &sample("BGL"), config("BGL"));
    for e in &r.events {
        let epoch: i64 = e
            .fields
            .iter()
            .find(|(n, _)| n == "Timestamp")
            .and_then(|(_, v)| v.parse().ok())
            .expect("epoch field");
        assert_eq!(
            e.ts_ms.map(|ms| ms.div_euclid(1000)),
            Some(epoch),
            "line {}",
            e.line
        );
    }
    // Read as UTC (no --tz) the same stamps are 7 or 8 hours off.
    let utc = run("bgl", &sample("BGL"), ParserConfig::default());
    let first = utc.events.first().and_then(|e| e.ts_ms).expect("ts");
    assert_eq!(first, 1_117_838_570_675 - 7 * 3_600_000);
}

#[test]
fn hdfs_has_the_known_levels_and_block_count() {
    let r = run("hdfs", &sample("HDFS"), ParserConfig::default());
    assert_eq!(r.stats.levels(), vec![("INFO", 1920), ("WARN", 80)]);
    let keys: HashSet<&str> = r.events.iter().filter_map(|e| e.key.as_deref()).collect();
    assert_eq!(keys.len(), 1994);
    assert!(keys.iter().all(|k| k.starts_with("blk_")));
    assert_eq!(r.stats.keyless(), 0);
}

#[test]
fn statistics_of_the_samples() {
    let r = run("apache", &sample("Apache"), config("Apache"));
    assert_eq!(r.stats.out_of_order(), 33);
    let r = run("hdfs", &sample("HDFS"), ParserConfig::default());
    assert_eq!(r.stats.out_of_order(), 0);
    assert_eq!(
        r.stats.first_last_ms(),
        Some((1_226_262_975_000, 1_226_398_817_000))
    );
    let r = run("spark", &sample("Spark"), ParserConfig::default());
    let top = r.stats.top_components();
    // As `awk '{print $4}' Spark_2k.log | sort | uniq -c | sort -rn` counts.
    assert_eq!(
        top.get(..3),
        Some(
            &[
                ("executor.Executor", 606),
                ("python.PythonRunner", 375),
                ("executor.CoarseGrainedExecutorBackend", 308)
            ][..]
        )
    );
}

#[test]
fn a_custom_format_string_reads_the_samples_like_the_preset() {
    let specs = [
        ("HDFS", "<Date> <Time> <Pid> <Level> <Component>: <Content>"),
        (
            "Zookeeper",
            r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
        ),
        ("Apache", r"\[<Time>\] \[<Level>\] <Content>"),
        ("Spark", "<Date> <Time> <Level> <Component>: <Content>"),
    ];
    for (system, spec) in specs {
        let preset = SYSTEMS
            .iter()
            .find(|s| s.0 == system)
            .map(|s| s.1)
            .expect("known");
        let custom = run(spec, &sample(system), ParserConfig::default());
        let builtin = run(preset, &sample(system), ParserConfig::default());
        assert!(custom.malformed.is_empty(), "{system}");
        let times = |r: &Run| r.events.iter().map(|e| e.ts_ms).collect::<Vec<_>>();
        assert_eq!(times(&custom), times(&builtin), "{system}");
        let fields = |r: &Run| {
            r.events
                .iter()
                .map(|e| e.fields.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(&custom), fields(&builtin), "{system}");
    }
}

#[test]
fn injected_malformed_lines_are_counted_and_kept_with_their_bytes() {
    let mut input = sample("HDFS");
    let bad: [&[u8]; 4] = [
        b"garbage without structure\r\n",
        b"081109 203615 148 INFO dfs.X no colon\r\n",
        b"081332 203615 148 INFO dfs.X: month 13\r\n",
        b"081109 203615 148 INFO dfs.X: invalid \xff utf-8 but well formed\r\n",
    ];
    // Insert after lines 10, 20, 30 and 40 of the sample.
    let mut lines: Vec<Vec<u8>> = input
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    for (i, b) in bad.iter().enumerate().rev() {
        lines.insert((i + 1) * 10, b.to_vec());
    }
    input = lines.concat();
    let r = run("hdfs", &input, ParserConfig::default());
    assert_eq!(r.stats.read(), 2004);
    assert_eq!(r.stats.parsed(), 2001);
    assert_eq!(r.stats.malformed(), 3);
    assert_eq!(r.stats.invalid_utf8(), 1);
    let got: Vec<(u64, &[u8])> = r
        .malformed
        .iter()
        .map(|(n, b, _)| (*n, b.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            (11, &b"garbage without structure"[..]),
            (22, &b"081109 203615 148 INFO dfs.X no colon"[..]),
            (33, &b"081332 203615 148 INFO dfs.X: month 13"[..]),
        ]
    );
    assert!(matches!(
        r.malformed.get(2).map(|m| &m.2),
        Some(Malformed::BadTimestamp { .. })
    ));
    let lossy = r.events.iter().find(|e| e.line == 44).expect("kept");
    assert_eq!(lossy.message, "invalid \u{fffd} utf-8 but well formed");
}

#[test]
fn key_choices_apply_to_the_samples() {
    let by_pid = run(
        "hdfs",
        &sample("HDFS"),
        ParserConfig {
            key: KeyChoice::Field("Pid".into()),
            ..ParserConfig::default()
        },
    );
    assert!(by_pid.events.iter().all(|e| e.key == e.pid));
    let by_ip = run(
        "openssh",
        &sample("OpenSSH"),
        ParserConfig {
            year: Some(2015),
            key: KeyChoice::Regex(r"from (\d+\.\d+\.\d+\.\d+)".into()),
            ..ParserConfig::default()
        },
    );
    let mut counts: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for e in &by_ip.events {
        *counts.entry(e.key.as_deref()).or_default() += 1;
    }
    assert!(counts.keys().flatten().all(|k| k.split('.').count() == 4));
    assert!(counts.get(&None).is_some_and(|&n| n > 0 && n < 2000));
}
