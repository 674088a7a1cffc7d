//! Interop of `logsync serve` with a real Kafka client: kcat 1.7 (librdkafka
//! 2.0.2, Debian's). Each test starts the server on its own temporary data
//! directory bound to `127.0.0.1:0`, drives it with kcat's producer, simple
//! consumer (`-C -p`, never `-G`: groups are not served yet) and metadata
//! listing, and stops it with SIGTERM, which must exit 0.
//!
//! Every wait is bounded: the server's start and stop, each kcat run, and the
//! retries of the `acks=0` test. kcat consumers always pass `-e` (or `-c`) so
//! they exit on their own. A failing test prints the server's stderr.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the server may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one kcat run may take before it is killed.
const KCAT_TIMEOUT: Duration = Duration::from_secs(60);
/// kcat's metadata (and ListOffsets) timeout in seconds, `-m`.
const KCAT_METADATA_TIMEOUT_S: &str = "15";
/// librdkafka's `message.timeout.ms` for producers: a delivery that fails
/// shows up as kcat's exit 1 with the reason, well before `KCAT_TIMEOUT`.
const PRODUCE_MESSAGE_TIMEOUT: &str = "message.timeout.ms=30000";

const BIN: &str = env!("CARGO_BIN_EXE_logsync");

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// A running `logsync serve` process.
struct Server {
    child: Child,
    addr: String,
    /// Lines of stdout, sent by `stdout_reader` as they are printed.
    stdout: Receiver<String>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr: tempfile::NamedTempFile,
}

impl Server {
    /// Spawns `logsync --data-dir DATA_DIR serve --listen 127.0.0.1:0` and
    /// waits (bounded) for its one stdout line `listening on 127.0.0.1:PORT`.
    fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    /// As [`Server::start`], with more `serve` arguments.
    fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        let stderr = tempfile::NamedTempFile::new().expect("stderr file");
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("LOGSYNC_DATA_DIR")
            .env("LOGSYNC_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr.reopen().expect("reopen stderr file")))
            .spawn()
            .expect("spawn logsync serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let stdout_reader = thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            // Ends at EOF, when the server exits (or on a read error).
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                if tx.send(text).is_err() {
                    break;
                }
                line.clear();
            }
        });
        // Built before waiting so that Drop kills the child if the wait fails.
        let mut server = Server {
            child,
            addr: String::new(),
            stdout: rx,
            stdout_reader: Some(stdout_reader),
            stderr,
        };
        server.addr = server.wait_listening();
        server
    }

    fn wait_listening(&mut self) -> String {
        let line = match self.stdout.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("logsync serve printed nothing on stdout within {START_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = wait_bounded(&mut self.child, STOP_TIMEOUT);
                panic!("logsync serve closed stdout before listening (exit {status:?})")
            }
        };
        let addr = line.strip_prefix("listening on ").unwrap_or_else(|| {
            panic!("first stdout line should be `listening on 127.0.0.1:PORT`, got {line:?}")
        });
        let port = addr
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("not a 127.0.0.1:PORT address: {line:?}"));
        assert_ne!(port, 0, "the OS-chosen port is printed, not 0: {line:?}");
        addr.to_owned()
    }

    /// `127.0.0.1:PORT`, for kcat's `-b`.
    fn addr(&self) -> &str {
        &self.addr
    }

    fn stderr_text(&self) -> String {
        std::fs::read(self.stderr.path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<cannot read stderr: {e}>"))
    }

    /// Sends SIGTERM and asserts the server exits 0 within `STOP_TIMEOUT`,
    /// having printed nothing on stdout but its `listening on` line.
    fn stop(self) {
        self.stop_with("TERM");
    }

    /// As [`Server::stop`], with `kill -SIGNAL` (`TERM` or `INT`).
    fn stop_with(mut self, signal: &str) {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(&pid)
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -{signal} {pid}: {kill}");
        let Some(status) = wait_bounded(&mut self.child, STOP_TIMEOUT) else {
            // Drop sends SIGKILL and prints stderr.
            panic!("logsync serve did not exit within {STOP_TIMEOUT:?} of SIG{signal}");
        };
        assert!(
            status.success(),
            "logsync serve should exit 0 on SIG{signal}, got {status}"
        );
        // The child has exited, so its stdout reaches EOF and the reader
        // thread hangs up; bounded all the same.
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut extra = Vec::new();
        loop {
            match self
                .stdout
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => extra.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("stdout still open {STOP_TIMEOUT:?} after logsync serve exited")
                }
            }
        }
        if let Some(reader) = self.stdout_reader.take() {
            reader.join().expect("stdout reader");
        }
        assert!(
            extra.is_empty(),
            "stdout should hold only the `listening on` line; also got {extra:?}"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Child::kill sends SIGKILL to this child's pid.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Every failure message of a test with a server ends up here.
        if thread::panicking() {
            eprintln!(
                "--- logsync serve stderr ---\n{}--- end of stderr ---",
                self.stderr_text()
            );
        }
    }
}

/// Waits for `child` to exit, at most `timeout`; `None` if it is still running.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `kcat ARGS` with `stdin`, killing it (SIGKILL, by pid) and failing if
/// it runs longer than `KCAT_TIMEOUT`. `-F /dev/null` keeps a user's kcat
/// config file out of the test. Standard streams go through unnamed temporary
/// files, so no pipe can fill up and block kcat.
/// Runs the `logsync` binary with `args` and `stdin` (through a file, so a
/// large input cannot deadlock a pipe).
fn cli_run(args: &[&str], stdin: &[u8]) -> Output {
    let mut input = tempfile::tempfile().expect("stdin");
    input.write_all(stdin).expect("write");
    input.seek(SeekFrom::Start(0)).expect("rewind");
    Command::new(BIN)
        .args(args)
        .env_remove("LOGSYNC_DATA_DIR")
        .stdin(Stdio::from(input))
        .output()
        .expect("run logsync")
}

/// [`cli_run`], which must exit 0; returns its standard output.
fn cli_ok(args: &[&str], stdin: &[u8]) -> String {
    let out = cli_run(args, stdin);
    assert!(
        out.status.success(),
        "logsync {args:?}: {}",
        lossy(&out.stderr)
    );
    lossy(&out.stdout)
}

