//! `logsync kv ...` end to end, each command its own process on one data
//! dir: the seed's flow (set, get, overwrite, compact, get), exit codes,
//! TTL expiry, scan, stats, load, and the store read back as a topic.

use std::time::{Duration, Instant};

use crate::util::Env;

fn get(env: &Env, key: &str) -> Option<String> {
    let out = env.run(&["kv", "get", key], b"");
    match out.status.code() {
        Some(0) => Some(String::from_utf8(out.stdout).expect("utf8")),
        Some(1) => {
            assert!(out.stdout.is_empty(), "nothing on stdout for a missing key");
            None
        }
        other => panic!(
            "kv get {key}: exit {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text:?}"))
        + label.len();
    text[at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number after {label:?} in {text:?}"))
}

#[test]
fn the_seeds_flow_works_across_processes() {
    let env = Env::new();
    env.ok(&["kv", "set", "45", "hello"], b"");
    assert_eq!(get(&env, "45").as_deref(), Some("hello\n"));
    for i in 0..30 {
        env.ok(&["kv", "set", "45", &format!("hello {i}")], b"");
    }
    env.ok(&["kv", "set", "46", "other"], b"");
    assert_eq!(get(&env, "45").as_deref(), Some("hello 29\n"));
    let report = String::from_utf8(env.ok(&["kv", "compact"], b"")).expect("utf8");
    let before = number_after(&report, "bytes before");
    let after = number_after(&report, "after");
    let reclaimed = number_after(&report, "reclaimed");
    assert!(reclaimed > 0, "{report}");
    assert_eq!(before - after, reclaimed, "{report}");
    assert_eq!(get(&env, "45").as_deref(), Some("hello 29\n"));
    assert_eq!(get(&env, "46").as_deref(), Some("other\n"));
    // The same records, read as a stream.
    let consumed =
        String::from_utf8(env.ok(&["consume", "kv", "--from-beginning", "-K", "="], b""))
            .expect("utf8");
    assert!(consumed.contains("45=hello 29"), "{consumed}");
    assert!(!consumed.contains("hello 28"), "compacted away: {consumed}");
}

#[test]
fn a_missing_key_exits_1_with_nothing_on_stdout() {
    let env = Env::new();
    assert_eq!(get(&env, "nope"), None);
    env.ok(&["kv", "set", "k", "v"], b"");
    let out = env.run(&["kv", "del", "k"], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(get(&env, "k"), None);
    assert_eq!(env.run(&["kv", "del", "k"], b"").status.code(), Some(1));
    assert_eq!(env.run(&["kv", "ttl", "k"], b"").status.code(), Some(1));
    assert_eq!(env.run(&["kv", "scan", "zzz"], b"").status.code(), Some(1));
    let err = env.fails(&["kv", "get", ""]);
    assert!(err.contains("empty key"), "{err}");
    let err = env.fails(&["kv", "set", "k", "v", "--ttl", "soon"]);
    assert!(err.contains("soon"), "{err}");
}

#[test]
fn a_key_with_a_ttl_expires() {
    let env = Env::new();
    env.ok(&["kv", "set", "session", "abc", "--ttl", "1s"], b"");
    env.ok(&["kv", "set", "keep", "forever"], b"");
    let ttl = String::from_utf8(env.ok(&["kv", "ttl", "keep"], b"")).expect("utf8");
    assert_eq!(ttl, "persistent\n");
    let started = Instant::now();
    // Visible until it expires, then gone (bounded wait).
    let mut seen_before = false;
    while let Some(v) = get(&env, "session") {
        assert_eq!(v, "abc\n");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still there after its TTL"
        );
        seen_before = true;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "expired in time"
    );
    assert!(seen_before || started.elapsed() < Duration::from_millis(1500));
    assert_eq!(
        env.run(&["kv", "ttl", "session"], b"").status.code(),
        Some(1)
    );
    let report = String::from_utf8(env.ok(&["kv", "compact"], b"")).expect("utf8");
    assert_eq!(number_after(&report, "expired keys dropped"), 1, "{report}");
    assert_eq!(get(&env, "session"), None);
    assert_eq!(get(&env, "keep").as_deref(), Some("forever\n"));
}

#[test]
fn ttl_reports_the_time_left() {
    let env = Env::new();
    env.ok(&["kv", "set", "k", "v", "--ttl", "1h"], b"");
    let ttl = String::from_utf8(env.ok(&["kv", "ttl", "k"], b"")).expect("utf8");
    let secs: f64 = ttl.trim().trim_end_matches('s').parse().expect("seconds");
    assert!(secs > 3500.0 && secs <= 3600.0, "{ttl}");
}

#[test]
fn scan_lists_keys_in_order_with_prefix_and_limit() {
    let env = Env::new();
    for (k, v) in [("b:2", "x"), ("a:1", "y"), ("b:1", "z"), ("b:3", "w")] {
        env.ok(&["kv", "set", k, v], b"");
    }
    let out = String::from_utf8(env.ok(&["kv", "scan", "b:"], b"")).expect("utf8");
    assert_eq!(out, "b:1\tz\nb:2\tx\nb:3\tw\n");
    let out = String::from_utf8(env.ok(&["kv", "scan", "--limit", "2"], b"")).expect("utf8");
    assert_eq!(out, "a:1\ty\nb:1\tz\n");
    let out =
        String::from_utf8(env.ok(&["kv", "--topic", "other", "set", "a:1", "elsewhere"], b""))
            .expect("utf8");
    assert!(out.is_empty());
    assert_eq!(get(&env, "a:1").as_deref(), Some("y\n"));
}

#[test]
fn load_sets_every_good_line_and_reports_bad_ones() {
    let env = Env::new();
    let file = env.dir.path().join("pairs.tsv");
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!("key{i}\tvalue {i}\n"));
    }
    std::fs::write(&file, &text).expect("write");
    let out = String::from_utf8(env.ok(&["kv", "load", file.to_str().expect("utf8")], b""))
        .expect("utf8");
    assert!(out.contains("loaded 5000 keys"), "{out}");
    assert_eq!(get(&env, "key4321").as_deref(), Some("value 4321\n"));
    let stats = String::from_utf8(env.ok(&["kv", "stats"], b"")).expect("utf8");
    assert_eq!(number_after(&stats, "keys:"), 5000, "{stats}");
    assert!(number_after(&stats, "index memory bytes:") > 0, "{stats}");
    assert!(stats.contains("dirty ratio:"), "{stats}");

    let bad = env.dir.path().join("bad.tsv");
    std::fs::write(&bad, "good\t1\nno tab here\n\tempty key\nalso-good\t2\n").expect("write");
    let out = env.run(&["kv", "load", bad.to_str().expect("utf8")], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":2: no TAB between key and value"), "{err}");
    assert!(err.contains(":3: empty key"), "{err}");
    assert!(err.contains("error: 2 bad lines"), "{err}");
    assert_eq!(get(&env, "good").as_deref(), Some("1\n"));
    assert_eq!(get(&env, "also-good").as_deref(), Some("2\n"));
}

#[test]
fn stats_show_dead_bytes_until_compaction() {
    let env = Env::new();
    for i in 0..20 {
        env.ok(&["kv", "set", "k", &format!("value number {i}")], b"");
    }
    let stats = String::from_utf8(env.ok(&["kv", "stats"], b"")).expect("utf8");
    assert_eq!(number_after(&stats, "keys:"), 1, "{stats}");
    let dead_before = number_after(&stats, "dead bytes:");
    assert!(dead_before > number_after(&stats, "live bytes:"), "{stats}");
    env.ok(&["kv", "compact"], b"");
    let stats = String::from_utf8(env.ok(&["kv", "stats"], b"")).expect("utf8");
    assert!(number_after(&stats, "dead bytes:") < dead_before, "{stats}");
}
