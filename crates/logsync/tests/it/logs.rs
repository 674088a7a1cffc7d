//! `logsync parse | stats | tail | ingest` end to end on the LogHub samples:
//! JSON records and malformed lines, statistics, `tail -n` byte for byte
//! against GNU tail, `tail -f` across appends, truncation and rotation, and
//! ingestion into a timestamp-compacted topic.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::util::{Env, arg, text, wait_until};

/// `testdata/loghub/NAME_2k.log` of the repository (LogHub's 2k samples,
/// byte for byte; see its README).
fn sample(system: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/loghub")
        .join(format!("{system}_2k.log"));
    assert!(
        path.exists(),
        "{} is missing: these tests need the LogHub samples in testdata/loghub",
        path.display()
    );
    path
}

const SYSTEMS: [&str; 6] = ["HDFS", "BGL", "Zookeeper", "OpenSSH", "Apache", "Spark"];

/// The value of `"name":` in one of our flat JSON records (string or number).
fn json_field<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("\"{name}\":");
    let start = record.find(&pat)? + pat.len();
    let rest = record.get(start..)?;
    if let Some(s) = rest.strip_prefix('"') {
        // Our values never hold an escaped quote in these tests' fields.
        s.find('"').and_then(|end| s.get(..end))
    } else {
        rest.find([',', '}']).and_then(|end| rest.get(..end))
    }
}