fn kcat(args: &[&str], stdin: &[u8]) -> Output {
    let mut input = tempfile::tempfile().expect("stdin file");
    input.write_all(stdin).expect("write stdin file");
    input.seek(SeekFrom::Start(0)).expect("rewind stdin file");
    let mut out = tempfile::tempfile().expect("stdout file");
    let mut err = tempfile::tempfile().expect("stderr file");
    let mut child = Command::new("kcat")
        .args(["-F", "/dev/null"])
        .args(args)
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(out.try_clone().expect("clone stdout file")))
        .stderr(Stdio::from(err.try_clone().expect("clone stderr file")))
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run kcat ({e}): the interop tests need kcat 1.7 (apt-get install kcat)")
        });
    let status = wait_bounded(&mut child, KCAT_TIMEOUT);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "kcat {args:?} did not finish within {KCAT_TIMEOUT:?}; stdout:\n{}\nstderr:\n{}",
            lossy(&read_all(&mut out)),
            lossy(&read_all(&mut err))
        );
    };
    Output {
        status,
        stdout: read_all(&mut out),
        stderr: read_all(&mut err),
    }
}

fn read_all(file: &mut File) -> Vec<u8> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).expect("rewind output file");
    file.read_to_end(&mut bytes).expect("read output file");
    bytes
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs kcat and asserts exit 0, returning stdout.
fn kcat_ok(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = kcat(args, stdin);
    assert!(
        out.status.success(),
        "kcat {args:?} exited {}; stderr:\n{}",
        out.status,
        lossy(&out.stderr)
    );
    out.stdout
}

/// `kcat -P`: produces each line of `lines` to `topic` and asserts every
/// delivery succeeded (kcat exits 1 on a failed delivery report).
fn produce(server: &Server, topic: &str, extra: &[&str], lines: &[u8]) {
    let mut args = vec![
        "-P",
        "-b",
        server.addr(),
        "-t",
        topic,
        "-X",
        PRODUCE_MESSAGE_TIMEOUT,
    ];
    args.extend_from_slice(extra);
    kcat_ok(&args, lines);
}

/// `kcat -C -e`: the simple consumer on partition 0 of `topic`, exiting at
/// the end of the partition; returns stdout.
fn consume(server: &Server, topic: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = consume_args(server, topic);
    args.extend_from_slice(&["-p", "0", "-e"]);
    args.extend_from_slice(extra);
    kcat_ok(&args, b"")
}

fn consume_args<'a>(server: &'a Server, topic: &'a str) -> Vec<&'a str> {
    vec![
        "-C",
        "-b",
        server.addr(),
        "-t",
        topic,
        "-m",
        KCAT_METADATA_TIMEOUT_S,
    ]
}

/// A scratch directory holding the data directory `data`.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    (dir, data)
}

/// Runs the `logsync` CLI on `data_dir` (the server must not be running).
fn logsync(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("LOGSYNC_DATA_DIR")
        .env_remove("LOGSYNC_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run logsync");
    assert!(
        out.status.success(),
        "logsync {args:?} exited {}; stderr:\n{}",
        out.status,
        lossy(&out.stderr)
    );
    lossy(&out.stdout)
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("ms fit i64")
}

/// `n` pseudo-random alphanumeric bytes from a fixed seed (xorshift64), so
/// the data neither compresses nor changes between runs.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = usize::try_from(state % ALPHABET.len() as u64).expect("small index");
            ALPHABET[i]
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn metadata_lists_the_broker_and_an_auto_created_topic() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    produce(&server, "auto", &[], b"one\n");
    let listing = lossy(&kcat_ok(
        &["-L", "-b", server.addr(), "-m", KCAT_METADATA_TIMEOUT_S],
        b"",
    ));
    // The broker advertises the address it listens on, as clients connect
    // to the advertised address after bootstrapping.
    assert!(listing.contains(" 1 brokers:\n"), "{listing}");
    assert!(
        listing.contains(&format!(" at {}", server.addr())),
        "{listing}"
    );
    assert!(
        listing.contains("  topic \"auto\" with 1 partitions:\n"),
        "{listing}"
    );
    assert!(listing.contains("    partition 0, leader "), "{listing}");
    server.stop();
}

#[test]
fn keys_and_headers_round_trip() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    produce(&server, "t", &["-K", ":", "-H", "h1=v1"], b"k1:v1\nk2:v2\n");
    // Without -p: kcat consumes every partition the topic's metadata lists.
    let records = kcat_ok(
        &[
            "-C",
            "-b",
            server.addr(),
            "-t",
            "t",
            "-m",
            KCAT_METADATA_TIMEOUT_S,
            "-e",
            "-o",
            "beginning",
            "-f",
            "%k=%s %h\\n",
        ],
        b"",
    );
    assert_eq!(lossy(&records), "k1=v1 h1=v1\nk2=v2 h1=v1\n");
    let offsets = consume(&server, "t", &["-o", "beginning", "-f", "%o\\n"]);
    assert_eq!(lossy(&offsets), "0\n1\n");
    server.stop();
}

#[test]
fn consumers_start_at_the_beginning_the_end_an_offset_or_from_the_tail() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    produce(&server, "o", &[], b"r0\nr1\nr2\n");
    let from = |offset: &str| lossy(&consume(&server, "o", &["-o", offset, "-f", "%o %s\\n"]));
    assert_eq!(from("beginning"), "0 r0\n1 r1\n2 r2\n");
    assert_eq!(from("end"), "", "nothing new after the end");
    assert_eq!(from("1"), "1 r1\n2 r2\n");
    assert_eq!(from("-1"), "2 r2\n", "the last record");
    assert_eq!(from("-2"), "1 r1\n2 r2\n", "the last two records");
    server.stop();
}

#[test]
fn an_offset_past_the_end_resets_to_the_end() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    produce(&server, "o", &[], b"r0\nr1\nr2\n");
    // Fetch at 10 gets OFFSET_OUT_OF_RANGE; librdkafka's default
    // auto.offset.reset (largest) moves to the end, where -e exits.
    let out = consume(&server, "o", &["-o", "10", "-f", "%o %s\\n"]);
    assert_eq!(lossy(&out), "");
    // The log itself is untouched.
    let all = consume(&server, "o", &["-o", "beginning", "-f", "%o %s\\n"]);
    assert_eq!(lossy(&all), "0 r0\n1 r1\n2 r2\n");
    server.stop();
}

