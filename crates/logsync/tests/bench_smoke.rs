//! `logsync bench storage` end to end at a tiny scale: every benchmark runs,
//! the table is printed, the files it wrote are gone afterwards, and bad
//! arguments exit 2 with one line on stderr.

use std::path::Path;
use std::process::{Command, Output};

fn logsync(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logsync"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("LOGSYNC_DATA_DIR")
        .env_remove("LOGSYNC_LOG")
        .output()
        .expect("run logsync")
}

#[test]
fn bench_storage_runs_every_benchmark_and_cleans_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let out = logsync(&data_dir, &["bench", "storage", "--scale", "0.001"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for needle in [
        "cpus:",
        "kernel:",
        "date:",
        "| benchmark",
        "| ---",
        "append-batch, bytes written",
        "append-single",
        "group-commit, 4 threads",
        "sequential-read",
        "random-read p50 via Log::records",
        "random-read p99 via Log::read",
        "open-clean",
        "open-crash",
        "open-full-recovery",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    let table_rows = stdout.lines().filter(|l| l.starts_with("| ")).count();
    assert!(table_rows >= 14, "{table_rows} table lines in:\n{stdout}");
    assert!(
        !data_dir.exists(),
        "the benchmark left files behind in {}",
        data_dir.display()
    );
}

#[test]
fn bench_storage_only_runs_the_named_benchmark_in_the_given_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mine");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("keep.txt"), b"not the benchmark's").expect("write");
    let dir_arg = dir.to_str().expect("utf-8 path");
    let out = logsync(
        tmp.path(),
        &[
            "bench",
            "storage",
            "--scale",
            "0.001",
            "--only",
            "append-single",
            "--dir",
            dir_arg,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("append-single"), "{stdout}");
    assert!(!stdout.contains("sequential-read"), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("keep.txt")],
        "a user's --dir keeps its own files and only those"
    );
}

#[test]
fn bench_storage_refuses_bad_arguments_with_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (args, needle) in [
        (
            &["bench", "storage", "--only", "no-such-bench"][..],
            "matches no benchmark",
        ),
        (&["bench", "storage", "--scale", "0"][..], "--scale"),
        (&["bench", "storage", "--scale", "NaN"][..], "--scale"),
    ] {
        let out = logsync(tmp.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}
