//! The CLI contract: produce/consume round trips, offsets and times, output
//! formats, topic management, dump, exit codes and one-line errors.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Env, exists, text};

#[test]
fn produce_then_consume_round_trips_bytes() {
    let env = Env::new();
    let mut input = b"alpha\r\n\nkey1:value:with:colons\n".to_vec();
    input.extend_from_slice(b"\xff\xfe not utf-8\n");
    input.extend_from_slice(b"last line without newline");
    env.ok(&["produce", "t"], &input);
    let out = env.ok(&["consume", "t"], b"");
    // Each record printed with a newline: the input plus the final newline.
    let mut expected = input.clone();
    expected.push(b'\n');
    assert_eq!(out, expected);
}

#[test]
fn keys_split_at_the_first_separator_and_print_back() {
    let env = Env::new();
    env.ok(&["topic", "create", "k", "--partitions", "3"], b"");
    env.ok(&["produce", "k", "-K", ":"], b"a:1\nb:2\na:3\nnokey\n");
    let out = text(&env.ok(&["consume", "k", "-K", ":"], b""));
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, vec![":nokey", "a:1", "a:3", "b:2"]);
    // Same key, same partition, in order.
    let a = text(&env.ok(&["consume", "k", "-K", ":", "-f", "%p %k %s\\n"], b""));
    let parts: Vec<&str> = a
        .lines()
        .filter(|l| l.contains(" a "))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0], parts[1]);
    assert!(a.lines().any(|l| l.ends_with(" a 1")) && a.find(" a 1") < a.find(" a 3"));
}

#[test]
fn count_and_offset_select_records() {
    let env = Env::new();
    let input: String = (0..20).map(|i| format!("v{i}\n")).collect();
    env.ok(&["produce", "t"], input.as_bytes());
    assert_eq!(
        text(&env.ok(&["consume", "t", "--count", "3"], b"")),
        "v0\nv1\nv2\n"
    );
    assert_eq!(
        text(&env.ok(&["consume", "t", "--offset", "18"], b"")),
        "v18\nv19\n"
    );
    assert_eq!(
        text(&env.ok(&["consume", "t", "--offset", "5", "-c", "1"], b"")),
        "v5\n"
    );
    assert_eq!(text(&env.ok(&["consume", "t", "--offset", "20"], b"")), "");
    let err = env.fails(&["consume", "t", "--offset", "21"]);
    assert!(err.contains("out of range"), "{err}");
}

#[test]
fn since_selects_by_record_time() {
    let env = Env::new();
    env.ok(&["produce", "t"], b"a\nb\n");
    assert_eq!(
        text(&env.ok(&["consume", "t", "--since", "0"], b"")),
        "a\nb\n"
    );
    assert_eq!(
        text(&env.ok(&["consume", "t", "--since", "2001-01-01T00:00:00Z"], b"")),
        "a\nb\n"
    );
    assert_eq!(
        text(&env.ok(&["consume", "t", "--since", "2999-01-01T00:00:00Z"], b"")),
        ""
    );
    let err = env.fails(&["consume", "t", "--since", "yesterday"]);
    assert!(err.contains("RFC 3339"), "{err}");
}

#[test]
fn format_strings_follow_kcat() {
    let env = Env::new();
    env.ok(&["produce", "fmt", "-K", "="], b"k=v\n");
    let out = text(&env.ok(
        &["consume", "fmt", "-f", "%t|%p|%o|%k|%s|%K|%S\\t%%\\n"],
        b"",
    ));
    assert_eq!(out, "fmt|0|0|k|v|1|1\t%\n");
    let ts = text(&env.ok(&["consume", "fmt", "-f", "%T"], b""));
    assert!(
        ts.parse::<i64>().is_ok_and(|t| t > 1_600_000_000_000),
        "{ts}"
    );
}