#[test]
fn a_start_timestamp_skips_records_produced_before_it() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    // kcat -P cannot set timestamps, so librdkafka stamps each record with
    // its produce() time (CreateTime); the split point lies between batches.
    produce(&server, "ts", &[], b"a0\na1\n");
    thread::sleep(Duration::from_millis(750));
    let split = now_ms();
    thread::sleep(Duration::from_millis(750));
    produce(&server, "ts", &[], b"b0\nb1\n");

    let stamped = lossy(&consume(
        &server,
        "ts",
        &["-o", "beginning", "-f", "%T %s\\n"],
    ));
    let stamps: Vec<(i64, &str)> = stamped
        .lines()
        .map(|l| {
            let (ts, value) = l.split_once(' ').expect("`%T %s` line");
            (ts.parse().expect("timestamp"), value)
        })
        .collect();
    let values: Vec<&str> = stamps.iter().map(|(_, v)| *v).collect();
    assert_eq!(values, ["a0", "a1", "b0", "b1"], "{stamped}");
    for (ts, value) in &stamps {
        let before = value.starts_with('a');
        assert_eq!(
            *ts < split,
            before,
            "producer timestamps are kept: {value} at {ts}, split at {split}"
        );
    }

    let after = consume(
        &server,
        "ts",
        &["-o", &format!("s@{split}"), "-f", "%o %s\\n"],
    );
    assert_eq!(lossy(&after), "2 b0\n3 b1\n");
    // A timestamp after every record: ListOffsets finds none, so the
    // consumer starts at the end and sees nothing.
    let later = stamps.iter().map(|(ts, _)| ts).max().expect("records") + 10_000;
    let none = consume(
        &server,
        "ts",
        &["-o", &format!("s@{later}"), "-f", "%o %s\\n"],
    );
    assert_eq!(lossy(&none), "");
    server.stop();
}

/// Produces compressible lines with `codec`, consumes them back byte for
/// byte, and checks that librdkafka really compressed them: it said nothing
/// about falling back to no compression, and (offline, after a clean stop)
/// the log holds the producer's compressed batches, as Kafka's default
/// `compression.type=producer` does.
fn round_trip_compressed(codec: &str) {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    let topic = format!("z-{codec}");
    let mut lines = Vec::new();
    for i in 0..200 {
        writeln!(lines, "{codec} line {i:04} {}", "abcd".repeat(40)).expect("write to vec");
    }
    let args = [
        "-P",
        "-b",
        server.addr(),
        "-t",
        &topic,
        "-X",
        PRODUCE_MESSAGE_TIMEOUT,
        "-z",
        codec,
        // librdkafka's batch debug lines say which codec each batch got.
        "-d",
        "msg",
    ];
    let produced = kcat(&args, &lines);
    let produce_stderr = lossy(&produced.stderr);
    assert!(
        produced.status.success(),
        "kcat {args:?} exited {}; stderr:\n{produce_stderr}",
        produced.status
    );
    let back = consume(&server, &topic, &["-o", "beginning", "-f", "%s\\n"]);
    assert!(
        back == lines,
        "{codec}: consumed bytes differ:\n{}",
        lossy(&back)
    );
    // librdkafka 2.0.2 compresses with gzip, snappy or lz4 only for a
    // broker whose ApiVersions range for Produce includes v0 (librdkafka
    // issue 4956), lz4 also only with its LZ4 feature, which needs
    // FindCoordinator v0 listed; otherwise it logs this and sends the batch
    // uncompressed. Kafka 4 lists Produce from v0, while rejecting v0..v2,
    // for this reason (KAFKA-18659). zstd needs Produce v7 and Fetch v10.
    let fallback: Vec<&str> = produce_stderr
        .lines()
        .filter(|l| l.contains("does not support compression type"))
        .collect();
    assert!(
        fallback.is_empty(),
        "librdkafka fell back to no compression for {codec}:\n{}",
        fallback.join("\n")
    );
    server.stop();

    let segment = data
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log");
    let dump = logsync(&data, &["dump", segment.to_str().expect("utf-8 temp path")]);
    let batches: Vec<&str> = dump
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    assert!(!batches.is_empty(), "{dump}");
    for batch in batches {
        assert!(
            batch.contains(&format!("compresscodec: {codec} ")),
            "stored batch is not {codec}: {batch}"
        );
    }
}

#[test]
fn gzip_batches_round_trip() {
    round_trip_compressed("gzip");
}

#[test]
fn snappy_batches_round_trip() {
    round_trip_compressed("snappy");
}

#[test]
fn lz4_batches_round_trip() {
    round_trip_compressed("lz4");
}

#[test]
fn zstd_batches_round_trip() {
    // librdkafka sends zstd only to a broker with Produce v7+ and Fetch v10+.
    round_trip_compressed("zstd");
}

#[test]
fn acks_all_produce_is_acknowledged_and_readable() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    produce(&server, "all", &["-X", "acks=all"], b"x0\nx1\nx2\n");
    let out = consume(&server, "all", &["-o", "beginning", "-f", "%o %s\\n"]);
    assert_eq!(lossy(&out), "0 x0\n1 x1\n2 x2\n");
    server.stop();
}

#[test]
fn acks_zero_produce_is_readable_soon_after() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    // acks=0: the server sends no response, and kcat exits once the
    // request is written, so the records may land a moment later.
    produce(&server, "none", &["-X", "acks=0"], b"y0\ny1\ny2\n");
    let expected = "0 y0\n1 y1\n2 y2\n";
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last;
    loop {
        // The topic is auto-created by the producer's Metadata request, so
        // it exists by now; a consume that finds fewer records retries.
        last = lossy(&consume(
            &server,
            "none",
            &["-o", "beginning", "-f", "%o %s\\n"],
        ));
        if last == expected || Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(last, expected, "acks=0 records not readable within 15 s");
    server.stop();
}

#[test]
fn records_survive_a_restart_on_a_new_port() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    let mut lines = String::new();
    let mut expected = String::new();
    for i in 0..1000 {
        lines.push_str(&format!("record-{i:04}\n"));
        expected.push_str(&format!("{i} record-{i:04}\n"));
    }
    produce(&server, "durable", &[], lines.as_bytes());
    let first_addr = server.addr().to_owned();
    server.stop();

    let server = Server::start(&data);
    // Port 0 again: usually another port, and the client must not care.
    let out = consume(&server, "durable", &["-o", "beginning", "-f", "%o %s\\n"]);
    assert!(
        lossy(&out) == expected,
        "after restart (was {first_addr}, now {}): got {} lines, first differing: {:?}",
        server.addr(),
        lossy(&out).lines().count(),
        lossy(&out)
            .lines()
            .zip(expected.lines())
            .find(|(got, want)| got != want)
    );
    // And the log goes on at offset 1000.
    produce(&server, "durable", &[], b"after-restart\n");
    let tail = consume(&server, "durable", &["-o", "-1", "-f", "%o %s\\n"]);
    assert_eq!(lossy(&tail), "1000 after-restart\n");
    server.stop();
}

