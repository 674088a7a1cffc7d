//! `logsync produce`: keys and partitions (Kafka's partitioner), batching
//! under `max.message.bytes`, line limits, streaming and topic creation.

use std::io::Write;
use std::process::Stdio;

use crate::util::{Env, arg, text, wait_until};

#[test]
fn keyed_lines_round_trip_byte_for_byte() {
    let env = Env::new();
    let mut input = b"k1\tv1\r\n\tnull-looking key is empty\nno separator\n\n".to_vec();
    input.extend_from_slice(b"\xffkey\t\xfe value\tsecond tab kept\n");
    input.extend_from_slice(b"last\tno newline");
    env.ok(&["produce", "t", "-K", "\t"], &input);
    let out = env.ok(&["consume", "t", "-K", "\t"], b"");
    // Lines without the separator have a null key, printed as empty.
    let mut expected = b"k1\tv1\r\n\tnull-looking key is empty\n\tno separator\n\t\n".to_vec();
    expected.extend_from_slice(b"\xffkey\t\xfe value\tsecond tab kept\n");
    expected.extend_from_slice(b"last\tno newline\n");
    assert_eq!(out, expected, "{}", text(&out));
    // The length directives tell a null key (-1) from an empty one (0).
    let lens = text(&env.ok(&["consume", "t", "-f", "%K %S\\n"], b""));
    assert_eq!(lens, "2 3\n0 25\n-1 12\n-1 0\n4 23\n4 10\n");
}

#[test]
fn keys_go_where_kafkas_partitioner_puts_them() {
    let env = Env::new();
    env.ok(&["topic", "create", "k", "--partitions", "4"], b"");
    // toPositive(murmur2(key)) % 4, from Kafka's murmur2 test vectors.
    let input = b"21:a\nlkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8:b\nfoobar:c\nabc:d\n";
    env.ok(&["produce", "k", "-K", ":"], input);
    let out = text(&env.ok(&["consume", "k", "-f", "%p %s\\n"], b""));
    assert_eq!(out, "0 a\n1 b\n2 c\n3 d\n");
}

#[test]
fn an_explicit_partition_wins_and_must_exist() {
    let env = Env::new();
    env.ok(&["topic", "create", "p", "--partitions", "3"], b"");
    env.ok(
        &["produce", "p", "-K", ":", "--partition", "2"],
        b"21:a\nb\n",
    );
    let out = text(&env.ok(&["consume", "p", "-f", "%p:%o %k=%s\\n"], b""));
    assert_eq!(out, "2:0 21=a\n2:1 =b\n");
    let err = env.fails(&["produce", "p", "--partition", "3"]);
    assert!(err.contains("no partition 3"), "{err}");
}

#[test]
fn keyless_batches_take_turns_over_the_partitions() {
    let env = Env::new();
    env.ok(&["topic", "create", "rr", "--partitions", "2"], b"");
    let mut child = env
        .cmd()
        .args(["produce", "rr"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // One line at a time, each durable before the next: one batch each.
    for line in ["first", "second"] {
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write");
        stdin.flush().expect("flush");
        let want = format!("payload: {line}");
        wait_until(10, &want, || {
            (0..2).any(|p| {
                let seg = env.segment("rr", p);
                seg.exists()
                    && text(&env.run(&["dump", arg(&seg), "--deep"], b"").stdout).contains(&want)
            })
        });
    }
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    let out = text(&env.ok(&["consume", "rr", "-f", "%p %s\\n"], b""));
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert!(
        lines == ["0 first", "1 second"] || lines == ["0 second", "1 first"],
        "{out}"
    );
}

#[test]
fn many_lines_are_batched_under_max_message_bytes() {
    let env = Env::new();
    env.ok(
        &["topic", "create", "small", "-c", "max.message.bytes=1024"],
        b"",
    );
    let line = "x".repeat(100);
    let input: String = (0..300).map(|i| format!("{i:03}{line}\n")).collect();
    env.ok(&["produce", "small"], input.as_bytes());
    assert_eq!(env.ok(&["consume", "small"], b""), input.as_bytes());
    let dump = text(&env.ok(&["dump", arg(&env.segment("small", 0))], b""));
    let batches = dump.matches("isvalid: true").count();
    assert!(batches >= 300 * 103 / 1024, "{batches} batches:\n{dump}");
}

#[test]
fn a_line_too_long_for_any_batch_fails_after_the_lines_before_it() {
    let env = Env::new();
    env.ok(
        &["topic", "create", "lim", "-c", "max.message.bytes=1024"],
        b"",
    );
    let mut input = b"kept\n".to_vec();
    input.extend_from_slice(&[b'y'; 5000]);
    input.extend_from_slice(b"\nnever\n");
    let out = env.run(&["produce", "lim"], &input);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("max.message.bytes"),
        "{err}"
    );
    assert_eq!(text(&env.ok(&["consume", "lim"], b"")), "kept\n");
}

#[test]
fn a_missing_topic_is_created_with_one_note() {
    let env = Env::new();
    let out = env.run(&["produce", "fresh"], b"v\n");
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("note: created topic fresh"), "{err}");
    assert!(text(&env.ok(&["topic", "list"], b"")).starts_with("fresh\t1"));
    // The second time it exists: no note.
    let again = env.run(&["produce", "fresh"], b"w\n");
    assert!(again.status.success() && again.stderr.is_empty());
    assert_eq!(text(&env.ok(&["consume", "fresh"], b"")), "v\nw\n");
    env.fails(&["produce", "bad/name"]);
}
