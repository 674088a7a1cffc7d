//! `logsync compact`, `topic retention`, event-time produce; the cleaner
//! killed with SIGKILL mid-swap; a real full disk (a small tmpfs).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::util::{Env, arg};

/// `key:value` lines: `keys` keys, `n` lines, each value naming its line.
fn keyed_lines(n: u32, keys: u32) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("k{}:v{i}\n", i % keys).into_bytes())
        .collect()
}

/// `offset key value` lines of the whole topic, checked to have strictly
/// increasing offsets; returns each key's last value.
fn latest(env: &Env, topic: &str) -> BTreeMap<String, String> {
    let out = env.ok(&["consume", topic, "-f", "%o %k %s\n"], b"");
    let mut last = None;
    let mut map = BTreeMap::new();
    for line in String::from_utf8(out).expect("utf-8").lines() {
        let mut parts = line.splitn(3, ' ');
        let o: u64 = parts.next().and_then(|o| o.parse().ok()).expect("offset");
        assert!(last.is_none_or(|l| o > l), "offset {o} after {last:?}");
        last = Some(o);
        let k = parts.next().expect("key").to_owned();
        let v = parts.next().expect("value").to_owned();
        map.insert(k, v);
    }
    map
}

fn expected(n: u32, keys: u32) -> BTreeMap<String, String> {
    (n.saturating_sub(keys)..n)
        .map(|i| (format!("k{}", i % keys), format!("v{i}")))
        .collect()
}

fn create_compacted(env: &Env, topic: &str, extra: &[&str]) {
    let mut args = vec![
        "topic",
        "create",
        topic,
        "--config",
        "cleanup.policy=compact",
        "--config",
        "segment.bytes=16384",
    ];
    for e in extra {
        args.extend(["--config", e]);
    }
    env.ok(&args, b"");
}

#[test]
fn compact_reports_what_it_reclaimed_and_keeps_the_latest_values() {
    let env = Env::new();
    create_compacted(&env, "t", &[]);
    // The seed's flow: one key overwritten many times, then others.
    env.ok(&["produce", "t", "-K", ":"], &keyed_lines(5_000, 45));
    let text = String::from_utf8(env.ok(&["compact", "t"], b"")).expect("utf-8");
    assert!(text.starts_with("compacted t: bytes before "), "{text}");
    let reclaimed: u64 = text
        .split("reclaimed ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.parse().ok())
        .expect("reclaimed bytes");
    assert!(reclaimed > 0, "{text}");
    assert!(text.contains("records before 5000, after 45"), "{text}");
    assert_eq!(latest(&env, "t"), expected(5_000, 45));
    // --json: one object; a second run finds nothing more to drop.
    let json = String::from_utf8(env.ok(&["compact", "t", "--json"], b"")).expect("utf-8");
    assert_eq!(json.lines().count(), 1);
    assert!(json.starts_with("{\"topic\":\"t\""), "{json}");
    assert!(json.contains("\"records_after\":45"), "{json}");
    assert!(json.contains("\"bytes_reclaimed\":0"), "{json}");
    // Describe shows the cleaner's checkpoint and the free space.
    let d = String::from_utf8(env.ok(&["topic", "describe", "t"], b"")).expect("utf-8");
    assert!(d.contains("CleanedUpTo: 5000"), "{d}");
    assert!(d.contains("FreeSpace: "), "{d}");
}

#[test]
fn compact_refuses_what_it_cannot_do() {
    let env = Env::new();
    env.ok(&["topic", "create", "plain"], b"");
    let err = env.fails(&["compact", "plain"]);
    assert!(err.contains("cleanup.policy=delete"), "{err}");
    env.fails(&["compact", "missing"]);
    create_compacted(&env, "c", &[]);
    env.fails(&["compact", "c", "--partition", "3"]);
    // A compacted topic takes no keyless record.
    let out = env.run(&["produce", "c"], b"no key here\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without a key"));
}

#[test]
fn event_time_produce_and_the_timestamp_strategy_compact_to_the_newest_event() {
    let env = Env::new();
    create_compacted(&env, "ev", &["compaction.strategy=timestamp"]);
    // The newest event of k1 arrives first; an older one arrives later.
    let input =
        b"2024-01-02T03:00:00Z|k1:newest\n1704160800000|k2:only\n2024-01-01T00:00:00Z|k1:late\n";
    env.ok(&["produce", "ev", "-T", "|", "-K", ":"], input);
    let shown =
        String::from_utf8(env.ok(&["consume", "ev", "-f", "%T %k %s\n"], b"")).expect("utf-8");
    assert!(shown.starts_with("1704164400000 k1 newest\n"), "{shown}");
    assert!(shown.contains("1704067200000 k1 late\n"), "{shown}");
    env.ok(&["compact", "ev"], b"");
    let after = String::from_utf8(env.ok(&["consume", "ev", "-f", "%k=%s\n"], b"")).expect("utf-8");
    assert_eq!(after, "k1=newest\nk2=only\n");
    let err = env.run(&["produce", "ev", "-T", "|", "-K", ":"], b"yesterday|k:v\n");
    assert_eq!(err.status.code(), Some(2));
}

