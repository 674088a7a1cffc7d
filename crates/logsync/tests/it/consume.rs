//! `logsync consume`: partition order and selection, `--since` between two
//! writes, `--follow`, and a closed output pipe.

use std::io::Read;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::{Env, text, wait_until};

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
}

#[test]
fn partitions_print_in_order_and_one_can_be_chosen() {
    let env = Env::new();
    env.ok(&["topic", "create", "two", "-p", "2"], b"");
    env.ok(&["produce", "two", "--partition", "1"], b"x1\nx2\n");
    env.ok(&["produce", "two", "--partition", "0"], b"y1\n");
    assert_eq!(text(&env.ok(&["consume", "two"], b"")), "y1\nx1\nx2\n");
    assert_eq!(
        text(&env.ok(&["consume", "two", "--partition", "1"], b"")),
        "x1\nx2\n"
    );
    // --count is over all partitions together.
    assert_eq!(
        text(&env.ok(&["consume", "two", "--count", "2"], b"")),
        "y1\nx1\n"
    );
    assert_eq!(text(&env.ok(&["consume", "two", "--count", "0"], b"")), "");
    let err = env.fails(&["consume", "two", "--partition", "2"]);
    assert!(err.contains("no partition 2"), "{err}");
}

#[test]
fn since_a_time_between_two_writes_starts_at_the_second() {
    let env = Env::new();
    env.ok(&["produce", "t"], b"old\n");
    std::thread::sleep(Duration::from_millis(15));
    let between = now_ms();
    std::thread::sleep(Duration::from_millis(15));
    env.ok(&["produce", "t"], b"new\n");
    let since = between.to_string();
    assert_eq!(
        text(&env.ok(&["consume", "t", "--since", &since], b"")),
        "new\n"
    );
    let later = (now_ms() + 60_000).to_string();
    assert_eq!(text(&env.ok(&["consume", "t", "--since", &later], b"")), "");
    assert_eq!(
        text(&env.ok(&["consume", "t", "--since", "1970-01-01T00:00:00Z"], b"")),
        "old\nnew\n"
    );
}

#[test]
fn from_beginning_and_offset_do_not_go_together() {
    let env = Env::new();
    env.ok(&["produce", "t"], b"a\n");
    assert_eq!(
        text(&env.ok(&["consume", "t", "--from-beginning"], b"")),
        "a\n"
    );
    env.fails(&["consume", "t", "--from-beginning", "--offset", "0"]);
    env.fails(&["consume", "t", "--offset", "0", "--since", "0"]);
}

/// Reads the child's stdout on a thread, handing over each chunk.
fn stdout_chunks(child: &mut std::process::Child) -> mpsc::Receiver<Vec<u8>> {
    let mut out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn follow_prints_what_is_there_and_keeps_waiting() {
    let env = Env::new();
    env.ok(&["produce", "f"], b"one\ntwo\n");
    let mut child = env
        .cmd()
        .args(["consume", "f", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let rx = stdout_chunks(&mut child);
    let mut seen = Vec::new();
    while seen != b"one\ntwo\n" {
        let chunk = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("records within 10 s");
        seen.extend_from_slice(&chunk);
        assert!(seen.len() <= 8, "{}", text(&seen));
    }
    // Still polling a while later.
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().expect("try_wait").is_none());
    child.kill().expect("kill");
    child.wait().expect("wait");
}

#[test]
fn follow_with_count_stops_after_that_many() {
    let env = Env::new();
    env.ok(&["produce", "f"], b"1\n2\n3\n");
    let mut child = env
        .cmd()
        .args(["consume", "f", "--follow", "--count", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let rx = stdout_chunks(&mut child);
    let mut status = None;
    wait_until(10, "consume --follow --count 2 to exit", || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    assert!(status.is_some_and(|s| s.success()));
    let out: Vec<u8> = rx.iter().flatten().collect();
    assert_eq!(text(&out), "1\n2\n");
}

#[test]
fn a_closed_pipe_ends_consume_quietly() {
    let env = Env::new();
    let input: String = (0..30_000).map(|i| format!("line-{i}\n")).collect();
    env.ok(&["produce", "big"], input.as_bytes());
    let mut child = env
        .cmd()
        .args(["consume", "big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    out.read_exact(&mut first).expect("some output");
    assert_eq!(&first, b"line-0\nline-1\nli");
    // As `| head` does: stop reading and close the pipe.
    drop(out);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(err, "");
}