#[test]
fn sigint_stops_the_server_cleanly_too() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    produce(&server, "int", &[], b"i0\ni1\n");
    server.stop_with("INT");
    let server = Server::start(&data);
    let out = consume(&server, "int", &["-o", "beginning", "-f", "%o %s\\n"]);
    assert_eq!(lossy(&out), "0 i0\n1 i1\n");
    server.stop();
}

#[test]
fn a_900_kb_value_round_trips() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    // Under the topic's max.message.bytes (1048588) and librdkafka's
    // message.max.bytes (1000000) with the batch overhead.
    let value = noise(900_000, 0x5eed);
    let mut line = value.clone();
    line.push(b'\n');
    produce(&server, "big", &["-X", "message.max.bytes=1000000"], &line);
    let out = consume(&server, "big", &["-o", "beginning", "-f", "%o %S\\n%s\\n"]);
    let mut expected = b"0 900000\n".to_vec();
    expected.extend_from_slice(&line);
    assert!(
        out == expected,
        "900 kB value differs: got {} bytes, starting {:?}",
        out.len(),
        lossy(out.get(..40).unwrap_or(&out))
    );
    server.stop();
}

#[test]
fn a_waiting_consumer_receives_a_record_produced_later() {
    let (_dir, data) = scratch();
    let server = Server::start(&data);
    produce(&server, "wait", &[], b"r0\n");
    // Start at offset 1, the log end: the consumer long-polls until the
    // next record arrives, whenever the produce below happens. -c 1 exits
    // after it (no -e: reaching the end must not end this consumer).
    let mut args: Vec<String> = consume_args(&server, "wait")
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.extend(["-p", "0", "-o", "1", "-c", "1", "-f", "%o %s\\n"].map(str::to_owned));
    let consumer = thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kcat_ok(&args, b"")
    });
    thread::sleep(Duration::from_secs(1));
    produce(&server, "wait", &[], b"r1\n");
    let out = consumer.join().expect("consumer thread");
    assert_eq!(lossy(&out), "1 r1\n");
    server.stop();
}

#[test]
fn a_topic_created_by_the_cli_serves_all_its_partitions() {
    let (_dir, data) = scratch();
    // The CLI and the server lock partitions: create first, then serve.
    logsync(&data, &["topic", "create", "multi", "--partitions", "3"]);
    let server = Server::start(&data);
    let listing = lossy(&kcat_ok(
        &[
            "-L",
            "-b",
            server.addr(),
            "-t",
            "multi",
            "-m",
            KCAT_METADATA_TIMEOUT_S,
        ],
        b"",
    ));
    assert!(
        listing.contains("  topic \"multi\" with 3 partitions:\n"),
        "{listing}"
    );
    for p in ["0", "1", "2"] {
        produce(&server, "multi", &["-p", p], format!("p{p}\n").as_bytes());
    }
    for p in ["0", "1", "2"] {
        let mut args = consume_args(&server, "multi");
        args.extend_from_slice(&["-p", p, "-e", "-o", "beginning", "-f", "%p %o %s\\n"]);
        assert_eq!(lossy(&kcat_ok(&args, b"")), format!("{p} 0 p{p}\n"));
    }
    // Without -p kcat reads all three partitions; their order is not fixed.
    let mut args = consume_args(&server, "multi");
    args.extend_from_slice(&["-e", "-o", "beginning", "-f", "%p %o %s\\n"]);
    let all = lossy(&kcat_ok(&args, b""));
    let mut lines: Vec<&str> = all.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["0 0 p0", "1 0 p1", "2 0 p2"]);
    server.stop();
}

/// The broker SIGKILLed while confluent-kafka produces with acks=all and the
/// default `flush.policy=every-batch`, then restarted on the same data dir:
/// every acknowledged record is consumed back exactly once (the client sends
/// nothing twice: no retries), and nothing unknown appears.
#[test]
fn sigkill_during_acks_all_produce_loses_no_acknowledged_record() {
    const COUNT: u32 = 400_000;
    let (_tmp, data) = scratch();
    let mut server = Server::start(&data);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/produce_acked.py");
    let acked_file = tempfile::NamedTempFile::new().expect("acks file");
    let mut producer = Command::new("python3")
        .args([script, server.addr(), "crash", &COUNT.to_string()])
        .stdout(Stdio::from(acked_file.reopen().expect("reopen")))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 produce_acked.py (pip install confluent-kafka)");
    // Kill once a good number of records have been acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acked = std::fs::read(acked_file.path()).map_or(0, |b| b.len());
        if acked > 200_000 {
            break;
        }
        if let Some(status) = producer.try_wait().expect("poll producer") {
            let mut err = String::new();
            if let Some(mut e) = producer.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the producer ended early ({status}): {err}");
        }
        assert!(Instant::now() < deadline, "too few acks within 60 s");
        thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL, by the pid we spawned.
    server.child.kill().expect("SIGKILL the broker");
    let _ = server.child.wait();
    let status = wait_bounded(&mut producer, Duration::from_secs(60));
    if status.is_none() {
        let _ = producer.kill();
        let _ = producer.wait();
    }
    let acked: Vec<String> = String::from_utf8(std::fs::read(acked_file.path()).expect("acks"))
        .expect("utf-8")
        .lines()
        .filter_map(|l| l.strip_prefix("ACK ").map(str::to_owned))
        .collect();
    assert!(acked.len() > 10_000, "{} acks", acked.len());
    assert!(
        acked.len() < COUNT as usize,
        "the kill landed after the end"
    );
    drop(server);

    let server = Server::start(&data);
    let out = consume(&server, "crash", &["-f", "%s\n"]);
    let text = String::from_utf8(out).expect("utf-8");
    let mut seen = std::collections::HashSet::new();
    for v in text.lines() {
        assert!(v.starts_with('v'), "unknown record {v:?}");
        assert!(seen.insert(v.to_owned()), "{v} consumed twice");
    }
    let missing: Vec<&String> = acked.iter().filter(|v| !seen.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    server.stop();
}

/// Resident set size of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmRSS")
}

fn connect(server: &Server) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Whether the server closed the connection (EOF or reset) within the read
/// timeout, after reading and dropping whatever it answered first.
fn closed_by_server(s: &mut std::net::TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false, // timed out: still open
        }
    }
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A Produce v3 request (acks=1) for one partition holding `batch`.
fn produce_v3(topic: &str, batch: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0i16.to_be_bytes()); // api key: Produce
    b.extend_from_slice(&3i16.to_be_bytes()); // version
    b.extend_from_slice(&77i32.to_be_bytes()); // correlation id
    b.extend_from_slice(&4i16.to_be_bytes());
    b.extend_from_slice(b"test"); // client id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
    b.extend_from_slice(&1i16.to_be_bytes()); // acks
    b.extend_from_slice(&10_000i32.to_be_bytes()); // timeout
    b.extend_from_slice(&1i32.to_be_bytes()); // one topic
    b.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    b.extend_from_slice(topic.as_bytes());
    b.extend_from_slice(&1i32.to_be_bytes()); // one partition
    b.extend_from_slice(&0i32.to_be_bytes()); // partition 0
    b.extend_from_slice(&(batch.len() as i32).to_be_bytes());
    b.extend_from_slice(batch);
    framed(&b)
}