#[test]
fn parse_prints_one_json_record_per_line_of_each_sample() {
    let env = Env::new();
    for system in SYSTEMS {
        let path = sample(system);
        let mut args = vec!["parse", arg(&path), "--format", system, "--json"];
        if system == "BGL" {
            args.extend(["--tz", "America/Los_Angeles"]);
        }
        if system == "OpenSSH" {
            args.extend(["--year", "2015"]);
        }
        let out = env.run(&args, b"");
        assert!(out.status.success(), "{system}: {}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{system}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2000, "{system}");
        for (i, l) in lines.iter().enumerate() {
            assert!(
                l.starts_with(&format!("{{\"line\":{},\"ts\":\"", i + 1)),
                "{system}: {l}"
            );
            assert!(
                json_field(l, "ts_ms").is_some_and(|ms| ms.parse::<i64>().is_ok()),
                "{l}"
            );
        }
    }
}

#[test]
fn parse_reports_malformed_lines_on_stderr_with_number_and_reason() {
    let env = Env::new();
    let mut input = std::fs::read(sample("Spark")).expect("sample");
    input.extend_from_slice(b"not a spark line\r\n17/13/09 20:10:40 INFO a.B: bad month\r\n");
    // A file, not stdin: the helper writes all of stdin before reading stdout.
    let file = env.dir.path().join("spark.log");
    std::fs::write(&file, &input).expect("write");
    let out = env.run(&["parse", arg(&file), "--format", "spark"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2000);
    let err = text(&out.stderr);
    assert_eq!(
        err,
        "line 2001: malformed (does not match the format after <Component>): not a spark line\n\
         line 2002: malformed (invalid timestamp \"17/13/09 20:10:40\"): 17/13/09 20:10:40 INFO a.B: bad month\n\
         2 of 2002 lines malformed\n"
    );
    let out = env.run(&["parse", arg(&file), "--format", "spark", "--json"], b"");
    let err = text(&out.stderr);
    assert!(
        err.starts_with("{\"line\":2001,\"malformed\":\"does not match the format after <Component>\",\"raw\":\"not a spark line\"}\n"),
        "{err}"
    );
}

#[test]
fn template_ids_continue_across_runs_with_a_state_file() {
    let env = Env::new();
    let whole = std::fs::read(sample("HDFS")).expect("sample");
    let cut = whole
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(999)
        .map(|(i, _)| i + 1)
        .expect("1000 lines");
    let (first, second) = whole.split_at(cut);
    let state = env.dir.path().join("hdfs.templates");
    let (first_file, second_file, whole_file) = (
        env.dir.path().join("first.log"),
        env.dir.path().join("second.log"),
        env.dir.path().join("whole.log"),
    );
    std::fs::write(&first_file, first).expect("write");
    std::fs::write(&second_file, second).expect("write");
    std::fs::write(&whole_file, &whole).expect("write");
    let ids = |out: Vec<u8>| -> Vec<String> {
        text(&out)
            .lines()
            .map(|l| {
                json_field(l, "template_id")
                    .expect("template_id")
                    .to_owned()
            })
            .collect()
    };
    let run = |file: &Path| {
        env.ok(
            &[
                "parse",
                arg(file),
                "-F",
                "hdfs",
                "--json",
                "--template-state",
                arg(&state),
            ],
            b"",
        )
    };
    let mut resumed = ids(run(&first_file));
    assert!(state.exists());
    resumed.extend(ids(run(&second_file)));
    let at_once = ids(env.ok(
        &[
            "parse",
            arg(&whole_file),
            "-F",
            "hdfs",
            "--json",
            "--templates",
        ],
        b"",
    ));
    assert_eq!(at_once.len(), 2000);
    assert_eq!(resumed, at_once);
}

#[test]
fn parse_rejects_bad_arguments_with_one_line() {
    let env = Env::new();
    let path = sample("HDFS");
    let err = env.fails(&["parse", arg(&path)]);
    assert!(err.contains("--format is required"), "{err}");
    let err = env.fails(&["parse", arg(&path), "-F", "<A><B>"]);
    assert!(err.contains("invalid format string"), "{err}");
    let err = env.fails(&["parse", arg(&path), "-F", "hdfs", "--tz", "Mars/Base"]);
    assert!(err.contains("unknown time zone"), "{err}");
    let err = env.fails(&["parse", arg(&path), "-F", "hdfs", "--key-field", "Nope"]);
    assert!(err.contains("no field \"Nope\""), "{err}");
    env.fails(&["parse", "/no/such/file", "-F", "hdfs"]);
}

#[test]
fn stats_of_hdfs_and_apache() {
    let env = Env::new();
    let hdfs = sample("HDFS");
    let json = text(&env.ok(&["stats", arg(&hdfs), "-F", "hdfs", "--json"], b""));
    assert!(
        json.contains("\"lines_read\":2000,\"parsed\":2000,\"malformed\":0"),
        "{json}"
    );
    assert!(
        json.contains("\"levels\":{\"INFO\":1920,\"WARN\":80}"),
        "{json}"
    );
    assert!(
        json.contains("\"first\":\"2008-11-09T20:36:15Z\""),
        "{json}"
    );
    assert!(json.contains("\"last\":\"2008-11-11T10:20:17Z\""), "{json}");
    let apache = sample("Apache");
    let json = text(&env.ok(&["stats", arg(&apache), "-F", "apache", "--json"], b""));
    assert!(json.contains("\"out_of_order\":33"), "{json}");
    let table = text(&env.ok(&["stats", arg(&hdfs), "-F", "hdfs", "--templates"], b""));
    assert!(table.contains("top templates"), "{table}");
    assert!(table.contains("INFO                1920"), "{table}");
}

/// GNU tail's output for `-n n`.
fn gnu_tail(path: &Path, n: u64) -> Vec<u8> {
    let out = Command::new("tail")
        .args(["-n", &n.to_string()])
        .arg(path)
        .output()
        .expect("GNU tail must be installed for this test");
    assert!(out.status.success());
    out.stdout
}

#[test]
fn tail_prints_what_gnu_tail_prints_on_every_sample() {
    let env = Env::new();
    let extra = env.dir.path().join("no-final-newline.txt");
    std::fs::write(&extra, b"a\n\nb\r\nlast").expect("write");
    let mut paths: Vec<PathBuf> = SYSTEMS.iter().map(|s| sample(s)).collect();
    paths.push(extra);
    for path in &paths {
        for n in [0u64, 1, 2, 7, 10, 100, 1999, 2000, 5000] {
            let ours = env.ok(&["tail", arg(path), "-n", &n.to_string()], b"");
            assert!(ours == gnu_tail(path, n), "{} -n {n}", path.display());
        }
    }
    let default = env.ok(&["tail", arg(paths.first().expect("hdfs"))], b"");
    assert!(default == gnu_tail(paths.first().expect("hdfs"), 10));
}

/// Collects a child's stdout on a thread.
fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("lock")
                .extend_from_slice(buf.get(..n).unwrap_or_default());
        }
    });
    seen
}

