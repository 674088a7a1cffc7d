//! Replays the saved corpus of the `record_batch` fuzz target
//! (`fuzz/corpus/record_batch/`, seeds and what libFuzzer found) through
//! the target's own body, so a stable `cargo test` catches a regression on
//! any input the fuzzer ever kept. The `seed-*` files are batches written by
//! real clients (kcat, every codec): they must pass the full check.

use std::fs;
use std::path::PathBuf;

use logsync_storage::batch::{fuzz_one_batch_input, validate};

#[test]
fn every_saved_record_batch_input_replays_without_a_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/record_batch");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    paths.sort();
    let mut seeds = 0;
    for path in &paths {
        let data = fs::read(path).expect("readable corpus file");
        fuzz_one_batch_input(&data);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("seed-") {
            validate(&data, 1 << 20).unwrap_or_else(|k| panic!("{name}: {k}"));
            seeds += 1;
        }
    }
    assert!(seeds >= 10, "{seeds} seed batches in {}", dir.display());
    assert!(
        paths.len() > seeds,
        "the corpus holds what the fuzzer found too"
    );
}