/// Hostile and broken input: each bad connection is closed (or answered
/// with an error), the server's memory stays bounded, 1,000 idle
/// connections do not stop other clients, and the data is intact.
#[test]
fn bad_input_closes_that_connection_and_everything_else_goes_on() {
    use logsync_storage::batch::{BatchSpec, encode_batch};
    use logsync_storage::{Compression, Record, TimestampMs};

    let (_tmp, data) = scratch();
    let server = Server::start(&data);
    let pid = server.child.id();
    produce(&server, "ok", &[], b"before\n");

    // Every hostile frame of the fuzz corpus, on its own connection.
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../logsync-broker/fuzz-corpus");
    let mut hostile = 0;
    for entry in std::fs::read_dir(corpus).expect("corpus") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.starts_with("hostile-") {
            continue;
        }
        let frame = std::fs::read(&path).expect("frame");
        let mut s = connect(&server);
        s.write_all(&framed(&frame)).expect("send");
        if name == "hostile-api-versions-v5.bin" {
            // An unsupported ApiVersions version is answered (v0, error 35).
            let mut head = [0u8; 10];
            s.read_exact(&mut head).expect("an answer");
            assert_eq!(
                i16::from_be_bytes([head[8], head[9]]),
                35,
                "UNSUPPORTED_VERSION"
            );
            continue;
        }
        assert!(closed_by_server(&mut s), "{name}: connection left open");
        hostile += 1;
    }
    assert!(hostile >= 15);

    // Frame sizes: 2^31-1, negative, and a truncated frame.
    for prefix in [i32::MAX, -1, 200 << 20] {
        let mut s = connect(&server);
        s.write_all(&prefix.to_be_bytes()).expect("send");
        assert!(closed_by_server(&mut s), "size {prefix}");
    }
    let mut s = connect(&server);
    s.write_all(&100i32.to_be_bytes()).expect("send");
    s.write_all(&[0u8; 10]).expect("send");
    s.shutdown(std::net::Shutdown::Write).expect("half close");
    assert!(closed_by_server(&mut s), "truncated frame");

    // A decompression bomb: 512 MiB of zeros in a few KiB of zstd.
    let mut batch = Vec::new();
    let bomb = vec![0u8; 512 << 20];
    let spec = BatchSpec {
        compression: Compression::Zstd,
        ..BatchSpec::default()
    };
    encode_batch(
        &mut batch,
        &spec,
        &[Record::new(None, &bomb, TimestampMs(1))],
    )
    .expect("encode");
    drop(bomb);
    assert!(batch.len() < 1 << 20, "the bomb is small on the wire");
    let mut s = connect(&server);
    s.write_all(&produce_v3("ok", &batch)).expect("send");
    let mut size = [0u8; 4];
    s.read_exact(&mut size).expect("a response");
    let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut response).expect("response body");
    // correlation id, topics(1), name "ok", partitions(1), index 0, error code
    let at = 4 + 4 + 2 + 2 + 4 + 4;
    let code = i16::from_be_bytes([response[at], response[at + 1]]);
    assert_eq!(
        code, 2,
        "CORRUPT_MESSAGE for a batch over max.decompressed.bytes"
    );

    // 1,000 idle connections, held open.
    let idle: Vec<std::net::TcpStream> = (0..1_000).map(|_| connect(&server)).collect();
    thread::sleep(Duration::from_millis(500));
    let rss = rss_bytes(pid);
    assert!(rss < 256 << 20, "server RSS {rss} bytes");

    // Others keep working, and the data is as it was.
    produce(&server, "ok", &[], b"after\n");
    let got = consume(&server, "ok", &["-f", "%s\n"]);
    assert_eq!(lossy(&got), "before\nafter\n");
    drop(idle);
    server.stop();
}