#[test]
fn topics_are_created_described_altered_and_deleted() {
    let env = Env::new();
    env.ok(
        &[
            "topic",
            "create",
            "orders",
            "-p",
            "2",
            "--config",
            "segment.bytes=4096",
        ],
        b"",
    );
    assert!(text(&env.ok(&["topic", "list"], b"")).starts_with("orders\t2"));
    let input: String = (0..200).map(|i| format!("order-{i}\n")).collect();
    env.ok(&["produce", "orders", "--partition", "1"], input.as_bytes());
    let d = text(&env.ok(&["topic", "describe", "orders"], b""));
    assert!(d.contains("Partitions: 2"), "{d}");
    assert!(d.contains("segment.bytes=4096"), "{d}");
    assert!(
        d.contains("Partition: 1\tLogStartOffset: 0\tLogEndOffset: 200"),
        "{d}"
    );
    let j = text(&env.ok(&["topic", "describe", "orders", "--json"], b""));
    assert!(j.starts_with("{\"topic\":\"orders\""), "{j}");
    assert!(j.contains("\"log_end_offset\":200"), "{j}");
    env.ok(
        &[
            "topic",
            "alter",
            "orders",
            "--config",
            "max.message.bytes=2048",
        ],
        b"",
    );
    assert!(
        text(&env.ok(&["topic", "describe", "orders"], b"")).contains("max.message.bytes=2048")
    );
    env.ok(&["topic", "delete", "orders"], b"");
    assert_eq!(text(&env.ok(&["topic", "list"], b"")), "");
    assert!(!exists(&env.data().join("orders-0")));
    env.fails(&["topic", "describe", "orders"]);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let env = Env::new();
    env.fails(&["no-such-command"]);
    env.fails(&["consume"]);
    env.fails(&["consume", "missing"]);
    let e = env.fails(&["topic", "create", "x", "--config", "segment.byte=1"]);
    assert!(e.contains("segment.byte"), "{e}");
    env.fails(&["topic", "create", "bad/name"]);
    env.fails(&["topic", "create", "x", "--partitions", "0"]);
    env.fails(&["consume", "x", "-f", "%q"]);
    env.fails(&["dump", "/nonexistent/00000000000000000000.log"]);
    env.fails(&["dump", "not-a-segment.txt"]);
    let out = env.run(&["--help"], b"");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn dump_reports_batches_and_damage() {
    let env = Env::new();
    // One line per run: one batch each, whatever the reader thread's timing.
    env.ok(&["produce", "d"], b"one\n");
    env.ok(&["produce", "d"], b"two\n");
    env.ok(&["produce", "d"], b"three\n");
    let seg = env.segment("d", 0);
    let out = text(&env.ok(&["dump", seg.to_str().unwrap_or_default(), "--deep"], b""));
    assert_eq!(out.matches("isvalid: true").count(), 3, "{out}");
    assert!(
        out.contains("| offset: 2 CreateTime: ") && out.contains("payload: three"),
        "{out}"
    );
    let idx = seg.with_extension("timeindex");
    let out = text(&env.ok(&["dump", idx.to_str().unwrap_or_default()], b""));
    assert!(out.contains("0 invalid"), "{out}");
    // Flip a byte inside the last batch's records.
    let mut bytes = std::fs::read(&seg).expect("read");
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&seg, &bytes).expect("write");
    let res = env.run(&["dump", seg.to_str().unwrap_or_default()], b"");
    assert_eq!(res.status.code(), Some(2));
    assert!(text(&res.stdout).contains("isvalid: false"));
    assert!(text(&res.stderr).contains("1 invalid"));
}

#[test]
fn produce_streams_each_line_durably_as_it_arrives() {
    let env = Env::new();
    let mut child = env
        .cmd()
        .args(["produce", "s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"first-line\n").expect("write");
    stdin.flush().expect("flush");
    // stdin stays open: the record must reach the segment anyway. `dump`
    // reads files without the partition lock, so it can look while produce runs.
    let seg = env.segment("s", 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if exists(&seg) {
            let out = env.run(&["dump", seg.to_str().unwrap_or_default(), "--deep"], b"");
            if text(&out.stdout).contains("payload: first-line") {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "line never appeared while stdin was open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stdin.write_all(b"second-line\n").expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&env.ok(&["consume", "s"], b"")),
        "first-line\nsecond-line\n"
    );
}

#[test]
fn a_locked_partition_is_a_clear_error() {
    let env = Env::new();
    env.ok(&["produce", "l"], b"x\n");
    let mut child = env
        .cmd()
        .args(["produce", "l"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"y\n").expect("write");
    stdin.flush().expect("flush");
    // Wait until the producer holds the partition (the record is in the log).
    let seg = env.segment("l", 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text(
        &env.run(&["dump", seg.to_str().unwrap_or_default(), "--deep"], b"")
            .stdout,
    )
    .contains("payload: y")
    {
        assert!(Instant::now() < deadline, "producer never wrote");
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = env.fails(&["consume", "l"]);
    assert!(err.contains("locked by another process"), "{err}");
    drop(stdin);
    assert!(child.wait().expect("wait").success());
}