#[test]
fn tail_follow_sees_appends_truncation_and_rotation() {
    let env = Env::new();
    let path = env.dir.path().join("app.log");
    std::fs::write(&path, b"one\ntwo\n").expect("write");
    let mut child = env
        .cmd()
        .args(["tail", arg(&path), "-n", "1", "-f", "--poll-ms", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let seen = collect(child.stdout.take().expect("stdout"));
    let shown = || text(&seen.lock().expect("lock"));
    wait_until(10, "the last line", || shown() == "two\n");

    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    f.write_all(b"three\n").expect("append");
    wait_until(10, "an appended line", || shown() == "two\nthree\n");

    // Truncated and rewritten (copytruncate).
    std::fs::write(&path, b"4\n").expect("truncate");
    wait_until(10, "a line after truncation", || {
        shown().ends_with("three\n4\n")
    });

    // Replaced (rename + create): the rest of the old file, then the new one.
    f.write_all(b"").expect("noop");
    drop(f);
    let mut old = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    std::fs::rename(&path, env.dir.path().join("app.log.1")).expect("rotate");
    old.write_all(b"5 (old file)\n").expect("append to rotated");
    std::fs::write(&path, b"6 (new file)\n").expect("new file");
    wait_until(10, "lines across rotation", || {
        shown().ends_with("4\n5 (old file)\n6 (new file)\n")
    });
    child.kill().expect("kill");
    child.wait().expect("wait");
}

#[test]
fn ingest_into_a_timestamp_compacted_topic_keeps_the_latest_event_per_block() {
    let env = Env::new();
    env.ok(
        &[
            "topic",
            "create",
            "hdfs",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "compaction.strategy=timestamp",
            "--config",
            "segment.bytes=65536",
        ],
        b"",
    );
    let path = sample("HDFS");
    let out = text(&env.ok(
        &["ingest", arg(&path), "-F", "hdfs", "--topic", "hdfs"],
        b"",
    ));
    assert!(
        out.contains("appended         2000 records to hdfs"),
        "{out}"
    );
    assert!(out.contains("lines read       2000"), "{out}");

    // What compaction must keep: per key the latest event time, ties by the
    // later line (offset).
    let parsed = text(&env.ok(&["parse", arg(&path), "-F", "hdfs", "--json"], b""));
    let mut want: HashMap<String, (i64, u64)> = HashMap::new();
    for l in parsed.lines() {
        let key = json_field(l, "key").expect("key").to_owned();
        let ts: i64 = json_field(l, "ts_ms")
            .and_then(|v| v.parse().ok())
            .expect("ts");
        let line: u64 = json_field(l, "line")
            .and_then(|v| v.parse().ok())
            .expect("line");
        let e = want.entry(key).or_insert((ts, line));
        if (ts, line) >= *e {
            *e = (ts, line);
        }
    }
    assert_eq!(want.len(), 1994);

    let all = text(&env.ok(&["consume", "hdfs", "-f", "%T %k\n"], b""));
    assert_eq!(all.lines().count(), 2000);
    env.ok(&["compact", "hdfs"], b"");
    let kept = text(&env.ok(&["consume", "hdfs", "-f", "%T|%k|%s\n"], b""));
    let mut got: BTreeMap<String, (i64, u64)> = BTreeMap::new();
    for l in kept.lines() {
        let mut parts = l.splitn(3, '|');
        let (ts, key, value) = (
            parts
                .next()
                .and_then(|t| t.parse::<i64>().ok())
                .expect("ts"),
            parts.next().expect("key").to_owned(),
            parts.next().expect("value"),
        );
        assert_eq!(json_field(value, "ts_ms"), Some(ts.to_string().as_str()));
        let line = json_field(value, "line")
            .and_then(|v| v.parse().ok())
            .expect("line");
        assert!(
            got.insert(key, (ts, line)).is_none(),
            "one record per key: {l}"
        );
    }
    assert_eq!(got.len(), 1994);
    let after = text(&env.ok(&["stats", "hdfs", "--json"], b""));
    assert!(
        after.contains("\"lines_read\":1994,\"parsed\":1994,\"malformed\":0"),
        "{after}"
    );
    for (key, latest) in &want {
        assert_eq!(got.get(key), Some(latest), "{key}");
    }

    // Replay by event time.
    let since = text(&env.ok(
        &[
            "consume",
            "hdfs",
            "--since",
            "2008-11-11T10:00:00Z",
            "-f",
            "%T\n",
        ],
        b"",
    ));
    let cutoff = 1_226_397_600_000i64;
    let want_since = got.values().filter(|(ts, _)| *ts >= cutoff).count();
    assert!(want_since > 0);
    let times: Vec<i64> = since.lines().map(|l| l.parse().expect("ts")).collect();
    assert_eq!(
        times.iter().filter(|&&t| t >= cutoff).count(),
        want_since,
        "{since}"
    );
}

#[test]
fn ingest_keeps_malformed_lines_in_their_own_topic() {
    let env = Env::new();
    let mut input = std::fs::read(sample("Zookeeper")).expect("sample");
    // The sample has no final newline: the first \r\n ends its last line.
    input.extend_from_slice(
        b"\r\n\r\nnot zookeeper\r\n2015-02-30 17:41:44,747 - INFO  [a:b@1] - feb 30\r\n",
    );
    let out = text(&env.ok(
        &["ingest", "-", "-F", "zookeeper", "--topic", "zk", "--json"],
        &input,
    ));
    assert!(
        out.contains("\"lines_read\":2003,\"parsed\":2000,\"malformed\":3"),
        "{out}"
    );
    // stats TOPIC reads the same figures back from the topics.
    let from_topic = text(&env.ok(&["stats", "zk", "--json"], b""));
    assert_eq!(from_topic, out);
    let err = env.fails(&["stats", "no-such-thing"]);
    assert!(err.contains("no such file, and no such topic"), "{err}");
    let kept = text(&env.ok(&["consume", "zk.malformed", "-f", "%h|%s\n"], b""));
    assert_eq!(
        kept,
        "line=2001,reason=does not match the format after <Date>|\n\
         line=2002,reason=does not match the format after <Time>|not zookeeper\n\
         line=2003,reason=invalid timestamp \"2015-02-30 17:41:44,747\"|2015-02-30 17:41:44,747 - INFO  [a:b@1] - feb 30\n"
    );
    let main = text(&env.ok(&["consume", "zk", "-f", "%k\n"], b""));
    assert_eq!(main.lines().count(), 2000);
    let described = text(&env.ok(&["topic", "describe", "zk.malformed"], b""));
    assert!(described.contains("delete"), "{described}");
}

#[test]
fn lines_without_a_key_go_aside_when_the_topic_is_compacted() {
    let env = Env::new();
    env.ok(
        &["topic", "create", "c", "--config", "cleanup.policy=compact"],
        b"",
    );
    let path = sample("Spark");
    // A format string has no default key.
    let spec = "<Date> <Time> <Level> <Component>: <Content>";
    let out = text(&env.ok(
        &["ingest", arg(&path), "-F", spec, "-t", "c", "--json"],
        b"",
    ));
    assert!(
        out.contains("\"parsed\":2000,\"malformed\":0,\"invalid_utf8\":0,\"keyless\":2000"),
        "{out}"
    );
    let aside = text(&env.ok(&["consume", "c.malformed", "-f", "%h\n"], b""));
    assert_eq!(aside.lines().count(), 2000);
    assert!(
        aside
            .lines()
            .all(|l| l.ends_with(",reason=no compaction key")),
        "{aside}"
    );
    assert_eq!(text(&env.ok(&["consume", "c", "-f", "%k\n"], b"")), "");

    let out = text(&env.ok(
        &[
            "ingest",
            arg(&path),
            "-F",
            spec,
            "-t",
            "c",
            "--key-field",
            "Component",
            "--templates",
            "--json",
        ],
        b"",
    ));
    assert!(out.contains("\"keyless\":0"), "{out}");
    let kept = text(&env.ok(&["consume", "c", "-f", "%k|%s\n"], b""));
    assert_eq!(kept.lines().count(), 2000);
    for l in kept.lines() {
        let (key, value) = l.split_once('|').expect("key|value");
        assert_eq!(json_field(value, "component"), Some(key));
        assert!(json_field(value, "template_id").is_some(), "{value}");
    }
}

#[test]
fn tail_of_a_missing_file_is_an_error() {
    let env = Env::new();
    let err = env.fails(&["tail", "/no/such/file"]);
    assert!(err.contains("/no/such/file"), "{err}");
}

/// `logsync gen hdfs`: the same seed writes the same bytes; the truth file
/// has one template id per line (0 for the injected malformed lines), and
/// `stats` counts exactly those as malformed.
#[test]
fn gen_hdfs_is_deterministic_and_its_truth_marks_the_malformed_lines() {
    let env = Env::new();
    let dir = env.dir.path();
    let (a, b, truth) = (dir.join("a.log"), dir.join("b.log"), dir.join("a.truth"));
    let generate = |out: &Path, seed: &str, truth: Option<&Path>| {
        let mut args = vec![
            "gen",
            "hdfs",
            "--lines",
            "20000",
            "--seed",
            seed,
            "--malformed",
            "0.005",
            "-o",
        ];
        args.push(arg(out));
        if let Some(t) = truth {
            args.extend(["--truth", arg(t)]);
        }
        env.ok(&args, b"");
    };
    generate(&a, "42", Some(&truth));
    generate(&b, "42", None);
    let bytes = std::fs::read(&a).expect("a.log");
    assert_eq!(
        bytes,
        std::fs::read(&b).expect("b.log"),
        "same seed, same bytes"
    );
    generate(&b, "43", None);
    assert_ne!(bytes, std::fs::read(&b).expect("b.log"));
    let ids: Vec<u32> = std::fs::read_to_string(&truth)
        .expect("truth")
        .lines()
        .map(|l| l.parse().expect("an id"))
        .collect();
    assert_eq!(ids.len(), 20_000);
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 20_000);
    let malformed = ids.iter().filter(|&&id| id == 0).count();
    assert!(malformed > 0);
    let stats = text(&env.ok(&["stats", arg(&a), "--format", "hdfs", "--json"], b""));
    assert!(
        stats.contains(&format!("\"malformed\":{malformed},")),
        "{malformed} malformed lines in the truth: {stats}"
    );
    let mean = bytes.len() / 20_000;
    assert!((120..=170).contains(&mean), "~140 bytes a line: {mean}");
    let err = env.fails(&["gen", "hdfs", "--lines", "1", "--malformed", "1.5"]);
    assert!(err.contains("--malformed"), "{err}");
}