/// A TCP proxy on loopback in front of the broker that loses the first
/// Produce response: it closes the client's connection instead of passing
/// the response on, after the broker has appended the batch.
struct LossyProxy {
    addr: String,
    dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LossyProxy {
    fn bind() -> (std::net::TcpListener, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        (listener, addr)
    }

    fn start(listener: std::net::TcpListener, addr: String, upstream: String) -> LossyProxy {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let dropped = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        listener.set_nonblocking(true).expect("nonblocking");
        let (d, st) = (Arc::clone(&dropped), Arc::clone(&stop));
        thread::spawn(move || {
            while !st.load(std::sync::atomic::Ordering::Acquire) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).expect("blocking");
                        let server = std::net::TcpStream::connect(&upstream).expect("upstream");
                        Self::pump(client, server, Arc::clone(&d));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        LossyProxy {
            addr,
            dropped,
            stop,
        }
    }

    fn read_frame(s: &mut std::net::TcpStream) -> Option<Vec<u8>> {
        let mut size = [0u8; 4];
        s.read_exact(&mut size).ok()?;
        let len = usize::try_from(i32::from_be_bytes(size)).ok()?;
        let mut frame = vec![0u8; len];
        s.read_exact(&mut frame).ok()?;
        let mut whole = size.to_vec();
        whole.extend_from_slice(&frame);
        Some(whole)
    }

    fn pump(
        client: std::net::TcpStream,
        server: std::net::TcpStream,
        dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        use std::sync::atomic::Ordering;
        let produce_ids = std::sync::Arc::new(Mutex::new(std::collections::HashSet::new()));
        let (mut c_in, mut c_out) = (client.try_clone().expect("clone"), client);
        let (mut s_in, mut s_out) = (server.try_clone().expect("clone"), server);
        let ids = std::sync::Arc::clone(&produce_ids);
        thread::spawn(move || {
            while let Some(frame) = Self::read_frame(&mut c_in) {
                if frame.get(4..6) == Some(&[0, 0]) {
                    let id = frame
                        .get(8..12)
                        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    ids.lock().expect("ids").insert(id);
                }
                if s_out.write_all(&frame).is_err() {
                    break;
                }
            }
            let _ = s_out.shutdown(std::net::Shutdown::Both);
        });
        thread::spawn(move || {
            while let Some(frame) = Self::read_frame(&mut s_in) {
                let id = frame
                    .get(4..8)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                let is_produce = produce_ids.lock().expect("ids").contains(&id);
                if is_produce && !dropped.swap(true, Ordering::AcqRel) {
                    // Lose it: the batch is in the log, the client never hears.
                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                    let _ = s_in.shutdown(std::net::Shutdown::Both);
                    return;
                }
                if c_out.write_all(&frame).is_err() {
                    break;
                }
            }
            let _ = c_out.shutdown(std::net::Shutdown::Both);
        });
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// An idempotent producer whose first Produce response is lost retries the
/// batch; the broker recognises the retry by its sequence numbers and
/// acknowledges it with the original offset: every record is stored once.
#[test]
fn an_idempotent_producer_retrying_after_a_lost_response_creates_no_duplicates() {
    const COUNT: usize = 2_000;
    let (_tmp, data) = scratch();
    let (listener, proxy_addr) = LossyProxy::bind();
    let server = Server::start_with(&data, &["--advertised-listener", &proxy_addr]);
    let proxy = LossyProxy::start(listener, proxy_addr, server.addr().to_owned());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/produce_idempotent.py"
    );
    let mut producer = Command::new("python3")
        .args([script, &proxy.addr, "idem", &COUNT.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 produce_idempotent.py (pip install confluent-kafka)");
    let status = wait_bounded(&mut producer, Duration::from_secs(90));
    let Some(status) = status else {
        let _ = producer.kill();
        let _ = producer.wait();
        panic!("the idempotent producer did not finish");
    };
    let mut err = String::new();
    if let Some(mut e) = producer.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "producer failed: {err}");
    assert!(
        proxy.dropped.load(std::sync::atomic::Ordering::Acquire),
        "the proxy lost a response"
    );
    let out = consume(&server, "idem", &["-f", "%s\n"]);
    let text = lossy(&out);
    let values: Vec<&str> = text.lines().collect();
    let unique: std::collections::HashSet<&str> = values.iter().copied().collect();
    assert_eq!(unique.len(), COUNT, "every record is there");
    assert_eq!(values.len(), COUNT, "and none twice");
    drop(proxy);
    server.stop();
}

/// Runs a Python test client, bounded in time; returns stdout, panics with
/// stderr when it fails.
fn python(script: &str, args: &[&str], timeout: Duration) -> String {
    let path = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut out = tempfile::tempfile().expect("stdout file");
    let mut err = tempfile::tempfile().expect("stderr file");
    let mut child = Command::new("python3")
        .arg(&path)
        .args(args)
        .stdout(Stdio::from(out.try_clone().expect("clone")))
        .stderr(Stdio::from(err.try_clone().expect("clone")))
        .spawn()
        .expect("run python3 (the interop tests need confluent-kafka and kafka-python)");
    let status = wait_bounded(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (stdout, stderr) = (read_all(&mut out), read_all(&mut err));
    assert!(
        status.is_some_and(|s| s.success()),
        "{script} {args:?} failed ({status:?}):\n{}",
        lossy(&stderr)
    );
    lossy(&stdout)
}

/// Two confluent-kafka consumers in one group share a two-partition topic,
/// commit as they go and stop halfway; after a broker restart the group
/// resumes from the committed offsets: every record once, none twice.
#[test]
fn a_consumer_group_resumes_from_committed_offsets_after_a_broker_restart() {
    let (_tmp, data) = scratch();
    let server = Server::start_with(&data, &["--num-partitions", "2"]);
    let lines: Vec<u8> = (0..200)
        .flat_map(|i| format!("key{i}:v{i}\n").into_bytes())
        .collect();
    produce(&server, "shared", &["-K", ":"], &lines);
    let first = python(
        "group_consume.py",
        &[server.addr(), "shared", "g1", "2", "100"],
        Duration::from_secs(90),
    );
    let first: Vec<(String, String)> = first
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(c, v)| (c.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(first.len(), 100, "the first run stops at 100");
    server.stop();

    let server = Server::start_with(&data, &["--num-partitions", "2"]);
    let second = python(
        "group_consume.py",
        &[server.addr(), "shared", "g1", "2", "100"],
        Duration::from_secs(90),
    );
    let mut seen = std::collections::HashSet::new();
    for v in first.iter().map(|(_, v)| v.as_str()).chain(
        second
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(_, v)| v)),
    ) {
        assert!(seen.insert(v.to_owned()), "{v} consumed twice");
    }
    assert_eq!(seen.len(), 200, "every record once across the restart");
    server.stop();
}

/// kafka-python's admin client creates a compacted topic; keyed records
/// are produced; the broker's cleaner compacts in the background; a consumer
/// then sees only the latest value of each key.
#[test]
fn kafka_python_creates_a_compacted_topic_and_reads_only_the_latest_values() {
    let (_tmp, data) = scratch();
    let server = Server::start_with(&data, &["--log-cleaner-backoff-ms", "200"]);
    let out = python(
        "compact_admin.py",
        &[server.addr(), "state"],
        Duration::from_secs(90),
    );
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    let mut want: Vec<String> = (990..1000).map(|i| format!("k{}=v{i}", i % 10)).collect();
    want.push("roll=r".to_owned());
    want.sort_unstable();
    assert_eq!(got, want);
    server.stop();
}

/// DeleteRecords through confluent-kafka's admin client moves the log start
/// offset: consumers from the beginning start there.
#[test]
fn delete_records_moves_the_log_start_offset() {
    let (_tmp, data) = scratch();
    let server = Server::start(&data);
    let lines: Vec<u8> = (0..10)
        .flat_map(|i| format!("r{i}\n").into_bytes())
        .collect();
    produce(&server, "dr", &[], &lines);
    let low = python(
        "delete_records.py",
        &[server.addr(), "dr", "4"],
        Duration::from_secs(60),
    );
    assert_eq!(low.trim(), "4");
    let got = consume(&server, "dr", &["-f", "%o %s\n"]);
    let first = lossy(&got).lines().next().map(str::to_owned);
    assert_eq!(first.as_deref(), Some("4 r4"));
    server.stop();
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

/// `/metrics` in Prometheus' text format counts requests per API with
/// latency histograms, bytes, connections, partition offsets and sizes and
/// consumer lag; `/health` answers ok; anything else is 404.
#[test]
fn metrics_and_health_endpoints() {
    let (_tmp, data) = scratch();
    let server = Server::start_with(&data, &["--metrics", "127.0.0.1:0"]);
    let line = server
        .stdout
        .recv_timeout(START_TIMEOUT)
        .expect("a metrics line");
    let metrics = line
        .strip_prefix("metrics on ")
        .unwrap_or_else(|| panic!("second line {line:?}"))
        .to_owned();
    produce(&server, "m", &[], b"a\nb\nc\n");
    consume(&server, "m", &[]);
    let health = http_get(&metrics, "/health");
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    let text = http_get(&metrics, "/metrics");
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    for needle in [
        "logsync_requests_total{api=\"Produce\"} ",
        "logsync_requests_total{api=\"Fetch\"} ",
        "logsync_request_duration_seconds_bucket{api=\"Produce\",le=\"+Inf\"} ",
        "logsync_request_duration_seconds_count{api=\"Metadata\"} ",
        "logsync_bytes_in_total ",
        "logsync_connections_open ",
        "logsync_partition_log_end_offset{topic=\"m\",partition=\"0\"} 3",
        "logsync_partition_size_bytes{topic=\"m\",partition=\"0\"} ",
        "logsync_cleaner_runs_total 0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(http_get(&metrics, "/nope").starts_with("HTTP/1.1 404"));
    server.stop();
}

/// Clients cannot write to or delete the internal offsets topic.
#[test]
fn the_internal_offsets_topic_is_protected() {
    let (_tmp, data) = scratch();
    let server = Server::start(&data);
    let out = kcat(
        &[
            "-P",
            "-b",
            server.addr(),
            "-t",
            "__consumer_offsets",
            "-X",
            "message.timeout.ms=10000",
        ],
        b"x\n",
    );
    let err = lossy(&out.stderr);
    assert!(
        !out.status.success() || err.contains("Delivery failed"),
        "producing to __consumer_offsets must fail: {err}"
    );
    server.stop();
}

/// `serve --config FILE`: Kafka's key names in TOML set broker settings and
/// topic defaults; an unknown key stops the server with an error naming it.
#[test]
fn a_toml_config_file_sets_broker_settings_and_rejects_unknown_keys() {
    let (tmp, data) = scratch();
    let file = tmp.path().join("logsync.toml");
    std::fs::write(
        &file,
        "num.partitions = 3\nlog.retention.ms = 3600000\n\"log.cleanup.policy\" = \"delete\"\n",
    )
    .expect("write config");
    let server = Server::start_with(&data, &["--config", file.to_str().expect("utf-8")]);
    produce(&server, "auto", &[], b"x\n");
    let md = lossy(&kcat_ok(&["-L", "-b", server.addr(), "-t", "auto"], b""));
    assert!(md.contains("with 3 partitions"), "{md}");
    server.stop();
    let described = logsync(&data, &["topic", "describe", "auto"]);
    assert!(described.contains("retention.ms=3600000"), "{described}");

    std::fs::write(&file, "log.retention.hours = 5\n").expect("write config");
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .output()
        .expect("run serve");
    assert_eq!(out.status.code(), Some(2));
    let err = lossy(&out.stderr);
    assert!(err.contains("log.retention.hours"), "{err}");
}

/// `logsync produce/consume --broker` talk Kafka protocol to a running
/// server: what one writes, kcat reads, and the other way round.
#[test]
fn the_cli_produces_and_consumes_through_a_broker() {
    let (_tmp, data) = scratch();
    let server = Server::start_with(&data, &["--num-partitions", "2"]);
    let cli = cli_run;
    let out = cli(
        &["produce", "viacli", "--broker", server.addr(), "-K", ":"],
        b"a:1\nb:2\nc:3\nd:4\n",
    );
    assert!(out.status.success(), "{}", lossy(&out.stderr));
    let mut via_kcat: Vec<String> = ["0", "1"]
        .iter()
        .flat_map(|p| {
            let got = consume_partition(&server, "viacli", p);
            got.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    via_kcat.sort();
    assert_eq!(via_kcat, ["a=1", "b=2", "c=3", "d=4"]);
    produce(&server, "fromkcat", &["-K", ":"], b"x:9\ny:8\n");
    let out = cli(
        &[
            "consume",
            "fromkcat",
            "--broker",
            server.addr(),
            "-f",
            "%o %k=%s\n",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", lossy(&out.stderr));
    assert_eq!(lossy(&out.stdout), "0 x=9\n1 y=8\n");
    let out = cli(&["consume", "missing", "--broker", server.addr()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(lossy(&out.stderr).contains("UnknownTopicOrPartition"));
    server.stop();
}

fn consume_partition(server: &Server, topic: &str, partition: &str) -> String {
    let mut args = consume_args(server, topic);
    args.extend_from_slice(&["-p", partition, "-e", "-f", "%k=%s\n"]);
    lossy(&kcat_ok(&args, b""))
}

/// `logsync topic --broker`: create (with configs), list, describe, alter and
/// delete through the Kafka protocol.
#[test]
fn topic_commands_work_through_a_broker() {
    let (_tmp, data) = scratch();
    let server = Server::start(&data);
    let run = |args: &[&str]| cli_run(args, b"");
    let addr = server.addr().to_owned();
    let ok = |args: &[&str]| cli_ok(args, b"");
    ok(&[
        "topic",
        "--broker",
        &addr,
        "create",
        "t2",
        "-p",
        "2",
        "--config",
        "cleanup.policy=compact",
    ]);
    assert!(ok(&["topic", "--broker", &addr, "list"]).contains("t2\t2 partition(s)"));
    produce(&server, "t2", &["-K", ":", "-p", "1"], b"k:v\n");
    let d = ok(&["topic", "--broker", &addr, "describe", "t2"]);
    assert!(
        d.contains("Partition: 1\tLogStartOffset: 0\tLogEndOffset: 1"),
        "{d}"
    );
    assert!(d.contains("Config: cleanup.policy=compact\n"), "{d}");
    ok(&[
        "topic",
        "--broker",
        &addr,
        "alter",
        "t2",
        "-c",
        "retention.ms=60000",
        "-c",
        "compaction.strategy=timestamp",
    ]);
    let d = ok(&["topic", "--broker", &addr, "describe", "t2"]);
    assert!(
        d.contains(
            "Config: cleanup.policy=compact compaction.strategy=timestamp retention.ms=60000\n"
        ),
        "{d}"
    );
    let j = ok(&["topic", "--broker", &addr, "describe", "t2", "--json"]);
    assert!(j.contains("\"retention.ms\":\"60000\""), "{j}");
    assert!(j.contains("\"segment.bytes\":\"1073741824\""), "{j}");
    let bad = run(&[
        "topic",
        "--broker",
        &addr,
        "alter",
        "t2",
        "-c",
        "retention.ms=soon",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        lossy(&bad.stderr).contains("InvalidConfig"),
        "{}",
        lossy(&bad.stderr)
    );
    let d = ok(&["topic", "--broker", &addr, "describe", "t2"]);
    assert!(
        d.contains("retention.ms=60000"),
        "a refused alter changes nothing: {d}"
    );
    let dup = run(&["topic", "--broker", &addr, "create", "t2"]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(
        lossy(&dup.stderr).contains("TopicAlreadyExists"),
        "{}",
        lossy(&dup.stderr)
    );
    ok(&["topic", "--broker", &addr, "delete", "t2"]);
    assert!(!ok(&["topic", "--broker", &addr, "list"]).contains("t2"));
    server.stop();
}

/// `logsync compact --broker` and `topic retention --broker`: Kafka's
/// protocol has no request for either, so the CLI finds the server's admin
/// endpoint through DescribeConfigs of the broker and posts there; the topic
/// then holds one record per key. Without an admin endpoint the command says
/// why it cannot.
#[test]
fn compact_and_retention_through_a_broker_use_its_admin_endpoint() {
    let (_tmp, data) = scratch();
    // The server's own maintenance must not get there first.
    let server = Server::start_with(
        &data,
        &[
            "--metrics",
            "127.0.0.1:0",
            "--log-cleaner-backoff-ms",
            "3600000",
        ],
    );
    let line = server
        .stdout
        .recv_timeout(START_TIMEOUT)
        .expect("a metrics line");
    let admin = line
        .strip_prefix("metrics on ")
        .expect("metrics line")
        .to_owned();
    let addr = server.addr().to_owned();
    let (run, ok) = (cli_run, cli_ok);
    ok(
        &[
            "topic",
            "create",
            "st",
            "-c",
            "cleanup.policy=compact",
            "--broker",
            &addr,
        ],
        b"",
    );
    let mut lines = Vec::new();
    for round in 0..20 {
        for key in ["a", "b", "c"] {
            lines.extend_from_slice(format!("{key}:{round}\n").as_bytes());
        }
    }
    ok(&["produce", "st", "-K", ":", "--broker", &addr], &lines);
    let report = ok(&["compact", "st", "--broker", &addr, "--json"], b"");
    assert!(
        report.contains("\"records_before\":60,\"records_after\":3"),
        "{report}"
    );
    let text = ok(&["compact", "st", "--admin", &admin], b"");
    assert!(text.starts_with("compacted st: "), "{text}");
    let got = ok(&["consume", "st", "--broker", &addr, "-K", ":"], b"");
    assert_eq!(got, "a:19\nb:19\nc:19\n");

    // Retention now, through the same endpoint: every closed segment of a
    // topic whose records are older than retention.ms goes.
    ok(
        &[
            "topic",
            "create",
            "old",
            "-c",
            "segment.bytes=1024",
            "-c",
            "retention.ms=1",
            "--broker",
            &addr,
        ],
        b"",
    );
    for _ in 0..4 {
        ok(&["produce", "old", "--broker", &addr], &[b'x'; 600]);
    }
    std::thread::sleep(Duration::from_millis(20));
    let r = ok(&["topic", "retention", "old", "--broker", &addr], b"");
    assert!(r.starts_with("partition 0: deleted 3 segment(s), "), "{r}");
    assert!(r.trim_end().ends_with("log start offset 3"), "{r}");

    let plain = run(&["compact", "nope", "--broker", &addr], b"");
    assert_eq!(plain.status.code(), Some(2));
    assert!(
        lossy(&plain.stderr).contains("no such topic"),
        "{}",
        lossy(&plain.stderr)
    );
    server.stop();

    let server = Server::start(&data);
    let addr = server.addr().to_owned();
    let out = run(&["compact", "st", "--broker", &addr], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = lossy(&out.stderr);
    assert!(
        err.contains("no admin endpoint") && err.lines().count() == 1,
        "{err}"
    );
    server.stop();
}

/// `logsync ingest --broker`: the pipeline produces to a running server; an
/// HDFS log with two bad lines into a topic compacted by event time leaves,
/// after `compact --broker`, one record per block, and the bad lines in
/// `<topic>.malformed` with their line number and reason; `stats --broker`
/// reads the statistics back from the topics.
#[test]
fn ingest_through_a_broker_keys_records_and_keeps_malformed_lines() {
    let (tmp, data) = scratch();
    let server = Server::start_with(&data, &["--metrics", "127.0.0.1:0"]);
    let metrics = server
        .stdout
        .recv_timeout(START_TIMEOUT)
        .expect("a metrics line");
    assert!(metrics.starts_with("metrics on "), "{metrics}");
    let addr = server.addr().to_owned();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/loghub/HDFS_2k.log");
    let mut log = std::fs::read(&sample).expect("the HDFS sample");
    log.extend_from_slice(b"not an hdfs line\r\n081399 999999 1 INFO x: y\r\n");
    let file = tmp.path().join("hdfs.log");
    std::fs::write(&file, &log).expect("write the log");
    let file = file.to_str().expect("utf-8 path");
    cli_ok(
        &[
            "topic",
            "create",
            "blocks",
            "-c",
            "cleanup.policy=compact",
            "-c",
            "compaction.strategy=timestamp",
            "--broker",
            &addr,
        ],
        b"",
    );
    let out = cli_ok(
        &[
            "ingest", file, "--format", "hdfs", "--topic", "blocks", "--broker", &addr,
        ],
        b"",
    );
    assert!(
        out.contains("appended         2000 records to blocks"),
        "{out}"
    );
    assert!(
        out.contains("kept aside       2 records in blocks.malformed"),
        "{out}"
    );
    let stats = cli_ok(&["stats", "blocks", "--broker", &addr, "--json"], b"");
    assert!(
        stats.starts_with("{\"lines_read\":2002,\"parsed\":2000,\"malformed\":2,"),
        "{stats}"
    );
    cli_ok(&["compact", "blocks", "--broker", &addr], b"");
    let keys = cli_ok(&["consume", "blocks", "--broker", &addr, "-f", "%k\n"], b"");
    let distinct: std::collections::BTreeSet<&str> = keys.lines().collect();
    assert_eq!(distinct.len(), 1994);
    assert_eq!(
        keys.lines().count(),
        1994,
        "one record per block after compaction"
    );
    let aside = cli_ok(
        &[
            "consume",
            "blocks.malformed",
            "--broker",
            &addr,
            "-f",
            "%h|%s\n",
        ],
        b"",
    );
    let lines: Vec<&str> = aside.lines().collect();
    assert_eq!(lines.len(), 2, "{aside}");
    assert!(
        lines[0].starts_with("line=2001,reason=") && lines[0].ends_with("|not an hdfs line"),
        "{aside}"
    );
    assert!(lines[1].starts_with("line=2002,"), "{aside}");
    server.stop();
}
