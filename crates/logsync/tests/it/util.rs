//! Running the binary on a temporary data directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch data directory and the binary to run on it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_logsync"));
        c.arg("--data-dir")
            .arg(self.data())
            .env_remove("LOGSYNC_DATA_DIR");
        c
    }

    /// Runs with `args` and `stdin`, returning the output.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        run_with_stdin(c, stdin)
    }

    /// Runs and asserts exit 0, returning stdout.
    pub fn ok(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "logsync {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs and asserts exit 2 with exactly one `error: ` line on stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, b"");
        assert_eq!(out.status.code(), Some(2), "logsync {args:?} should exit 2");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
        assert!(err.starts_with("error: "), "{err:?}");
        err
    }

    pub fn segment(&self, topic: &str, partition: u32) -> PathBuf {
        self.data()
            .join(format!("{topic}-{partition}"))
            .join("00000000000000000000.log")
    }
}

/// Runs `cmd` with `stdin` fed to it, returning the output.
pub fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logsync");
    // A command that fails early stops reading: that is its answer, not
    // the test's failure.
    if let Err(e) = child.stdin.take().expect("stdin").write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("wait")
}

/// The path as a `&str` for an argument list (temp paths are UTF-8).
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The files of a partition directory with the given extension, sorted.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Polls `f` every 20 ms until it returns true; panics after `secs`.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
