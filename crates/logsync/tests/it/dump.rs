//! `logsync dump`: index files checked against their segment, preallocated
//! zero entries, wrong entries, torn and garbage tails of a `.log`.

use std::path::PathBuf;

use crate::util::{Env, arg, files, text};

/// A topic with small segments and dense indexes, so that there are several
/// segments, each with index entries.
fn many_segments(env: &Env) -> PathBuf {
    env.ok(
        &[
            "topic",
            "create",
            "seg",
            "-c",
            "segment.bytes=4096",
            "-c",
            "index.interval.bytes=200",
            "-c",
            "max.message.bytes=1024",
        ],
        b"",
    );
    let input: String = (0..400)
        .map(|i| format!("record-{i:04}-{}\n", "z".repeat(40)))
        .collect();
    env.ok(&["produce", "seg"], input.as_bytes());
    env.data().join("seg-0")
}

#[test]
fn every_index_of_a_topic_checks_out_against_its_log() {
    let env = Env::new();
    let dir = many_segments(&env);
    let logs = files(&dir, "log");
    assert!(logs.len() >= 3, "{logs:?}");
    let (mut offsets, mut times) = (0, 0);
    for ext in ["index", "timeindex"] {
        for f in files(&dir, ext) {
            let out = text(&env.ok(&["dump", arg(&f)], b""));
            assert!(out.contains(" 0 invalid, checked against the log"), "{out}");
            offsets += out.matches("position: ").count();
            times += out.matches("timestamp: ").count();
        }
    }
    assert!(
        offsets > logs.len() && times >= logs.len(),
        "{offsets} {times}"
    );
    let records: usize = logs
        .iter()
        .map(|l| {
            let out = text(&env.ok(&["dump", arg(l), "--deep"], b""));
            out.matches("| offset: ").count()
        })
        .sum();
    assert_eq!(records, 400);
}

#[test]
fn preallocated_zero_entries_are_counted_not_errors() {
    let env = Env::new();
    let dir = many_segments(&env);
    for (ext, size) in [("index", 8), ("timeindex", 12)] {
        let f = files(&dir, ext).into_iter().next().expect("an index");
        let mut bytes = std::fs::read(&f).expect("read");
        let real = bytes.len() / size;
        bytes.extend(std::iter::repeat_n(0u8, 10 * size));
        std::fs::write(&f, &bytes).expect("write");
        let out = text(&env.ok(&["dump", arg(&f)], b""));
        assert!(out.contains("10 trailing zero entries"), "{out}");
        assert!(out.contains(&format!("{real} entries, 0 invalid")), "{out}");
    }
}

#[test]
fn a_wrong_index_entry_is_a_mismatch() {
    let env = Env::new();
    let dir = many_segments(&env);
    let f = files(&dir, "index").into_iter().next().expect("an index");
    let mut bytes = std::fs::read(&f).expect("read");
    assert!(bytes.len() >= 8, "the first segment has index entries");
    // The position of the first entry, one byte off.
    bytes[7] ^= 1;
    std::fs::write(&f, &bytes).expect("write");
    let out = env.run(&["dump", arg(&f)], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("mismatch: no batch starts at that position"));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: 1 invalid index entry in ") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn a_torn_tail_is_reported_at_its_position() {
    let env = Env::new();
    // One line: one batch, whatever the timing of the reader thread.
    env.ok(&["produce", "t"], b"ab\n");
    let seg = env.segment("t", 0);
    let mut bytes = std::fs::read(&seg).expect("read");
    let end = bytes.len();
    // The start of a copy of the batch: a write cut short.
    let head = bytes[..40].to_vec();
    bytes.extend_from_slice(&head);
    std::fs::write(&seg, &bytes).expect("write");
    let out = env.run(&["dump", arg(&seg)], b"");
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("isvalid: true").count(), 1, "{stdout}");
    assert!(
        stdout.contains(&format!("position: {end} error: torn tail")),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains(&format!("(first at position {end})")));
}

#[test]
fn a_bad_crc_is_reported_and_the_walk_goes_on() {
    let env = Env::new();
    env.ok(&["produce", "t"], b"first\n");
    env.ok(&["produce", "t"], b"second\n");
    let seg = env.segment("t", 0);
    let mut bytes = std::fs::read(&seg).expect("read");
    // A byte of the first batch's value.
    let at = bytes
        .windows(5)
        .position(|w| w == b"first")
        .expect("value in file");
    bytes[at] = b'F';
    std::fs::write(&seg, &bytes).expect("write");
    let out = env.run(&["dump", arg(&seg), "--deep"], b"");
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("isvalid: false") && stdout.contains("crc mismatch"),
        "{stdout}"
    );
    // The damaged record is still shown, and the next batch is walked.
    assert!(
        stdout.contains("payload: First") && stdout.contains("payload: second"),
        "{stdout}"
    );
    assert!(text(&out.stderr).starts_with("error: 1 invalid batch in "));
}

#[test]
fn only_segment_and_index_files_are_dumped() {
    let env = Env::new();
    let err = env.fails(&["dump", "notes.txt"]);
    assert!(
        err.contains("expected a .log, .index or .timeindex file"),
        "{err}"
    );
    let err = env.fails(&["dump", "renamed.index"]);
    assert!(err.contains("base offset"), "{err}");
}