#[test]
fn topic_retention_deletes_old_segments_and_says_so() {
    let env = Env::new();
    env.ok(
        &[
            "topic",
            "create",
            "r",
            "--config",
            "segment.bytes=4096",
            "--config",
            "retention.bytes=8192",
        ],
        b"",
    );
    // One run per segment: each run's batch is larger than segment.bytes.
    for run in 0..6 {
        let lines: Vec<u8> = (0..500)
            .flat_map(|i| format!("run {run} line {i}\n").into_bytes())
            .collect();
        env.ok(&["produce", "r"], &lines);
    }
    let out = String::from_utf8(env.ok(&["topic", "retention", "r"], b"")).expect("utf-8");
    assert!(out.starts_with("partition 0: deleted "), "{out}");
    assert!(!out.starts_with("partition 0: deleted 0 "), "{out}");
    let first =
        String::from_utf8(env.ok(&["consume", "r", "-c", "1", "-f", "%o\n"], b"")).expect("utf-8");
    assert_ne!(first.trim(), "0", "old records are gone");
}

/// SIGKILL `logsync compact` at moments spread over its run: after each
/// kill, every key's latest value is there and offsets never repeat.
#[test]
fn compact_killed_at_random_moments_loses_nothing() {
    const CYCLES: u32 = 24;
    let (n, keys) = (30_000, 300);
    let base = Env::new();
    create_compacted(&base, "t", &["segment.bytes=32768"]);
    base.ok(&["produce", "t", "-K", ":"], &keyed_lines(n, keys));
    // How long an uninterrupted compact takes here: the faster of two runs
    // (the first may pay for a cold cache).
    let full = (0..2)
        .map(|_| {
            let probe = copy_env(&base);
            let started = Instant::now();
            probe.ok(&["compact", "t"], b"");
            started.elapsed()
        })
        .min()
        .unwrap_or_default();
    let want = expected(n, keys);
    let mut interrupted = 0;
    for cycle in 0..CYCLES {
        let env = copy_env(&base);
        let mut child = env
            .cmd()
            .args(["compact", "t"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn compact");
        // Spread over 0..1.0x the full run (the process start is extra, so
        // the last kills may land after it ends).
        let wait = full.mul_f64(f64::from(cycle) / f64::from(CYCLES));
        std::thread::sleep(wait);
        if child.try_wait().expect("poll").is_none() {
            interrupted += 1;
        }
        let _ = child.kill(); // SIGKILL, to the pid we spawned
        child.wait().expect("reap");
        assert_eq!(latest(&env, "t"), want, "cycle {cycle}: after the kill");
        env.ok(&["compact", "t"], b"");
        assert_eq!(
            latest(&env, "t"),
            want,
            "cycle {cycle}: compacted after recovery"
        );
    }
    assert!(
        interrupted >= CYCLES / 2,
        "only {interrupted} kills landed mid-run"
    );
}

fn copy_env(from: &Env) -> Env {
    let to = Env::new();
    copy_tree(&from.data(), &to.data());
    to
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop. The
/// test suite runs as root in CI (see .ci/run); it needs root for this.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs failed: this test needs root (CI runs as root)"
        );
        Tmpfs { dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_really_full_disk_is_survived_with_retention_or_a_clear_error() {
    let fs = Tmpfs::mount("2m");
    let data = fs.dir.path().join("data");
    let run = |args: &[&str], stdin: &[u8]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_logsync"));
        c.arg("--data-dir").arg(arg(&data)).args(args);
        crate::util::run_with_stdin(c, stdin)
    };
    let create = |topic: &str, configs: &[&str]| {
        let mut args = vec!["topic", "create", topic];
        for c in configs {
            args.extend(["--config", c]);
        }
        assert!(run(&args, b"").status.success());
    };
    // 1. retention.bytes lets old segments go: 6 MB through a 2 MB disk.
    create(
        "rolling",
        &[
            "segment.bytes=65536",
            "segment.index.bytes=4096",
            "max.message.bytes=65536",
            "retention.bytes=262144",
        ],
    );
    let line = [b'x'; 999];
    let mut input = Vec::new();
    for _ in 0..6_000 {
        input.extend_from_slice(&line);
        input.push(b'\n');
    }
    let out = run(&["produce", "rolling"], &input);
    assert!(
        out.status.success(),
        "retention made room: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let end = run(&["topic", "describe", "rolling"], b"");
    assert!(String::from_utf8_lossy(&end.stdout).contains("LogEndOffset: 6000"));
    let freed = run(&["topic", "delete", "rolling"], b"");
    assert!(freed.status.success());

    // 2. Nothing may be deleted: a clear error, nothing half-written, and
    // appends work again once space is freed.
    create(
        "keep",
        &[
            "segment.bytes=65536",
            "segment.index.bytes=4096",
            "max.message.bytes=65536",
            "retention.ms=-1",
        ],
    );
    create("filler", &["segment.index.bytes=4096", "retention.ms=-1"]);
    let mut big = Vec::new();
    for _ in 0..1_200 {
        big.extend_from_slice(&line);
        big.push(b'\n');
    }
    assert!(run(&["produce", "filler"], &big).status.success());
    let full = run(&["produce", "keep"], &input);
    assert_eq!(full.status.code(), Some(2));
    let err = String::from_utf8_lossy(&full.stderr);
    assert!(err.contains("no space left"), "{err}");
    let count = |topic: &str| {
        let out = run(&["consume", topic, "-f", "%o\n"], b"");
        assert!(
            out.status.success(),
            "consume on a full disk: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    };
    let kept = count("keep");
    assert!(kept > 0 && kept < 6_000, "{kept} kept; produce said: {err}");
    assert!(run(&["topic", "delete", "filler"], b"").status.success());
    assert!(run(&["produce", "keep"], b"after\n").status.success());
    assert_eq!(
        count("keep"),
        kept + 1,
        "appends resume, nothing half-written before"
    );
}
