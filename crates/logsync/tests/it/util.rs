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
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn logsync");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        child.wait_with_output().expect("wait")
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

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
