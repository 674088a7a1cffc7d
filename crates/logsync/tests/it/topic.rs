//! `logsync topic`: describe's JSON, all-or-nothing alter, and the errors a
//! user meets (existing topic, bad config values).

use crate::util::Env;
use crate::util::text;

#[test]
fn describe_json_is_one_object_with_segments_and_config() {
    let env = Env::new();
    env.ok(&["topic", "create", "j.v1", "-p", "2"], b"");
    env.ok(&["produce", "j.v1", "--partition", "0"], b"a\nb\n");
    let out = text(&env.ok(&["topic", "describe", "j.v1", "--json"], b""));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("{\"topic\":\"j.v1\",\"partitions\":[{\"partition\":0,"),
        "{out}"
    );
    assert!(out.ends_with("}\n"), "{out}");
    for needle in [
        "\"log_start_offset\":0",
        "\"log_end_offset\":2",
        "\"segments\":[{\"base_offset\":0,\"next_offset\":2,",
        "{\"partition\":1,\"log_start_offset\":0,\"log_end_offset\":0,",
        "\"max_timestamp\":null",
        "\"config\":{\"segment.bytes\":\"1073741824\",",
        "\"flush.policy\":\"every-batch\"",
    ] {
        assert!(out.contains(needle), "{needle} in {out}");
    }
    let depth = out.chars().try_fold(0i32, |d, c| {
        let d = d + i32::from(c == '{' || c == '[') - i32::from(c == '}' || c == ']');
        (d >= 0).then_some(d)
    });
    assert_eq!(depth, Some(0), "balanced: {out}");
}

#[test]
fn alter_with_one_bad_pair_changes_nothing() {
    let env = Env::new();
    env.ok(&["topic", "create", "a"], b"");
    let err = env.fails(&[
        "topic",
        "alter",
        "a",
        "--config",
        "segment.bytes=8192",
        "--config",
        "segment.bytes=12",
    ]);
    assert!(err.contains("segment.bytes"), "{err}");
    let d = text(&env.ok(&["topic", "describe", "a"], b""));
    assert!(d.contains("segment.bytes=1073741824"), "{d}");
    env.ok(&["topic", "alter", "a", "-c", "flush.ms=50"], b"");
    let d = text(&env.ok(&["topic", "describe", "a"], b""));
    assert!(d.contains("flush.policy=interval flush.ms=50"), "{d}");
}

#[test]
fn topic_errors_are_one_line_each() {
    let env = Env::new();
    env.ok(&["topic", "create", "x"], b"");
    let err = env.fails(&["topic", "create", "x"]);
    assert!(err.contains("already exists"), "{err}");
    let err = env.fails(&["topic", "create", "y", "-c", "segment.bytes"]);
    assert!(err.contains("expected key=value"), "{err}");
    let err = env.fails(&["topic", "create", "y", "-c", "segment.bytes=lots"]);
    assert!(err.contains("not a valid number"), "{err}");
    let err = env.fails(&["topic", "alter", "nope", "-c", "segment.bytes=4096"]);
    assert!(err.contains("does not exist"), "{err}");
    let err = env.fails(&["topic", "delete", "nope"]);
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(
        text(&env.ok(&["topic", "list"], b"")),
        "x\t1 partition(s)\n"
    );
}
